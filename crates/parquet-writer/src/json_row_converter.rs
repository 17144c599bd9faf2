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

use base64::Engine;

use crate::column_buffer::{ColumnBuffer, ColumnValues, next_offset};
use crate::conversion_failure::{ConversionFailure, ConversionFailureKind};
use crate::decimal_text::{DecimalTextError, parse_scaled_decimal};
use crate::hive_type::{HiveType, StructField};
use crate::json_node::{JsonNode, NodeView};
use crate::openx_scalar_text::{ScalarTextError, narrow_to_float, parse_boolean, parse_java_double, parse_java_integer};
use crate::row_group_buffer::RowGroupBuffer;
use crate::serde_options::{KeyResolver, MatchQuality, SerdeOptions, fold_case};
use crate::table_schema::TableSchema;
use crate::timestamp_parsing::{
    TimeTextError, date_days_from_text, timestamp_micros_from_float, timestamp_micros_from_integer,
    timestamp_micros_from_text,
};

/// Converts parsed JSON records into rows of one table schema.
#[derive(Debug)]
pub(crate) struct JsonRowConverter {
    top: StructPlan,
    case_insensitive: bool,
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
            HiveType::Map(k, v) => TypePlan::Map(Box::new(TypePlan::new(k, options)), Box::new(TypePlan::new(v, options))),
            HiveType::Struct(fields) => TypePlan::Struct(StructPlan::new(fields.iter().map(|f: &StructField| (&f.name, &f.hive_type)), options)),
            leaf => TypePlan::Leaf(leaf.clone()),
        }
    }
}

impl StructPlan {
    fn new<'a>(fields: impl Iterator<Item = (&'a String, &'a HiveType)> + Clone, options: &SerdeOptions) -> Self {
        Self {
            names: fields.clone().map(|(n, _)| n.clone()).collect(),
            resolver: KeyResolver::new(fields.clone().map(|(n, _)| n.as_str()), options),
            children: fields.map(|(_, t)| TypePlan::new(t, options)).collect(),
        }
    }
}

/// A failure inside a record, with the path to the value (innermost part first).
struct FieldError {
    kind: ConversionFailureKind,
    detail: String,
    path: Vec<PathPart>,
}

enum PathPart {
    Field(String),
    Index(usize),
    MapValue(String),
}

impl FieldError {
    fn new(kind: ConversionFailureKind, detail: String) -> Self {
        Self { kind, detail, path: Vec::new() }
    }

    fn within(mut self, part: PathPart) -> Self {
        self.path.push(part);
        self
    }

    fn into_failure(self) -> ConversionFailure {
        let mut path = String::new();
        for part in self.path.iter().rev() {
            match part {
                PathPart::Field(name) if path.is_empty() => path.push_str(name),
                PathPart::Field(name) => {
                    path.push('.');
                    path.push_str(name);
                }
                PathPart::Index(i) => path.push_str(&format!("[{i}]")),
                PathPart::MapValue(key) => path.push_str(&format!("[{key:?}]")),
            }
        }
        ConversionFailure::new(self.kind, format!("column `{path}`: {}", self.detail))
    }
}

/// At most this many characters of an offending value are quoted in a message.
const QUOTED_VALUE_CHARS: usize = 60;

fn quote(text: &str) -> String {
    let mut quoted: String = text.chars().take(QUOTED_VALUE_CHARS).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    format!("{quoted:?}")
}

