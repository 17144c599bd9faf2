//! Properties with an outside reference: records are generated as plain Rust values (integers,
//! doubles, text, instants, days, unscaled decimals, bytes, lists, maps, structs), written as
//! JSON, converted, and the Parquet file read back with the `parquet` crate's Arrow reader must
//! hold exactly the generated values (the converter's other properties compare its paths with
//! each other; these compare what it wrote with what it was given).

mod common;

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, RecordBatch};
use base64::Engine as _;
use common::{encoder, read_parquet};
use kinesink_parquet_writer::SerdeOptions;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const SCHEMA: &str = "s string, ti tinyint, si smallint, i int, bi bigint, f float, d double,
b boolean, ts timestamp, dt date, dec decimal(18,4), bin binary, arr array<bigint>,
m map<string,string>, st struct<x:int, y:string>";

/// One row as generated: `None` is a missing field or JSON null (chosen separately).
#[derive(Debug, Clone)]
struct Row {
    s: Option<String>,
    ti: Option<i8>,
    si: Option<i16>,
    i: Option<i32>,
    bi: Option<i64>,
    f: Option<f32>,
    d: Option<f64>,
    b: Option<bool>,
    /// Microseconds since the epoch, written as RFC 3339 text.
    ts: Option<i64>,
    /// Days since the epoch, written as `YYYY-MM-DD`.
    dt: Option<i32>,
    /// Unscaled value at scale 4, and whether it is written as a JSON number (else a string).
    dec: Option<(i64, bool)>,
    bin: Option<Vec<u8>>,
    arr: Option<Vec<Option<i64>>>,
    m: Option<BTreeMap<String, Option<String>>>,
    st: Option<(Option<i32>, Option<String>)>,
    /// Whether an absent value is a missing member (else an explicit null).
    missing_as_absent: bool,
}

fn decimal_text(unscaled: i64) -> String {
    let sign = if unscaled < 0 { "-" } else { "" };
    let digits = unscaled.unsigned_abs();
    format!("{sign}{}.{:04}", digits / 10_000, digits % 10_000)
}

fn date_text(days: i32) -> String {
    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
        + chrono::TimeDelta::days(i64::from(days)))
    .format("%Y-%m-%d")
    .to_string()
}

fn timestamp_text(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Row {
    /// The record's JSON text, written by hand from the values (numbers in the shortest
    /// round-trip notation Rust prints).
    fn json_text(&self) -> String {
        let mut members: Vec<(&str, String)> = Vec::new();
        let mut put = |name: &'static str, text: Option<String>| match text {
            Some(t) => members.push((name, t)),
            None if self.missing_as_absent => {}
            None => members.push((name, "null".to_owned())),
        };
        let string = |s: &str| serde_json::to_string(s).unwrap();
        put("s", self.s.as_deref().map(string));
        put("ti", self.ti.map(|v| v.to_string()));
        put("si", self.si.map(|v| v.to_string()));
        put("i", self.i.map(|v| v.to_string()));
        put("bi", self.bi.map(|v| v.to_string()));
        // The float's exact value as a double: it reads back as this very float.
        put("f", self.f.map(|v| format!("{:?}", f64::from(v))));
        put("d", self.d.map(|v| format!("{v:?}")));
        put("b", self.b.map(|v| v.to_string()));
        put("ts", self.ts.map(|v| string(&timestamp_text(v))));
        put("dt", self.dt.map(|v| string(&date_text(v))));
        put(
            "dec",
            self.dec.map(|(v, as_number)| {
                if as_number {
                    decimal_text(v)
                } else {
                    string(&decimal_text(v))
                }
            }),
        );
        put(
            "bin",
            self.bin
                .as_ref()
                .map(|v| string(&base64::engine::general_purpose::STANDARD.encode(v))),
        );
        put(
            "arr",
            self.arr.as_ref().map(|items| {
                let items: Vec<String> = items
                    .iter()
                    .map(|v| v.map_or("null".to_owned(), |v| v.to_string()))
                    .collect();
                format!("[{}]", items.join(","))
            }),
        );
        put(
            "m",
            self.m.as_ref().map(|entries| {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}:{}",
                            string(k),
                            v.as_deref().map_or("null".to_owned(), string)
                        )
                    })
                    .collect();
                format!("{{{}}}", entries.join(","))
            }),
        );
        put(
            "st",
            self.st.as_ref().map(|(x, y)| {
                format!(
                    "{{\"x\":{},\"y\":{}}}",
                    x.map_or("null".to_owned(), |v| v.to_string()),
                    y.as_deref().map_or("null".to_owned(), string)
                )
            }),
        );
        let members: Vec<String> = members
            .iter()
            .map(|(name, text)| format!("\"{name}\":{text}"))
            .collect();
        format!("{{{}}}", members.join(","))
    }
}

