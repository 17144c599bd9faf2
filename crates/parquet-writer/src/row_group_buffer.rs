//! The rows of the row group being filled, column by column.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::column_buffer::ColumnBuffer;
use crate::table_schema::TableSchema;

/// Columnar rows not yet encoded to Parquet.
///
/// Guarantees: every column holds exactly [`RowGroupBuffer::row_count`] rows between calls;
/// [`RowGroupBuffer::take_batch`] returns them all and leaves the buffer empty.
#[derive(Debug)]
pub(crate) struct RowGroupBuffer {
    schema: SchemaRef,
    columns: Vec<ColumnBuffer>,
    rows: usize,
}

impl RowGroupBuffer {
    pub(crate) fn new(schema: &TableSchema) -> Self {
        let arrow = schema.arrow_schema();
        let columns = schema
            .columns()
            .iter()
            .zip(arrow.fields())
            .map(|(c, field)| ColumnBuffer::new(&c.hive_type, field.data_type()))
            .collect();
        Self {
            schema: arrow,
            columns,
            rows: 0,
        }
    }

    pub(crate) fn row_count(&self) -> usize {
        self.rows
    }

    /// The columns, for the converter to append one value to each.
    pub(crate) fn columns_mut(&mut self) -> &mut [ColumnBuffer] {
        &mut self.columns
    }

    /// Records that every column received one more row.
    pub(crate) fn row_appended(&mut self) {
        self.rows += 1;
        debug_assert!(
            self.columns.iter().all(|c| c.len() == self.rows),
            "a column missed a value"
        );
    }

    /// Drops everything appended after the first `rows` rows (a failed record's partial row).
    pub(crate) fn truncate(&mut self, rows: usize) {
        for c in &mut self.columns {
            c.truncate(rows);
        }
        self.rows = rows;
    }

    /// Bytes of memory held by the buffered rows.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.columns.iter().map(ColumnBuffer::allocated_bytes).sum()
    }

    /// Moves the buffered rows out as one record batch.
    pub(crate) fn take_batch(&mut self) -> RecordBatch {
        let arrays = self.columns.iter_mut().map(ColumnBuffer::finish).collect();
        let rows = std::mem::take(&mut self.rows);
        RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .expect("buffers always match the schema they were built from")
    }
}
