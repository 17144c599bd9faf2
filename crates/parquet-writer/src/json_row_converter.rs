//! JSON records → rows of a [`RowGroupBuffer`], with the OpenX JSON SerDe's semantics.
//!
//! Rules (see also `openx_scalar_text`, `timestamp_parsing`, `serde_options`):
//! - a record must be a JSON object; unknown keys are ignored, missing keys and `null` are null;
//! - `string` columns take strings as they are, and any other JSON value as its JSON text;
//! - numeric columns take JSON numbers (integral ones only for integer types) or strings in
//!   Java number syntax; values outside the type's range are refused;
//! - `decimal(p,s)` takes numbers or decimal strings, rounded half-up to `s` digits;
//! - `timestamp` / `date` take the forms `timestamp_parsing` lists; `binary` takes base64;
//! - `struct` takes an object (fields matched like top-level columns) or an array (fields by
//!   position, an empty array being null, as OpenX does); `array` takes an array; `map` takes an
//!   object whose keys are converted to the key type.
//!
//! Guarantees: a record either becomes exactly one row or leaves the buffer unchanged.

use crate::column_buffer::{ColumnBuffer, ColumnValues, next_offset};
use crate::conversion_failure::{ConversionFailure, ConversionFailureKind};
use crate::field_error::{FieldError, PathPart, json_kind, too_large};
use crate::hive_type::{HiveType, StructField};
use crate::json_node::{JsonNode, NodeView};
use crate::row_group_buffer::RowGroupBuffer;
use crate::scalar_conversion::{append_scalar, append_text};
use crate::serde_options::{KeyResolver, MatchQuality, SerdeOptions, fold_case};
use crate::table_schema::TableSchema;

/// Converts parsed JSON records into rows of one table schema.
#[derive(Debug)]
pub(crate) struct JsonRowConverter {
    top: StructPlan,
    case_insensitive: bool,
    /// Top-level columns a record must give a value (index, name).
    required: Vec<(usize, String)>,
}

#[derive(Debug)]
struct StructPlan {
    names: Vec<String>,
    resolver: KeyResolver,
    children: Vec<TypePlan>,
}

#[derive(Debug)]
enum TypePlan {
    Leaf(HiveType),
    List(Box<TypePlan>),
    Map(Box<TypePlan>, Box<TypePlan>),
    Struct(StructPlan),
}

impl TypePlan {
    fn new(t: &HiveType, options: &SerdeOptions) -> Self {
        match t {
            HiveType::Array(e) => TypePlan::List(Box::new(TypePlan::new(e, options))),
            HiveType::Map(k, v) => TypePlan::Map(
                Box::new(TypePlan::new(k, options)),
                Box::new(TypePlan::new(v, options)),
            ),
            HiveType::Struct(fields) => TypePlan::Struct(StructPlan::new(
                fields.iter().map(|f: &StructField| (&f.name, &f.hive_type)),
                options,
            )),
            leaf => TypePlan::Leaf(leaf.clone()),
        }
    }
}

impl StructPlan {
    fn new<'a>(
        fields: impl Iterator<Item = (&'a String, &'a HiveType)> + Clone,
        options: &SerdeOptions,
    ) -> Self {
        Self {
            names: fields.clone().map(|(n, _)| n.clone()).collect(),
            resolver: KeyResolver::new(fields.clone().map(|(n, _)| n.as_str()), options),
            children: fields.map(|(_, t)| TypePlan::new(t, options)).collect(),
        }
    }
}

impl JsonRowConverter {
    pub(crate) fn new(schema: &TableSchema, options: &SerdeOptions) -> Self {
        Self {
            top: StructPlan::new(
                schema.columns().iter().map(|c| (&c.name, &c.hive_type)),
                options,
            ),
            case_insensitive: options.case_insensitive,
            required: schema
                .columns()
                .iter()
                .enumerate()
                .filter(|(i, _)| schema.is_required(*i))
                .map(|(i, c)| (i, c.name.clone()))
                .collect(),
        }
    }