fn row() -> impl Strategy<Value = Row> {
    use proptest::option::of;
    let finite_f32 = any::<f32>().prop_filter("finite", |f| f.is_finite());
    let finite_f64 = any::<f64>().prop_filter("finite", |f| f.is_finite());
    // Years 0001..=9999, the range every accepted text form covers.
    let micros = -62_135_596_800_000_000i64..=253_402_300_799_999_999;
    let days = -719_162i32..=2_932_896;
    let decimal = prop_oneof![
        // As a JSON number: at most 15 significant digits, exact as a double.
        (-999_999_999_999_999i64..=999_999_999_999_999).prop_map(|v| (v, true)),
        // As a string: all 18 digits.
        (-999_999_999_999_999_999i64..=999_999_999_999_999_999).prop_map(|v| (v, false)),
    ];
    let first = (
        of(".{0,12}"),
        of(any::<i8>()),
        of(any::<i16>()),
        of(any::<i32>()),
        of(any::<i64>()),
        of(finite_f32),
        of(finite_f64),
        of(any::<bool>()),
    );
    let second = (
        of(micros),
        of(days),
        of(decimal),
        of(proptest::collection::vec(any::<u8>(), 0..16)),
        of(proptest::collection::vec(of(any::<i64>()), 0..4)),
        of(proptest::collection::btree_map(
            "[a-z]{1,4}",
            of(".{0,6}"),
            0..4,
        )),
        of((of(any::<i32>()), of("[a-z ]{0,6}"))),
        any::<bool>(),
    );
    (first, second).prop_map(
        |((s, ti, si, i, bi, f, d, b), (ts, dt, dec, bin, arr, m, st, missing_as_absent))| Row {
            s,
            ti,
            si,
            i,
            bi,
            f,
            d,
            b,
            ts,
            dt,
            dec,
            bin,
            arr,
            m,
            st,
            missing_as_absent,
        },
    )
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch.column_by_name(name).unwrap().as_ref()
}