fn json_kind<I>(view: &NodeView<'_, I>) -> &'static str {
    match view {
        NodeView::Null => "null",
        NodeView::Bool(_) => "a boolean",
        NodeView::Int(_) | NodeView::UInt(_) | NodeView::Float(_) => "a number",
        NodeView::Str(_) => "a string",
        NodeView::Array(..) => "an array",
        NodeView::Object => "an object",
    }
}

fn mismatch<I>(expected: &HiveType, view: &NodeView<'_, I>) -> FieldError {
    FieldError::new(ConversionFailureKind::TypeMismatch, format!("expected {expected}, found {}", json_kind(view)))
}

fn too_large() -> FieldError {
    FieldError::new(ConversionFailureKind::TooLarge, "the value does not fit in one row group".to_owned())
}

impl JsonRowConverter {
    pub(crate) fn new(schema: &TableSchema, options: &SerdeOptions) -> Self {
        Self {
            top: StructPlan::new(schema.columns().iter().map(|c| (&c.name, &c.hive_type)), options),
            case_insensitive: options.case_insensitive,
        }
    }

    /// Appends one record as one row, or leaves `rows` unchanged and says why not.
    pub(crate) fn append_row<'a, N: JsonNode<'a>>(&self, record: N, rows: &mut RowGroupBuffer) -> Result<(), ConversionFailure> {
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
    fn fill_struct_fields<'a, N: JsonNode<'a>>(&self, plan: &StructPlan, object: N, columns: &mut [ColumnBuffer]) -> Result<(), FieldError> {
        const STACK_SLOTS: usize = 16;
        let n = plan.children.len();
        let mut stack_slots: [Option<(N, MatchQuality)>; STACK_SLOTS] = [None; STACK_SLOTS];
        let mut heap_slots;
        let slots: &mut [Option<(N, MatchQuality)>] = if n <= STACK_SLOTS {
            &mut stack_slots[..n]
        } else {
            heap_slots = vec![None; n];
            &mut heap_slots
        };
        // Objects with many more members than fields, when they can be looked up: look each
        // field's key up, and scan only if some are missing and could match inexactly.
        // Otherwise one scan, resolving each key (most by one comparison, see KeyResolver).
        let look_up = N::INDEXED_MEMBERS && object.member_count() > 2 * n;
        let mut found = 0;
        if look_up {
            for (i, slot) in slots.iter_mut().enumerate() {
                if let Some(v) = object.member(plan.resolver.exact_key(i)) {
                    *slot = Some((v, MatchQuality::Exact));
                    found += 1;
                }
            }
        }
        if !look_up || (found < n && plan.resolver.matches_inexactly() && object.member_count() > found) {
            for (position, (key, value)) in object.members().enumerate() {
                if let Some((i, quality)) = plan.resolver.resolve_at(position, key) {
                    let better = match slots[i] {
                        None => true,
                        Some((_, current)) => quality < current,
                    };
                    if better {
                        slots[i] = Some((value, quality));
                    }
                }
            }
        }
        for (i, (child, column)) in plan.children.iter().zip(columns.iter_mut()).enumerate() {
            match slots[i] {
                Some((value, _)) => {
                    self.append_value(child, value, column).map_err(|e| e.within(PathPart::Field(plan.names[i].clone())))?;
                }
                None => column.append_null(),
            }
        }
        Ok(())
    }

    /// Appends fields by position from a JSON array (OpenX's positional structs).
    fn fill_struct_positions<'a, N: JsonNode<'a>>(&self, plan: &StructPlan, items: N::Items, columns: &mut [ColumnBuffer]) -> Result<(), FieldError> {
        let mut items = items;
        for (i, (child, column)) in plan.children.iter().zip(columns.iter_mut()).enumerate() {
            match items.next() {
                Some(value) => {
                    self.append_value(child, value, column).map_err(|e| e.within(PathPart::Field(plan.names[i].clone())))?;
                }
                None => column.append_null(),
            }
        }
        Ok(())
    }

    fn append_value<'a, N: JsonNode<'a>>(&self, plan: &TypePlan, node: N, column: &mut ColumnBuffer) -> Result<(), FieldError> {
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
                let ColumnValues::List { offsets, element, .. } = &mut column.values else {
                    unreachable!("an array plan has a list buffer")
                };
                for (i, item) in items.enumerate() {
                    self.append_value(element_plan, item, element).map_err(|e| e.within(PathPart::Index(i)))?;
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
                let ColumnValues::Map { offsets, keys, values, .. } = &mut column.values else {
                    unreachable!("a map plan has a map buffer")
                };
                let TypePlan::Leaf(key_type) = key_plan.as_ref() else { unreachable!("map keys are primitive") };
                for (key, value) in node.members() {
                    let key = if self.case_insensitive { fold_case(key) } else { key.into() };
                    append_text(key_type, &key, keys).map_err(|e| {
                        let mut e = e;
                        e.detail = format!("map key: {}", e.detail);
                        e
                    })?;
                    self.append_value(value_plan, value, values).map_err(|e| e.within(PathPart::MapValue(key.to_string())))?;
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
                    NodeView::Array(items, _) => self.fill_struct_positions::<N>(struct_plan, items, children)?,
                    other => {
                        return Err(FieldError::new(
                            ConversionFailureKind::TypeMismatch,
                            format!("expected a struct (JSON object), found {}", json_kind(&other)),
                        ));
                    }
                }
                column.nulls.append_non_null();
                Ok(())
            }
        }
    }
}

fn text_error(hive_type: &HiveType, text: &str, e: ScalarTextError) -> FieldError {
    match e {
        ScalarTextError::Syntax => {
            FieldError::new(ConversionFailureKind::InvalidValue, format!("{} is not a valid {hive_type}", quote(text)))
        }
        ScalarTextError::OutOfRange => {
            FieldError::new(ConversionFailureKind::OutOfRange, format!("{} is out of range for {hive_type}", quote(text)))
        }
    }
}

fn time_error(hive_type: &HiveType, text: &str, e: TimeTextError) -> FieldError {
    text_error(
        hive_type,
        text,
        match e {
            TimeTextError::Unrecognised => ScalarTextError::Syntax,
            TimeTextError::OutOfRange => ScalarTextError::OutOfRange,
        },
    )
}

fn decimal_error(hive_type: &HiveType, text: &str, e: DecimalTextError) -> FieldError {
    text_error(
        hive_type,
        text,
        match e {
            DecimalTextError::Syntax => ScalarTextError::Syntax,
            DecimalTextError::OutOfRange => ScalarTextError::OutOfRange,
        },
    )
}

fn integer_range(hive_type: &HiveType) -> (i64, i64) {
    match hive_type {
        HiveType::TinyInt => (i64::from(i8::MIN), i64::from(i8::MAX)),
        HiveType::SmallInt => (i64::from(i16::MIN), i64::from(i16::MAX)),
        HiveType::Int => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Pushes an integer already checked to be in the column's range.
#[allow(clippy::cast_possible_truncation)] // range-checked by the caller
fn push_integer(values: &mut ColumnValues, v: i64) {
    match values {
        ColumnValues::Int8(out) => out.push(v as i8),
        ColumnValues::Int16(out) => out.push(v as i16),
        ColumnValues::Int32(out) => out.push(v as i32),
        ColumnValues::Int64(out) => out.push(v),
        _ => unreachable!("integer columns have integer buffers"),
    }
}

/// A JSON number (integer or integral float) as an integer of the column's range.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)] // checked: integral and in range
fn number_to_integer<I>(hive_type: &HiveType, view: &NodeView<'_, I>) -> Result<i64, FieldError> {
    let (min, max) = integer_range(hive_type);
    let out_of_range = |shown: String| FieldError::new(ConversionFailureKind::OutOfRange, format!("{shown} is out of range for {hive_type}"));
    match *view {
        NodeView::Int(i) if (min..=max).contains(&i) => Ok(i),
        NodeView::Int(i) => Err(out_of_range(i.to_string())),
        NodeView::UInt(u) => i64::try_from(u).ok().filter(|i| *i <= max).ok_or_else(|| out_of_range(u.to_string())),
        NodeView::Float(f) if f.fract() != 0.0 || !f.is_finite() => {
            Err(FieldError::new(ConversionFailureKind::InvalidValue, format!("{f} is not a whole number for {hive_type}")))
        }
        NodeView::Float(f) if f >= min as f64 && f <= max as f64 => Ok(f as i64),
        NodeView::Float(f) => Err(out_of_range(f.to_string())),
        _ => unreachable!("only numbers reach number_to_integer"),
    }
}

#[allow(clippy::cast_precision_loss)] // JSON integers in float columns round like Java's
fn number_to_f64<I>(view: &NodeView<'_, I>) -> f64 {
    match *view {
        NodeView::Int(i) => i as f64,
        NodeView::UInt(u) => u as f64,
        NodeView::Float(f) => f,
        _ => unreachable!("only numbers reach number_to_f64"),
    }
}

fn push_float(hive_type: &HiveType, values: &mut ColumnValues, v: f64, shown: &dyn Fn() -> String) -> Result<(), FieldError> {
    match values {
        ColumnValues::Float64(out) => out.push(v),
        ColumnValues::Float32(out) => out.push(narrow_to_float(v).map_err(|e| text_error(hive_type, &shown(), e))?),
        _ => unreachable!("float columns have float buffers"),
    }
    Ok(())
}

fn push_bytes(values: &mut ColumnValues, bytes: &[u8]) -> Result<(), FieldError> {
    push_bytes_with(values, |data| data.extend_from_slice(bytes))
}

/// Appends one byte-string value written by `write`, ending it with its offset.
fn push_bytes_with(values: &mut ColumnValues, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), FieldError> {
    let (ColumnValues::Utf8 { offsets, data } | ColumnValues::Binary { offsets, data }) = values else {
        unreachable!("byte columns have byte buffers")
    };
    write(data);
    match next_offset(data.len()) {
        Ok(end) => {
            offsets.push(end);
            Ok(())
        }
        Err(_) => {
            let start = usize::try_from(offsets.last().copied().unwrap_or(0)).unwrap_or(0);
            data.truncate(start);
            Err(too_large())
        }
    }
}

/// Appends a non-null JSON scalar (or, for strings, any JSON value) to a primitive column.
fn append_scalar<'a, N: JsonNode<'a>>(hive_type: &HiveType, node: N, view: NodeView<'a, N::Items>, column: &mut ColumnBuffer) -> Result<(), FieldError> {
    if let NodeView::Str(text) = view {
        return append_text(hive_type, text, column);
    }
    match (hive_type, &view) {
        (HiveType::String, NodeView::Bool(b)) => push_bytes(&mut column.values, if *b { b"true" } else { b"false" })?,
        (HiveType::String, _) => push_bytes_with(&mut column.values, |data| node.write_json(data))?,
        (HiveType::TinyInt | HiveType::SmallInt | HiveType::Int | HiveType::BigInt, NodeView::Int(_) | NodeView::UInt(_) | NodeView::Float(_)) => {
            let v = number_to_integer(hive_type, &view)?;
            push_integer(&mut column.values, v);
        }
        (HiveType::Float | HiveType::Double, NodeView::Int(_) | NodeView::UInt(_) | NodeView::Float(_)) => {
            let v = number_to_f64(&view);
            push_float(hive_type, &mut column.values, v, &|| v.to_string())?;
        }
        (HiveType::Boolean, NodeView::Bool(b)) => {
            let ColumnValues::Boolean(out) = &mut column.values else { unreachable!("boolean buffer") };
            out.append(*b);
        }
        (HiveType::Timestamp, NodeView::Int(_) | NodeView::UInt(_) | NodeView::Float(_)) => {
            let micros = match view {
                NodeView::Int(i) => timestamp_micros_from_integer(i),
                NodeView::UInt(_) => Err(TimeTextError::OutOfRange),
                NodeView::Float(f) => timestamp_micros_from_float(f),
                _ => unreachable!("numbers only"),
            };
            let micros = micros.map_err(|e| time_error(hive_type, &number_text(&view), e))?;
            let ColumnValues::TimestampMicros(out) = &mut column.values else { unreachable!("timestamp buffer") };
            out.push(micros);
        }
        (HiveType::Decimal { precision, scale }, NodeView::Int(_) | NodeView::UInt(_) | NodeView::Float(_)) => {
            if let NodeView::Float(f) = view
                && !f.is_finite()
            {
                return Err(FieldError::new(ConversionFailureKind::InvalidValue, format!("{f} is not a valid {hive_type}")));
            }
            let text = number_text(&view);
            let v = parse_scaled_decimal(&text, *precision, *scale).map_err(|e| decimal_error(hive_type, &text, e))?;
            let ColumnValues::Decimal128(values) = &mut column.values else { unreachable!("decimal buffer") };
            values.push(v);
        }
        _ => return Err(mismatch(hive_type, &view)),
    }
    column.nulls.append_non_null();
    Ok(())
}

/// Decimal text of a JSON number (shortest round-trip form for floats, no exponent).
fn number_text<I>(view: &NodeView<'_, I>) -> String {
    match *view {
        NodeView::Int(i) => i.to_string(),
        NodeView::UInt(u) => u.to_string(),
        NodeView::Float(f) => format!("{f}"),
        _ => String::new(),
    }
}

/// Appends a JSON string (or map key) to a primitive column, reading it by the column's type.
fn append_text(hive_type: &HiveType, text: &str, column: &mut ColumnBuffer) -> Result<(), FieldError> {
    match hive_type {
        HiveType::String => push_bytes(&mut column.values, text.as_bytes())?,
        HiveType::TinyInt | HiveType::SmallInt | HiveType::Int | HiveType::BigInt => {
            let (min, max) = integer_range(hive_type);
            let v = parse_java_integer(text, min, max).map_err(|e| text_error(hive_type, text, e))?;
            push_integer(&mut column.values, v);
        }
        HiveType::Float | HiveType::Double => {
            let v = parse_java_double(text).map_err(|e| text_error(hive_type, text, e))?;
            push_float(hive_type, &mut column.values, v, &|| text.to_owned())?;
        }
        HiveType::Boolean => {
            let v = parse_boolean(text).map_err(|e| text_error(hive_type, text, e))?;
            let ColumnValues::Boolean(out) = &mut column.values else { unreachable!("boolean buffer") };
            out.append(v);
        }
        HiveType::Timestamp => {
            let v = timestamp_micros_from_text(text).map_err(|e| time_error(hive_type, text, e))?;
            let ColumnValues::TimestampMicros(out) = &mut column.values else { unreachable!("timestamp buffer") };
            out.push(v);
        }
        HiveType::Date => {
            let v = date_days_from_text(text).map_err(|e| time_error(hive_type, text, e))?;
            let ColumnValues::Date32(out) = &mut column.values else { unreachable!("date buffer") };
            out.push(v);
        }
        HiveType::Decimal { precision, scale } => {
            let v = parse_scaled_decimal(text, *precision, *scale).map_err(|e| decimal_error(hive_type, text, e))?;
            let ColumnValues::Decimal128(values) = &mut column.values else { unreachable!("decimal buffer") };
            values.push(v);
        }
        HiveType::Binary => {
            let bytes = BASE64_ANY_PADDING
                .decode(text)
                .map_err(|_| FieldError::new(ConversionFailureKind::InvalidValue, format!("{} is not base64 for binary", quote(text))))?;
            push_bytes(&mut column.values, &bytes)?;
        }
        HiveType::Array(_) | HiveType::Map(..) | HiveType::Struct(_) => {
            return Err(FieldError::new(ConversionFailureKind::TypeMismatch, format!("expected {hive_type}, found a string")));
        }
    }
    column.nulls.append_non_null();
    Ok(())
}

/// Standard base64 alphabet, padding optional.
const BASE64_ANY_PADDING: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);