    /// Appends one record as one row, or leaves `rows` unchanged and says why not.
    pub(crate) fn append_row<'a, N: JsonNode<'a>>(
        &self,
        record: N,
        rows: &mut RowGroupBuffer,
    ) -> Result<(), ConversionFailure> {
        let view = record.view();
        if !matches!(view, NodeView::Object) {
            return Err(ConversionFailure::new(
                ConversionFailureKind::NotAJsonObject,
                format!("the record is {}, not a JSON object", json_kind(&view)),
            ));
        }
        let before = rows.row_count();
        match self.fill_struct_fields(&self.top, record, rows.columns_mut()) {
            Ok(()) => {
                let columns = rows.columns_mut();
                if let Some((_, name)) = self
                    .required
                    .iter()
                    .find(|(i, _)| !columns[*i].nulls.is_valid(columns[*i].len() - 1))
                {
                    let failure = ConversionFailure::new(
                        ConversionFailureKind::InvalidValue,
                        format!(
                            "column `{name}` is required (not null in the table) and the record has no value for it"
                        ),
                    );
                    rows.truncate(before);
                    return Err(failure);
                }
                rows.row_appended();
                Ok(())
            }
            Err(e) => {
                rows.truncate(before);
                Err(e.into_failure())
            }
        }
    }

    /// Appends one value to each of `columns` from the members of `object`.
    fn fill_struct_fields<'a, N: JsonNode<'a>>(
        &self,
        plan: &StructPlan,
        object: N,
        columns: &mut [ColumnBuffer],
    ) -> Result<(), FieldError> {
        const STACK_FIELDS: usize = 32;
        const NOT_FILLED: u8 = u8::MAX;
        let n = plan.children.len();
        // Every column of a struct level holds the same number of rows before this one.
        let row = columns.first().map_or(0, ColumnBuffer::len);
        // Values go straight into the columns in member order; `filled` keeps the match
        // quality of the value each field got, so a better (or equally good, later) key can
        // replace it, as `KeyResolver` documents.
        let mut stack_filled = [NOT_FILLED; STACK_FIELDS];
        let mut heap_filled;
        let filled: &mut [u8] = if n <= STACK_FIELDS {
            &mut stack_filled[..n]
        } else {
            heap_filled = vec![NOT_FILLED; n];
            &mut heap_filled
        };
        let put = |i: usize, value: N, columns: &mut [ColumnBuffer]| -> Result<(), FieldError> {
            self.append_value(&plan.children[i], value, &mut columns[i])
                .map_err(|e| e.within(PathPart::Field(plan.names[i].clone())))
        };
        // Objects with many more members than fields, when they can be looked up: look each
        // field's key up, and scan only if some are missing and could match inexactly.
        // Otherwise one scan, resolving each key (most by one comparison, see KeyResolver).
        let look_up = N::INDEXED_MEMBERS && object.member_count() > 2 * n;
        let mut found = 0;
        if look_up {
            for (i, quality) in filled.iter_mut().enumerate() {
                if let Some(value) = object.member(plan.resolver.exact_key(i)) {
                    put(i, value, columns)?;
                    *quality = MatchQuality::Exact as u8;
                    found += 1;
                }
            }
        }
        if !look_up
            || (found < n && plan.resolver.matches_inexactly() && object.member_count() > found)
        {
            for (position, (key, value)) in object.members().enumerate() {
                let Some((i, quality)) = plan.resolver.resolve_at(position, key) else {
                    continue;
                };
                let quality = quality as u8;
                if filled[i] == NOT_FILLED {
                    put(i, value, columns)?;
                } else if quality <= filled[i]
                    && !(look_up && filled[i] == MatchQuality::Exact as u8)
                {
                    columns[i].truncate(row);
                    put(i, value, columns)?;
                } else {
                    continue;
                }
                filled[i] = quality;
            }
        }
        for (column, quality) in columns.iter_mut().zip(filled.iter()) {
            if *quality == NOT_FILLED {
                column.append_null();
            }
        }
        Ok(())
    }