/// Asserts that row `r` of `batch` holds exactly `row`'s values.
fn assert_row(batch: &RecordBatch, r: usize, row: &Row) -> Result<(), TestCaseError> {
    macro_rules! primitive {
        ($name:literal, $field:expr, $ty:ty) => {{
            let col = column(batch, $name).as_primitive::<$ty>();
            match $field {
                Some(v) => {
                    prop_assert!(col.is_valid(r), "{} is null", $name);
                    prop_assert_eq!(col.value(r), v, "{}", $name);
                }
                None => prop_assert!(col.is_null(r), "{} is not null", $name),
            }
        }};
    }
    let s = column(batch, "s").as_string::<i32>();
    prop_assert_eq!(s.is_valid(r).then(|| s.value(r)), row.s.as_deref());
    primitive!("ti", row.ti, Int8Type);
    primitive!("si", row.si, Int16Type);
    primitive!("i", row.i, Int32Type);
    primitive!("bi", row.bi, Int64Type);
    let f = column(batch, "f").as_primitive::<Float32Type>();
    prop_assert_eq!(
        f.is_valid(r).then(|| f.value(r).to_bits()),
        row.f.map(f32::to_bits)
    );
    let d = column(batch, "d").as_primitive::<Float64Type>();
    prop_assert_eq!(
        d.is_valid(r).then(|| d.value(r).to_bits()),
        row.d.map(f64::to_bits)
    );
    let b = column(batch, "b").as_boolean();
    prop_assert_eq!(b.is_valid(r).then(|| b.value(r)), row.b);
    primitive!("ts", row.ts, TimestampMicrosecondType);
    primitive!("dt", row.dt, Date32Type);
    primitive!("dec", row.dec.map(|(v, _)| i128::from(v)), Decimal128Type);
    let bin = column(batch, "bin").as_binary::<i32>();
    prop_assert_eq!(bin.is_valid(r).then(|| bin.value(r)), row.bin.as_deref());
    let arr = column(batch, "arr").as_list::<i32>();
    let got_arr = arr.is_valid(r).then(|| {
        let items = arr.value(r);
        let items = items.as_primitive::<Int64Type>();
        (0..items.len())
            .map(|j| items.is_valid(j).then(|| items.value(j)))
            .collect::<Vec<_>>()
    });
    prop_assert_eq!(got_arr, row.arr.clone());
    let m = column(batch, "m").as_map();
    let got_m = m.is_valid(r).then(|| {
        let entries = m.value(r);
        let keys = entries.column(0).as_string::<i32>();
        let values = entries.column(1).as_string::<i32>();
        (0..entries.len())
            .map(|j| {
                (
                    keys.value(j).to_owned(),
                    values.is_valid(j).then(|| values.value(j).to_owned()),
                )
            })
            .collect::<BTreeMap<_, _>>()
    });
    prop_assert_eq!(got_m, row.m.clone());
    let st = column(batch, "st").as_struct();
    let got_st = st.is_valid(r).then(|| {
        let x = st.column(0).as_primitive::<Int32Type>();
        let y = st.column(1).as_string::<i32>();
        (
            x.is_valid(r).then(|| x.value(r)),
            y.is_valid(r).then(|| y.value(r).to_owned()),
        )
    });
    prop_assert_eq!(got_st, row.st.clone());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_written_value_is_the_value_of_the_input_json(rows in proptest::collection::vec(row(), 1..8)) {
        let mut by_bytes = encoder(SCHEMA, SerdeOptions::default());
        let mut by_value = encoder(SCHEMA, SerdeOptions::default());
        for row in &rows {
            let text = row.json_text();
            by_bytes.append_bytes(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{text}: {}", e.message())))?;
            let value: Value = serde_json::from_str(&text).unwrap();
            by_value.append_json(&value).map_err(|e| TestCaseError::fail(format!("{text}: {}", e.message())))?;
        }
        for (path, encoder) in [("bytes", by_bytes), ("value", by_value)] {
            let batch = read_parquet(encoder.finish().unwrap());
            prop_assert_eq!(batch.num_rows(), rows.len());
            for (r, row) in rows.iter().enumerate() {
                assert_row(&batch, r, row).map_err(|e| TestCaseError::fail(format!("{path} path, row {r} {}: {e}", row.json_text())))?;
            }
        }
    }
}

#[test]
fn the_generated_json_is_what_it_says() {
    // The reference itself: a hand-checked row.
    let row = Row {
        s: Some("a\"é".into()),
        ti: Some(-1),
        si: None,
        i: Some(7),
        bi: Some(i64::MIN),
        f: Some(0.1),
        d: Some(-0.0),
        b: Some(true),
        ts: Some(1_000_001),
        dt: Some(-1),
        dec: Some((-12_345, true)),
        bin: Some(vec![0, 255]),
        arr: Some(vec![Some(1), None]),
        m: Some(BTreeMap::from([("k".into(), None)])),
        st: Some((None, Some("y".into()))),
        missing_as_absent: true,
    };
    let value: Value = serde_json::from_str(&row.json_text()).unwrap();
    let mut expected = Map::new();
    for (k, v) in [
        ("s", json!("a\"é")),
        ("ti", json!(-1)),
        ("i", json!(7)),
        ("bi", json!(i64::MIN)),
        ("f", json!(f64::from(0.1f32))),
        ("d", json!(-0.0)),
        ("b", json!(true)),
        ("ts", json!("1970-01-01T00:00:01.000001Z")),
        ("dt", json!("1969-12-31")),
        ("dec", json!(-1.2345)),
        ("bin", json!("AP8=")),
        ("arr", json!([1, null])),
        ("m", json!({"k": null})),
        ("st", json!({"x": null, "y": "y"})),
    ] {
        expected.insert(k.to_owned(), v);
    }
    assert_eq!(value, Value::Object(expected));
}
