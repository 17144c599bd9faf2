//! Helpers shared by the integration tests: encode records, read Parquet back.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader};
use kinesink_parquet_writer::{ParquetObjectEncoder, ParquetOptions, SerdeOptions, TableSchema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// An encoder for `schema` (Hive DDL) with default Parquet options.
pub fn encoder(schema: &str, serde: SerdeOptions) -> ParquetObjectEncoder {
    encoder_with(schema, serde, ParquetOptions::default())
}

/// An encoder for `schema` (Hive DDL) with the given options.
pub fn encoder_with(
    schema: &str,
    serde: SerdeOptions,
    options: ParquetOptions,
) -> ParquetObjectEncoder {
    let schema = Arc::new(TableSchema::parse_hive(schema).expect("test schema parses"));
    ParquetObjectEncoder::new(schema, Arc::new(serde), options).expect("test options are valid")
}

/// All rows of a Parquet file, read with the `parquet` crate's Arrow reader (one batch).
pub fn read_parquet(bytes: Vec<u8>) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .expect("a valid parquet file")
        .with_batch_size(1 << 20)
        .build()
        .expect("a reader");
    let schema = reader.schema();
    let mut batches: Vec<RecordBatch> = reader.map(|b| b.expect("a readable batch")).collect();
    assert!(batches.len() <= 1, "test files fit one batch");
    batches
        .pop()
        .unwrap_or_else(|| RecordBatch::new_empty(schema))
}

/// Encodes JSON texts through `append_bytes`; returns the file and the per-record outcomes.
pub fn encode_texts(
    encoder: &mut ParquetObjectEncoder,
    records: &[&str],
) -> Vec<Result<(), String>> {
    records
        .iter()
        .map(|r| {
            encoder
                .append_bytes(r.as_bytes())
                .map_err(|e| e.message().to_owned())
        })
        .collect()
}

