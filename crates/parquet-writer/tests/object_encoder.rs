//! `ObjectFormat` / `ObjectEncoder`: one encoder type per open buffer, whatever the format.

mod common;

use std::io::Read;
use std::sync::Arc;

use common::read_parquet;
use kinesink_parquet_writer::{
    Codec, ObjectFormat, ParquetOptions, ParquetTableFormat, RecordFraming, SerdeOptions,
    TableSchema,
};

fn parquet_format() -> ObjectFormat {
    let schema = Arc::new(TableSchema::parse_hive("a int, b string").unwrap());
    ObjectFormat::Parquet(Arc::new(
        ParquetTableFormat::new(
            schema,
            Arc::new(SerdeOptions::default()),
            ParquetOptions::default(),
        )
        .unwrap(),
    ))
}

#[test]
fn file_extensions_follow_firehose_per_format_and_codec() {
    let records = |codec| ObjectFormat::Records {
        framing: RecordFraming::NewlineDelimited,
        codec,
    };
    assert_eq!(parquet_format().file_extension(), ".parquet");
    assert_eq!(records(Codec::Gzip).file_extension(), ".gz");
    assert_eq!(records(Codec::Zstd { level: 3 }).file_extension(), ".zst");
    assert_eq!(records(Codec::Snappy).file_extension(), ".snappy");
    assert_eq!(records(Codec::None).file_extension(), "");
}

#[test]
fn a_parquet_object_uses_the_parsed_record_when_given_and_the_raw_bytes_otherwise() {
    let mut enc = parquet_format().new_encoder();
    let raw = br#"{"a":1,"b":"x"}"#;
    // The parsed record is what is converted when present (here it deliberately differs from raw).
    let mut parser = kinesink_parquet_writer::JsonRecordParser::new();
    let parsed = parser.parse(br#"{"a":2,"b":"y"}"#).unwrap();
    enc.append(raw, Some(&parsed)).unwrap();
    enc.append(raw, None).unwrap();
    assert!(enc.append(b"{\"a\":\"x\"}", None).is_err());
    assert_eq!(enc.record_count(), 2);
    assert_eq!(
        enc.input_bytes(),
        2 * raw.len(),
        "a refused record is not counted"
    );
    assert!(enc.buffered_bytes() > 0);
    let batch = read_parquet(enc.finish().unwrap());
    let a: Vec<i32> =
        arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Int32Type>(batch.column(0))
            .values()
            .to_vec();
    assert_eq!(a, [2, 1]);
}

#[test]
fn a_record_object_takes_every_record_as_bytes_and_never_refuses() {
    let format = ObjectFormat::Records {
        framing: RecordFraming::NewlineDelimited,
        codec: Codec::Snappy,
    };
    let mut enc = format.new_encoder();
    enc.append(b"not json at all", None).unwrap();
    let mut parser = kinesink_parquet_writer::JsonRecordParser::new();
    let ignored = parser.parse(br#"{"ignored":true}"#).unwrap();
    enc.append(b"{\"a\":1}", Some(&ignored)).unwrap();
    assert_eq!(enc.record_count(), 2);
    assert_eq!(enc.input_bytes(), "not json at all\n{\"a\":1}\n".len());
    let mut out = Vec::new();
    snap::read::FrameDecoder::new(enc.finish().unwrap().as_slice())
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, b"not json at all\n{\"a\":1}\n");
}

#[test]
fn compacting_a_parquet_object_encodes_its_rows_now_and_keeps_every_row_in_order() {
    let mut enc = parquet_format().new_encoder();
    for i in 0..300 {
        enc.append(
            format!(r#"{{"a":{i},"b":"text {i} {}"}}"#, "x".repeat(400 + i % 50)).as_bytes(),
            None,
        )
        .unwrap();
    }
    let before = enc.buffered_bytes();
    let unencoded = enc.compactable_bytes();
    assert!(unencoded > 0 && unencoded <= before);
    enc.compact();
    assert_eq!(enc.compactable_bytes(), 0, "every buffered row is encoded");
    assert!(
        enc.buffered_bytes() < before,
        "compressed row groups hold less than the rows did ({} >= {before})",
        enc.buffered_bytes()
    );
    enc.compact(); // nothing buffered: no empty row group
    enc.append(br#"{"a":300,"b":"few"}"#, None).unwrap();
    enc.compact(); // too few bytes for a row group of their own: left buffered
    assert!(enc.compactable_bytes() == 0);
    for i in 301..400 {
        enc.append(format!(r#"{{"a":{i},"b":"text {i}"}}"#).as_bytes(), None)
            .unwrap();
    }
    assert_eq!(enc.record_count(), 400);
    let bytes = enc.finish().unwrap();
    let reader =
        parquet::file::reader::SerializedFileReader::new(bytes::Bytes::from(bytes.clone()))
            .unwrap();
    use parquet::file::reader::FileReader as _;
    assert_eq!(
        reader.metadata().num_row_groups(),
        2,
        "the compacted rows, then the rest"
    );
    let batch = read_parquet(bytes);
    let a: Vec<i32> =
        arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Int32Type>(batch.column(0))
            .values()
            .to_vec();
    assert_eq!(a, (0..400).collect::<Vec<i32>>());
}

#[test]
fn compacting_a_record_object_changes_nothing() {
    let format = ObjectFormat::Records {
        framing: RecordFraming::NewlineDelimited,
        codec: Codec::None,
    };
    let mut enc = format.new_encoder();
    enc.append(b"{\"a\":1}", None).unwrap();
    assert_eq!(enc.compactable_bytes(), 0);
    enc.compact();
    enc.append(b"{\"a\":2}", None).unwrap();
    assert_eq!(enc.finish().unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
}