    /// Appends fields by position from a JSON array (OpenX's positional structs).
    fn fill_struct_positions<'a, N: JsonNode<'a>>(
        &self,
        plan: &StructPlan,
        items: N::Items,
        columns: &mut [ColumnBuffer],
    ) -> Result<(), FieldError> {
        let mut items = items;
        for (i, (child, column)) in plan.children.iter().zip(columns.iter_mut()).enumerate() {
            match items.next() {
                Some(value) => {
                    self.append_value(child, value, column)
                        .map_err(|e| e.within(PathPart::Field(plan.names[i].clone())))?;
                }
                None => column.append_null(),
            }
        }
        Ok(())
    }

    fn append_value<'a, N: JsonNode<'a>>(
        &self,
        plan: &TypePlan,
        node: N,
        column: &mut ColumnBuffer,
    ) -> Result<(), FieldError> {
        let view = node.view();
        if matches!(view, NodeView::Null) {
            column.append_null();
            return Ok(());
        }
        match plan {
            TypePlan::Leaf(hive_type) => append_scalar(hive_type, node, view, column),
            TypePlan::List(element_plan) => {
                let NodeView::Array(items, _) = view else {
                    return Err(FieldError::new(
                        ConversionFailureKind::TypeMismatch,
                        format!("expected an array, found {}", json_kind(&view)),
                    ));
                };
                let ColumnValues::List {
                    offsets, element, ..
                } = &mut column.values
                else {
                    unreachable!("an array plan has a list buffer")
                };
                for (i, item) in items.enumerate() {
                    self.append_value(element_plan, item, element)
                        .map_err(|e| e.within(PathPart::Index(i)))?;
                }
                offsets.push(next_offset(element.len()).map_err(|_| too_large())?);
                column.nulls.append_non_null();
                Ok(())
            }
            TypePlan::Map(key_plan, value_plan) => {
                if !matches!(view, NodeView::Object) {
                    return Err(FieldError::new(
                        ConversionFailureKind::TypeMismatch,
                        format!("expected a map (JSON object), found {}", json_kind(&view)),
                    ));
                }
                let ColumnValues::Map {
                    offsets,
                    keys,
                    values,
                    ..
                } = &mut column.values
                else {
                    unreachable!("a map plan has a map buffer")
                };
                let TypePlan::Leaf(key_type) = key_plan.as_ref() else {
                    unreachable!("map keys are primitive")
                };
                for (key, value) in node.members() {
                    let key = if self.case_insensitive {
                        fold_case(key)
                    } else {
                        key.into()
                    };
                    append_text(key_type, &key, keys).map_err(|e| {
                        let mut e = e;
                        e.detail = format!("map key: {}", e.detail);
                        e
                    })?;
                    self.append_value(value_plan, value, values)
                        .map_err(|e| e.within(PathPart::MapValue(key.to_string())))?;
                }
                offsets.push(next_offset(keys.len()).map_err(|_| too_large())?);
                column.nulls.append_non_null();
                Ok(())
            }
            TypePlan::Struct(struct_plan) => {
                let ColumnValues::Struct { children, .. } = &mut column.values else {
                    unreachable!("a struct plan has a struct buffer")
                };
                match view {
                    NodeView::Object => self.fill_struct_fields(struct_plan, node, children)?,
                    NodeView::Array(_, 0) => {
                        column.append_null();
                        return Ok(());
                    }
                    NodeView::Array(items, _) => {
                        self.fill_struct_positions::<N>(struct_plan, items, children)?
                    }
                    other => {
                        return Err(FieldError::new(
                            ConversionFailureKind::TypeMismatch,
                            format!(
                                "expected a struct (JSON object), found {}",
                                json_kind(&other)
                            ),
                        ));
                    }
                }
                column.nulls.append_non_null();
                Ok(())
            }
        }
    }
}