/// proptest strategies for Hive types, schemas and JSON records that mostly fit them.
pub mod strategies {
    use base64::Engine;
    use kinesink_parquet_writer::{HiveType, StructField, TableSchema};
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    /// Lowercase field names, some of which need backquotes in DDL.
    pub fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![4 => "[a-z_][a-z0-9_]{0,6}", 1 => "[a-z][a-z .`-]{0,5}"]
    }

    /// Any primitive Hive type.
    pub fn primitive_type() -> impl Strategy<Value = HiveType> {
        prop_oneof![
            Just(HiveType::String),
            Just(HiveType::TinyInt),
            Just(HiveType::SmallInt),
            Just(HiveType::Int),
            Just(HiveType::BigInt),
            Just(HiveType::Float),
            Just(HiveType::Double),
            Just(HiveType::Boolean),
            Just(HiveType::Timestamp),
            Just(HiveType::Date),
            Just(HiveType::Binary),
            (1u8..=38)
                .prop_flat_map(|p| (Just(p), 0..=p))
                .prop_map(|(precision, scale)| HiveType::Decimal { precision, scale }),
        ]
    }

    fn unique_fields(fields: Vec<(String, HiveType)>) -> Vec<StructField> {
        let mut out: Vec<StructField> = Vec::new();
        for (name, hive_type) in fields {
            if !out.iter().any(|f| f.name == name) {
                out.push(StructField { name, hive_type });
            }
        }
        out
    }

    /// Any Hive type, nested up to 3 levels.
    pub fn hive_type() -> impl Strategy<Value = HiveType> {
        primitive_type().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| HiveType::Array(Box::new(t))),
                (primitive_type(), inner.clone())
                    .prop_map(|(k, v)| HiveType::Map(Box::new(k), Box::new(v))),
                proptest::collection::vec((field_name(), inner), 1..4)
                    .prop_map(|f| HiveType::Struct(unique_fields(f))),
            ]
        })
    }

    /// A schema of 1–5 columns.
    pub fn table_schema() -> impl Strategy<Value = TableSchema> {
        proptest::collection::vec((field_name(), hive_type()), 1..6).prop_map(|columns| {
            let fields = unique_fields(columns);
            let pairs: Vec<(String, String)> = fields
                .iter()
                .map(|f| (f.name.clone(), f.hive_type.to_string()))
                .collect();
            TableSchema::from_glue_columns(&pairs).expect("generated columns are valid")
        })
    }

    /// Small arbitrary JSON (junk for most columns).
    pub fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                proptest::collection::btree_map("[a-zA-Z.]{1,4}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Text of a value of a primitive type, as a map key or a string-typed number.
    fn key_text(t: &HiveType) -> BoxedStrategy<String> {
        match t {
            HiveType::TinyInt => any::<i8>().prop_map(|v| v.to_string()).boxed(),
            HiveType::SmallInt => any::<i16>().prop_map(|v| v.to_string()).boxed(),
            HiveType::Int => prop_oneof![
                any::<i32>().prop_map(|v| v.to_string()),
                (0..0x7fff_i32).prop_map(|v| format!("0x{v:X}"))
            ]
            .boxed(),
            HiveType::BigInt => any::<i64>().prop_map(|v| v.to_string()).boxed(),
            HiveType::Float | HiveType::Double => {
                (-1e6f64..1e6).prop_map(|v| v.to_string()).boxed()
            }
            HiveType::Boolean => {
                prop_oneof![Just("true".to_owned()), Just("False".to_owned())].boxed()
            }
            HiveType::Date => (0i64..20_000)
                .prop_map(|d| {
                    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                        + chrono::Days::new(d as u64))
                    .to_string()
                })
                .boxed(),
            HiveType::Timestamp => (0i64..4_000_000_000).prop_map(|s| s.to_string()).boxed(),
            HiveType::Decimal { precision, scale } => {
                let int_digits = usize::from(precision - scale);
                let scale = usize::from(*scale);
                (
                    proptest::string::string_regex(&format!("-?[0-9]{{0,{int_digits}}}")).unwrap(),
                    proptest::string::string_regex(&format!("[0-9]{{0,{scale}}}")).unwrap(),
                )
                    .prop_map(|(i, f)| {
                        if f.is_empty() {
                            format!("{i}0")
                        } else {
                            format!("{i}0.{f}")
                        }
                    })
                    .prop_map(|s| s.replacen("-0", "-", 1).replace("-.", "-0."))
                    .prop_filter("not just a sign", |s| s != "-")
                    .boxed()
            }
            _ => "[a-z]{0,6}".boxed(),
        }
    }

    /// JSON that fits `t` (mostly), null, or junk.
    pub fn json_for(t: &HiveType) -> BoxedStrategy<Value> {
        let fitting: BoxedStrategy<Value> = match t {
            HiveType::String => ".{0,10}".prop_map(Value::from).boxed(),
            HiveType::TinyInt => prop_oneof![
                any::<i8>().prop_map(Value::from),
                key_text(t).prop_map(Value::from)
            ]
            .boxed(),
            HiveType::SmallInt => any::<i16>().prop_map(Value::from).boxed(),
            HiveType::Int => prop_oneof![
                any::<i32>().prop_map(Value::from),
                key_text(t).prop_map(Value::from)
            ]
            .boxed(),
            HiveType::BigInt => any::<i64>().prop_map(Value::from).boxed(),
            HiveType::Float => (-1e30f64..1e30).prop_map(Value::from).boxed(),
            HiveType::Double => prop_oneof![
                any::<f64>().prop_map(Value::from),
                key_text(t).prop_map(Value::from)
            ]
            .boxed(),
            HiveType::Boolean => prop_oneof![
                any::<bool>().prop_map(Value::from),
                key_text(t).prop_map(Value::from)
            ]
            .boxed(),
            HiveType::Timestamp => prop_oneof![
                (0i64..4_000_000_000).prop_map(Value::from),
                (0i64..4_000_000_000_000).prop_map(Value::from),
                (0i64..253_402_300_799_000_000).prop_map(|us| Value::from(
                    chrono::DateTime::from_timestamp_micros(us)
                        .unwrap()
                        .to_rfc3339()
                )),
                (0f64..4e9).prop_map(Value::from),
            ]
            .boxed(),
            HiveType::Date => key_text(t).prop_map(Value::from).boxed(),
            HiveType::Decimal { .. } => key_text(t).prop_map(Value::from).boxed(),
            HiveType::Binary => proptest::collection::vec(any::<u8>(), 0..12)
                .prop_map(|b| Value::from(base64::engine::general_purpose::STANDARD.encode(b)))
                .boxed(),
            HiveType::Array(e) => proptest::collection::vec(json_for(e), 0..4)
                .prop_map(Value::from)
                .boxed(),
            HiveType::Map(k, v) => proptest::collection::vec((key_text(k), json_for(v)), 0..3)
                .prop_map(|entries| {
                    Value::Object(entries.into_iter().collect::<Map<String, Value>>())
                })
                .boxed(),
            HiveType::Struct(fields) => {
                let parts: Vec<BoxedStrategy<(String, Option<Value>)>> = fields
                    .iter()
                    .map(|f| {
                        let name = f.name.clone();
                        (
                            proptest::option::weighted(0.8, json_for(&f.hive_type)),
                            any::<bool>(),
                        )
                            .prop_map(move |(v, upper)| {
                                (
                                    if upper {
                                        name.to_uppercase()
                                    } else {
                                        name.clone()
                                    },
                                    v,
                                )
                            })
                            .boxed()
                    })
                    .collect();
                parts
                    .prop_map(|members| {
                        let mut object = Map::new();
                        for (k, v) in members {
                            if let Some(v) = v {
                                object.insert(k, v);
                            }
                        }
                        Value::Object(object)
                    })
                    .boxed()
            }
        };
        prop_oneof![16 => fitting, 1 => Just(Value::Null), 2 => any_json()].boxed()
    }

    /// A record (JSON object) for `schema`, sometimes with an unknown key.
    pub fn record_for(schema: &TableSchema) -> BoxedStrategy<Value> {
        let fields: Vec<_> = schema
            .columns()
            .iter()
            .map(|c| kinesink_parquet_writer::StructField {
                name: c.name.clone(),
                hive_type: c.hive_type.clone(),
            })
            .collect();
        (json_for(&HiveType::Struct(fields)), any::<bool>())
            .prop_map(|(mut v, extra)| {
                if extra && let Some(o) = v.as_object_mut() {
                    o.insert("__unknown__".into(), json!([1, 2]));
                }
                v
            })
            .boxed()
    }
}
