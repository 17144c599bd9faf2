//! Growable columnar buffers, one per column (and nested child), that can be cut back to a
//! row count — the mechanism that keeps a failed record from leaving half a row behind.
//!
//! Hand-written rather than arrow's `ArrayBuilder`s because those cannot be truncated: a record
//! that fails on its fifth column would leave values in the first four. These buffers are plain
//! `Vec`s (and arrow-buffer's truncatable null/bit builders) turned into Arrow arrays without
//! copying.

use std::sync::Arc;

use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMicrosecondType,
};
use arrow_array::{
    ArrayRef, ArrowPrimitiveType, BinaryArray, BooleanArray, ListArray, MapArray, PrimitiveArray,
    StringArray, StructArray,
};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, FieldRef, Fields};

use crate::hive_type::HiveType;

/// The values of one column, by physical kind.
#[derive(Debug)]
pub(crate) enum ColumnValues {
    Boolean(BooleanBufferBuilder),
    Int8(Vec<i8>),
    Int16(Vec<i16>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float32(Vec<f32>),
    Float64(Vec<f64>),
    Date32(Vec<i32>),
    TimestampMicros(Vec<i64>),
    Decimal128(Vec<i128>),
    Utf8 {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
    Binary {
        offsets: Vec<i32>,
        data: Vec<u8>,
    },
    List {
        offsets: Vec<i32>,
        element: Box<ColumnBuffer>,
        element_field: FieldRef,
    },
    Map {
        offsets: Vec<i32>,
        keys: Box<ColumnBuffer>,
        values: Box<ColumnBuffer>,
        entries_field: FieldRef,
    },
    Struct {
        children: Vec<ColumnBuffer>,
        fields: Fields,
    },
}

/// One column's buffered values and validity.
///
/// Guarantees: after any sequence of appends, [`ColumnBuffer::truncate`] to an earlier length
/// restores exactly the state at that length (children included), and
/// [`ColumnBuffer::finish`] yields an array of [`ColumnBuffer::len`] rows of the column's
/// Arrow type.
#[derive(Debug)]
pub(crate) struct ColumnBuffer {
    pub(crate) nulls: NullBufferBuilder,
    pub(crate) values: ColumnValues,
    data_type: DataType,
}

/// A value too large for a 32-bit offset; the caller turns it into a conversion failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetOverflow;

#[inline]
pub(crate) fn next_offset(len: usize) -> Result<i32, OffsetOverflow> {
    i32::try_from(len).map_err(|_| OffsetOverflow)
}

impl ColumnBuffer {
    /// An empty buffer for a column of `hive_type` whose Arrow type is `data_type`
    /// (`hive_type.arrow_type()`, or the same with field metadata such as Parquet field ids on
    /// its nested fields): the arrays it finishes carry `data_type`'s nested fields exactly.
    pub(crate) fn new(hive_type: &HiveType, data_type: &DataType) -> Self {
        let values = match (hive_type, data_type) {
            (HiveType::String, _) => ColumnValues::Utf8 {
                offsets: vec![0],
                data: Vec::new(),
            },
            (HiveType::Binary, _) => ColumnValues::Binary {
                offsets: vec![0],
                data: Vec::new(),
            },
            (HiveType::TinyInt, _) => ColumnValues::Int8(Vec::new()),
            (HiveType::SmallInt, _) => ColumnValues::Int16(Vec::new()),
            (HiveType::Int, _) => ColumnValues::Int32(Vec::new()),
            (HiveType::BigInt, _) => ColumnValues::Int64(Vec::new()),
            (HiveType::Float, _) => ColumnValues::Float32(Vec::new()),
            (HiveType::Double, _) => ColumnValues::Float64(Vec::new()),
            (HiveType::Boolean, _) => ColumnValues::Boolean(BooleanBufferBuilder::new(0)),
            (HiveType::Timestamp, _) => ColumnValues::TimestampMicros(Vec::new()),
            (HiveType::Date, _) => ColumnValues::Date32(Vec::new()),
            (HiveType::Decimal { .. }, _) => ColumnValues::Decimal128(Vec::new()),
            (HiveType::Array(element), DataType::List(element_field)) => ColumnValues::List {
                offsets: vec![0],
                element: Box::new(ColumnBuffer::new(element, element_field.data_type())),
                element_field: Arc::clone(element_field),
            },
            (HiveType::Map(key, value), DataType::Map(entries_field, _)) => {
                let DataType::Struct(entry_fields) = entries_field.data_type() else {
                    unreachable!("map entries are a struct")
                };
                ColumnValues::Map {
                    offsets: vec![0],
                    keys: Box::new(ColumnBuffer::new(key, entry_fields[0].data_type())),
                    values: Box::new(ColumnBuffer::new(value, entry_fields[1].data_type())),
                    entries_field: Arc::clone(entries_field),
                }
            }
            (HiveType::Struct(hive_fields), DataType::Struct(fields)) => ColumnValues::Struct {
                children: hive_fields
                    .iter()
                    .zip(fields.iter())
                    .map(|(h, f)| ColumnBuffer::new(&h.hive_type, f.data_type()))
                    .collect(),
                fields: fields.clone(),
            },
            (HiveType::Array(_) | HiveType::Map(..) | HiveType::Struct(_), _) => {
                unreachable!("a nested Hive type's Arrow type is built from it: {data_type}")
            }
        };
        Self {
            nulls: NullBufferBuilder::new(0),
            values,
            data_type: data_type.clone(),
        }
    }

    /// Rows buffered.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.nulls.len()
    }

    /// Appends a null row (children of a struct get null rows too, as Arrow requires).
    #[inline]
    pub(crate) fn append_null(&mut self) {
        self.nulls.append_null();
        match &mut self.values {
            ColumnValues::Boolean(b) => b.append(false),
            ColumnValues::Int8(v) => v.push(0),
            ColumnValues::Int16(v) => v.push(0),
            ColumnValues::Int32(v) | ColumnValues::Date32(v) => v.push(0),
            ColumnValues::Int64(v) | ColumnValues::TimestampMicros(v) => v.push(0),
            ColumnValues::Float32(v) => v.push(0.0),
            ColumnValues::Float64(v) => v.push(0.0),
            ColumnValues::Decimal128(values) => values.push(0),
            ColumnValues::Utf8 { offsets, .. }
            | ColumnValues::Binary { offsets, .. }
            | ColumnValues::List { offsets, .. }
            | ColumnValues::Map { offsets, .. } => {
                let last = offsets.last().copied().unwrap_or(0);
                offsets.push(last);
            }
            ColumnValues::Struct { children, .. } => {
                children.iter_mut().for_each(ColumnBuffer::append_null)
            }
        }
    }

    /// Cuts the buffer back to `len` rows (no-op when it holds `len` or fewer).
    pub(crate) fn truncate(&mut self, len: usize) {
        if self.len() <= len {
            // A nested child may hold a partial value beyond its parent's last offset.
            self.truncate_children_to_offsets();
            return;
        }
        self.nulls.truncate(len);
        match &mut self.values {
            ColumnValues::Boolean(b) => b.truncate(len),
            ColumnValues::Int8(v) => v.truncate(len),
            ColumnValues::Int16(v) => v.truncate(len),
            ColumnValues::Int32(v) | ColumnValues::Date32(v) => v.truncate(len),
            ColumnValues::Int64(v) | ColumnValues::TimestampMicros(v) => v.truncate(len),
            ColumnValues::Float32(v) => v.truncate(len),
            ColumnValues::Float64(v) => v.truncate(len),
            ColumnValues::Decimal128(values) => values.truncate(len),
            ColumnValues::Utf8 { offsets, data } | ColumnValues::Binary { offsets, data } => {
                offsets.truncate(len + 1);
                data.truncate(usize::try_from(offsets[len]).unwrap_or(0));
            }
            ColumnValues::List { offsets, .. } | ColumnValues::Map { offsets, .. } => {
                offsets.truncate(len + 1)
            }
            ColumnValues::Struct { children, .. } => {
                children.iter_mut().for_each(|c| c.truncate(len))
            }
        }
        self.truncate_children_to_offsets();
    }

    fn truncate_children_to_offsets(&mut self) {
        match &mut self.values {
            ColumnValues::Utf8 { offsets, data } | ColumnValues::Binary { offsets, data } => {
                data.truncate(usize::try_from(offsets.last().copied().unwrap_or(0)).unwrap_or(0));
            }
            ColumnValues::List {
                offsets, element, ..
            } => {
                element
                    .truncate(usize::try_from(offsets.last().copied().unwrap_or(0)).unwrap_or(0));
            }
            ColumnValues::Map {
                offsets,
                keys,
                values,
                ..
            } => {
                let end = usize::try_from(offsets.last().copied().unwrap_or(0)).unwrap_or(0);
                keys.truncate(end);
                values.truncate(end);
            }
            ColumnValues::Struct { children, .. } => {
                let len = self.nulls.len();
                children.iter_mut().for_each(|c| c.truncate(len));
            }
            _ => {}
        }
    }

    /// Bytes of memory held (allocated capacity, children included).
    pub(crate) fn allocated_bytes(&self) -> usize {
        fn vec_bytes<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        self.nulls.allocated_size()
            + match &self.values {
                ColumnValues::Boolean(b) => b.capacity() / 8,
                ColumnValues::Int8(v) => vec_bytes(v),
                ColumnValues::Int16(v) => vec_bytes(v),
                ColumnValues::Int32(v) | ColumnValues::Date32(v) => vec_bytes(v),
                ColumnValues::Int64(v) | ColumnValues::TimestampMicros(v) => vec_bytes(v),
                ColumnValues::Float32(v) => vec_bytes(v),
                ColumnValues::Float64(v) => vec_bytes(v),
                ColumnValues::Decimal128(values) => vec_bytes(values),
                ColumnValues::Utf8 { offsets, data } | ColumnValues::Binary { offsets, data } => {
                    vec_bytes(offsets) + vec_bytes(data)
                }
                ColumnValues::List {
                    offsets, element, ..
                } => vec_bytes(offsets) + element.allocated_bytes(),
                ColumnValues::Map {
                    offsets,
                    keys,
                    values,
                    ..
                } => vec_bytes(offsets) + keys.allocated_bytes() + values.allocated_bytes(),
                ColumnValues::Struct { children, .. } => {
                    children.iter().map(ColumnBuffer::allocated_bytes).sum()
                }
            }
    }

    /// Moves the buffered rows out as an Arrow array and starts empty again.
    pub(crate) fn finish(&mut self) -> ArrayRef {
        let nulls = self.nulls.finish();
        let data_type = self.data_type.clone();
        match &mut self.values {
            ColumnValues::Boolean(b) => Arc::new(BooleanArray::new(b.finish(), nulls)),
            ColumnValues::Int8(v) => primitive::<Int8Type>(v, nulls, data_type),
            ColumnValues::Int16(v) => primitive::<Int16Type>(v, nulls, data_type),
            ColumnValues::Int32(v) => primitive::<Int32Type>(v, nulls, data_type),
            ColumnValues::Int64(v) => primitive::<Int64Type>(v, nulls, data_type),
            ColumnValues::Float32(v) => primitive::<Float32Type>(v, nulls, data_type),
            ColumnValues::Float64(v) => primitive::<Float64Type>(v, nulls, data_type),
            ColumnValues::Date32(v) => primitive::<Date32Type>(v, nulls, data_type),
            ColumnValues::TimestampMicros(v) => {
                primitive::<TimestampMicrosecondType>(v, nulls, data_type)
            }
            ColumnValues::Decimal128(values) => {
                primitive::<Decimal128Type>(values, nulls, data_type)
            }
            ColumnValues::Utf8 { offsets, data } => {
                let (offsets, data) = take_offsets_and_data(offsets, data);
                Arc::new(StringArray::new(offsets, data, nulls))
            }
            ColumnValues::Binary { offsets, data } => {
                let (offsets, data) = take_offsets_and_data(offsets, data);
                Arc::new(BinaryArray::new(offsets, data, nulls))
            }
            ColumnValues::List {
                offsets,
                element,
                element_field,
            } => {
                let offsets = take_offsets(offsets);
                Arc::new(ListArray::new(
                    Arc::clone(element_field),
                    offsets,
                    element.finish(),
                    nulls,
                ))
            }
            ColumnValues::Map {
                offsets,
                keys,
                values,
                entries_field,
            } => {
                let offsets = take_offsets(offsets);
                let DataType::Struct(entry_fields) = entries_field.data_type() else {
                    unreachable!("map entries are a struct")
                };
                let entries = StructArray::new(
                    entry_fields.clone(),
                    vec![keys.finish(), values.finish()],
                    None,
                );
                Arc::new(MapArray::new(
                    Arc::clone(entries_field),
                    offsets,
                    entries,
                    nulls,
                    false,
                ))
            }
            ColumnValues::Struct { children, fields } => {
                let arrays = children.iter_mut().map(ColumnBuffer::finish).collect();
                Arc::new(StructArray::new(fields.clone(), arrays, nulls))
            }
        }
    }
}

fn primitive<T: ArrowPrimitiveType>(
    values: &mut Vec<T::Native>,
    nulls: Option<arrow_buffer::NullBuffer>,
    data_type: DataType,
) -> ArrayRef {
    let taken = std::mem::take(values);
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(taken), nulls).with_data_type(data_type))
}

fn take_offsets(offsets: &mut Vec<i32>) -> OffsetBuffer<i32> {
    let taken = std::mem::replace(offsets, vec![0]);
    OffsetBuffer::new(ScalarBuffer::from(taken))
}

fn take_offsets_and_data(
    offsets: &mut Vec<i32>,
    data: &mut Vec<u8>,
) -> (OffsetBuffer<i32>, Buffer) {
    let data = std::mem::take(data);
    (take_offsets(offsets), Buffer::from_vec(data))
}
