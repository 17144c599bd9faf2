//! The Lambda processor through the REAL `aws-sdk-lambda` invoker against a local Invoke
//! stand-in (`common::lambda_stand_in`): Ok / Dropped / ProcessingFailed, every malformed
//! response, throttling and 5xx retried, retries spent, a timeout, a function error; and one
//! `kinesink dry-run` end to end through the stand-in. Needs no AWS stand-ins.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::lambda_stand_in::{Answer, LambdaStandIn};
use common::{kinesink, run};
use kinesink_delivery::{
    BufferAction, BufferEvent, BufferLimits, LambdaProcessor, LambdaRetryPolicy, MemorySink,
    ObjectContents, ObjectLayout, ObjectSink, PartitionLimit, PartitionLimitAction, PerformActions,
    ResumeState, SdkLambdaInvoker, ShardBuffers, drive_event,
};
use kinesink_parquet_writer::{Codec, ObjectFormat, RecordFraming};
use kinesink_partitioning::OutputPrefixes;
use kinesink_record_deaggregation::UserRecord;
use kinesink_record_processing::lambda_event::decode_request;
use kinesink_sequence_position::SequencePosition;

/// An `aws-sdk-lambda` client for the stand-in: test credentials, SDK retries off (the
/// processor retries), the stand-in's endpoint.
fn client(endpoint: &str) -> aws_sdk_lambda::Client {
    let conf = aws_sdk_lambda::Config::builder()
        .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
        .region(aws_sdk_lambda::config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        .endpoint_url(endpoint)
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

fn processor(endpoint: &str, retries: u32, timeout: Duration) -> LambdaProcessor {
    LambdaProcessor {
        function: "enrich".into(),
        buffer_size_bytes: 1 << 20,
        buffer_interval_ms: 60_000,
        retry: LambdaRetryPolicy {
            retries,
            base_delay_ms: 5,
            max_delay_ms: 20,
        },
        invoker: Arc::new(SdkLambdaInvoker::new(client(endpoint), timeout)),
        delivery_stream_arn: "arn:aws:firehose:eu-west-1:123456789012:deliverystream/d".into(),
        source_kinesis_stream_arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/s".into(),
        region: "eu-west-1".into(),
    }
}

/// Acknowledges every action at once, writing objects to a memory sink.
struct Acknowledge(Arc<MemorySink>);

impl PerformActions for Acknowledge {
    type Error = String;

    async fn perform(&mut self, action: BufferAction) -> Result<Option<BufferEvent>, String> {
        Ok(Some(match action {
            BufferAction::Write(o) => {
                let contents = ObjectContents {
                    last: o.last.clone(),
                    records: o.record_count as u64,
                };
                self.0
                    .put(&o.key, o.body, &contents)
                    .await
                    .map_err(|e| e.to_string())?;
                BufferEvent::ObjectDurable(o.ticket)
            }
            BufferAction::RecordProgress { .. } => BufferEvent::ProgressRecorded,
            BufferAction::Checkpoint(p) => BufferEvent::CheckpointWritten(p),
        }))
    }
}

/// What came out: data lines (sorted) and error-output records, by the stand-in's answers.
struct Delivered {
    lines: Vec<String>,
    errors: Vec<serde_json::Value>,
}

impl Delivered {
    fn error_codes(&self) -> Vec<(String, String)> {
        let mut codes: Vec<(String, String)> = self
            .errors
            .iter()
            .map(|e| {
                let raw = STANDARD.decode(e["rawData"].as_str().unwrap()).unwrap();
                (
                    String::from_utf8(raw).unwrap(),
                    e["errorCode"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        codes.sort();
        codes
    }
}

/// Sends `texts` (records 1..) through the processor and buffers, then drains.
async fn deliver(processor: &LambdaProcessor, texts: &[&str]) -> Delivered {
    deliver_under(processor, texts, None).await.0
}

/// [`deliver`] with a data prefix; also returns every data object's key.
async fn deliver_under(
    processor: &LambdaProcessor,
    texts: &[&str],
    prefix: Option<&str>,
) -> (Delivered, Vec<String>) {
    let sink = Arc::new(MemorySink::new());
    let layout = ObjectLayout {
        shard_id: "shardId-000000000000".into(),
        name: "lambda".into(),
        format: ObjectFormat::Records {
            framing: RecordFraming::NewlineDelimited,
            codec: Codec::None,
        },
        extension: String::new(),
        error_codec: Codec::None,
        prefixes: Arc::new(
            OutputPrefixes::parse(prefix, Some("err/!{firehose:error-output-type}/")).unwrap(),
        ),
        query: None,
        partition_limit: PartitionLimit {
            max_active: 10,
            action: PartitionLimitAction::ErrorOutput,
        },
        table: None,
    };
    let mut buffers = ShardBuffers::new(
        layout,
        BufferLimits {
            size_bytes: 1 << 20,
            interval_ms: 3_600_000,
        },
        ResumeState::default(),
    );
    let mut lambda = processor.for_shard("shardId-000000000000", None, None);
    let mut perform = Acknowledge(Arc::clone(&sink));
    for (i, text) in texts.iter().enumerate() {
        let record = UserRecord {
            data: bytes::Bytes::from(text.to_string()),
            partition_key: "pk".into(),
            explicit_hash_key: None,
            position: SequencePosition::new((100 + i).to_string(), 0),
            approximate_arrival_ms: 1_764_633_600_000,
        };
        drive_event(
            Some(&mut lambda),
            &mut buffers,
            0,
            BufferEvent::Record(record),
            &mut perform,
        )
        .await
        .unwrap();
    }
    drive_event(
        Some(&mut lambda),
        &mut buffers,
        0,
        BufferEvent::Drain,
        &mut perform,
    )
    .await
    .unwrap();
    assert!(lambda.stage.is_empty(), "nothing left waiting");
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut keys = Vec::new();
    for (key, body) in sink.objects() {
        let text = String::from_utf8(body).unwrap();
        if key.starts_with("err/") {
            errors.extend(text.lines().map(|l| serde_json::from_str(l).unwrap()));
        } else {
            lines.extend(text.lines().map(str::to_owned));
            keys.push(key);
        }
    }
    lines.sort();
    (Delivered { lines, errors }, keys)
}

/// Firehose's response with one entry per `(recordId, result, data)`.
fn response(entries: &[serde_json::Value]) -> Answer {
    Answer::Payload(
        serde_json::json!({ "records": entries })
            .to_string()
            .into_bytes(),
    )
}

/// The request's records as `(recordId, data text)`.
fn request_records(body: &[u8]) -> Vec<(String, String)> {
    decode_request(body)
        .unwrap()
        .records
        .into_iter()
        .map(|r| (r.record_id, String::from_utf8(r.data).unwrap()))
        .collect()
}

/// Answers each record by its text: `drop…` Dropped, `fail…` ProcessingFailed, others Ok
/// upper-cased.
fn by_text(body: &[u8]) -> Answer {
    let entries: Vec<serde_json::Value> = request_records(body)
        .into_iter()
        .map(|(id, text)| {
            // The transform writes JSON strings: `"drop this"`.
            let bare = text.trim_matches('"');
            let result = if bare.starts_with("drop") {
                "Dropped"
            } else if bare.starts_with("fail") {
                "ProcessingFailed"
            } else {
                "Ok"
            };
            serde_json::json!({"recordId": id, "result": result, "data": STANDARD.encode(text.to_uppercase())})
        })
        .collect();
    response(&entries)
}

#[tokio::test]
async fn ok_dropped_and_processing_failed_records_through_the_sdk_invoker() {
    let stand_in = LambdaStandIn::start(|_, body, _| by_text(body)).await;
    let p = processor(&stand_in.endpoint, 3, Duration::from_secs(10));
    let out = deliver(&p, &["a", "drop b", "fail c", "d"]).await;
    assert_eq!(out.lines, ["A", "D"]);
    assert_eq!(
        out.error_codes(),
        [(
            "fail c".to_owned(),
            "Lambda.ProcessingFailedStatus".to_owned()
        )]
    );
    let calls = stand_in.calls();
    assert_eq!(calls.len(), 1, "one batch");
    assert_eq!(calls[0].function, "enrich");
    let request = decode_request(&calls[0].body).unwrap();
    assert_eq!(request.region, "eu-west-1");
    assert_eq!(request.records.len(), 4);
    assert_eq!(request.records[0].shard_id, "shardId-000000000000");
}

#[tokio::test]
async fn every_malformed_response_kind_fails_the_records_it_concerns_with_firehoses_code() {
    // Record texts name the defect the stand-in gives their entry.
    let stand_in = LambdaStandIn::start(|_, body, _| {
        let mut entries = Vec::new();
        for (id, text) in request_records(body) {
            let ok =
                serde_json::json!({"recordId": id, "result": "Ok", "data": STANDARD.encode(&text)});
            match text.as_str() {
                "missing" => {}
                "duplicated" => {
                    entries.push(ok.clone());
                    entries.push(ok);
                }
                "bad-base64" => entries.push(
                    serde_json::json!({"recordId": id, "result": "Ok", "data": "***not base64***"}),
                ),
                "bad-result" => {
                    entries.push(serde_json::json!({"recordId": id, "result": "Maybe", "data": ""}))
                }
                _ => entries.push(ok),
            }
        }
        entries.push(serde_json::json!({"recordId": "invented-1", "result": "Ok", "data": ""}));
        response(&entries)
    })
    .await;
    let p = processor(&stand_in.endpoint, 0, Duration::from_secs(10));
    let out = deliver(
        &p,
        &["fine", "missing", "duplicated", "bad-base64", "bad-result"],
    )
    .await;
    assert_eq!(
        out.lines,
        ["fine"],
        "the extra entry is not ours and delivers nothing"
    );
    assert_eq!(
        out.error_codes(),
        [
            (
                "bad-base64".to_owned(),
                "Lambda.JsonProcessingException".to_owned()
            ),
            (
                "bad-result".to_owned(),
                "Lambda.JsonProcessingException".to_owned()
            ),
            (
                "duplicated".to_owned(),
                "Lambda.DuplicatedRecordId".to_owned()
            ),
            ("missing".to_owned(), "Lambda.MissingRecordId".to_owned()),
        ]
    );

    for (answer, code) in [
        (
            Answer::Payload(b"not json".to_vec()),
            "Lambda.JsonProcessingException",
        ),
        (
            Answer::Payload(br#"{"recs": []}"#.to_vec()),
            "Lambda.JsonProcessingException",
        ),
        (
            Answer::Payload(vec![b' '; 6_291_457]),
            "Lambda.FunctionError",
        ),
    ] {
        let stand_in = LambdaStandIn::start(move |_, _, _| answer.clone()).await;
        let p = processor(&stand_in.endpoint, 0, Duration::from_secs(10));
        let out = deliver(&p, &["x", "y"]).await;
        assert!(out.lines.is_empty());
        assert_eq!(
            out.error_codes(),
            [
                ("x".to_owned(), code.to_owned()),
                ("y".to_owned(), code.to_owned())
            ]
        );
    }
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_until_the_function_answers() {
    let stand_in = LambdaStandIn::start(|_, body, call| match call {
        1 => Answer::Status(429, "TooManyRequestsException"),
        2 => Answer::Status(500, "ServiceException"),
        3 => Answer::Status(502, "EC2UnexpectedException"),
        _ => by_text(body),
    })
    .await;
    let p = processor(&stand_in.endpoint, 3, Duration::from_secs(10));
    let out = deliver(&p, &["a", "b"]).await;
    assert_eq!(out.lines, ["A", "B"]);
    assert!(out.errors.is_empty());
    let calls = stand_in.calls();
    assert_eq!(calls.len(), 4);
    assert!(
        calls.iter().all(|c| c.body == calls[0].body),
        "every attempt sends the same request"
    );
}

#[tokio::test]
async fn spent_retries_send_every_record_of_the_batch_to_processing_failed_with_the_code() {
    for (answer, code, attempts) in [
        (
            Answer::Status(429, "TooManyRequestsException"),
            "Lambda.InvokeLimitExceeded",
            3,
        ),
        (
            Answer::Status(503, "ServiceException"),
            "Lambda.ServiceException",
            3,
        ),
        (
            Answer::FunctionError("boom".into()),
            "Lambda.FunctionError",
            3,
        ),
        (
            Answer::Status(404, "ResourceNotFoundException"),
            "Lambda.ResourceNotFound",
            1,
        ),
    ] {
        let stand_in = LambdaStandIn::start(move |_, _, _| answer.clone()).await;
        let p = processor(&stand_in.endpoint, 2, Duration::from_secs(10));
        let out = deliver(&p, &["x", "y"]).await;
        assert!(out.lines.is_empty());
        assert_eq!(
            out.error_codes(),
            [
                ("x".to_owned(), code.to_owned()),
                ("y".to_owned(), code.to_owned())
            ],
            "{code}"
        );
        assert_eq!(stand_in.calls().len(), attempts, "{code}: attempts");
    }
}

#[tokio::test]
async fn an_invocation_that_outlasts_the_timeout_is_retried_then_fails_as_timed_out() {
    let stand_in = LambdaStandIn::start(|_, body, call| {
        if call == 1 {
            Answer::After(Duration::from_secs(3), Box::new(by_text(body)))
        } else {
            by_text(body)
        }
    })
    .await;
    let p = processor(&stand_in.endpoint, 1, Duration::from_millis(300));
    let out = deliver(&p, &["a"]).await;
    assert_eq!(out.lines, ["A"], "the retry after the timeout succeeded");

    let slow = LambdaStandIn::start(|_, body, _| {
        Answer::After(Duration::from_secs(3), Box::new(by_text(body)))
    })
    .await;
    let p = processor(&slow.endpoint, 0, Duration::from_millis(300));
    let out = deliver(&p, &["a"]).await;
    assert_eq!(
        out.error_codes(),
        [("a".to_owned(), "Lambda.FunctionTimedOut".to_owned())]
    );
}

#[test]
fn dry_run_sends_records_through_the_function_after_the_transform() {
    let (stand_in, _runtime) = LambdaStandIn::start_in_background(|_, body, _| by_text(body));
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "name = \"lambda-dry-run\"\n[source]\nstream = \"s\"\nregion = \"eu-west-1\"\n\
         [processing]\ntransform = '.msg'\n\
         [processing.lambda]\nfunction = \"enrich\"\nendpoint_url = \"{}\"\nretries = 0\n\
         [destination]\nurl = \"s3://bucket-x\"\nprefix = \"data/\"\n\
         error_output_prefix = \"errors/!{{firehose:error-output-type}}/\"\n\
         [format]\ncompression = \"none\"\n",
        stand_in.endpoint
    );
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut input = String::new();
    for (i, msg) in ["hello", "drop this", "fail this", "world"]
        .iter()
        .enumerate()
    {
        let data = serde_json::json!({ "msg": msg }).to_string();
        input.push_str(
            &serde_json::json!({"Data": STANDARD.encode(data), "PartitionKey": "p",
                "SequenceNumber": (1000 + i).to_string(), "ApproximateArrivalTimestamp": 1_764_633_600.0})
            .to_string(),
        );
        input.push('\n');
    }
    let path = dir.path().join("input");
    std::fs::write(&path, input).unwrap();
    let out_dir = dir.path().join("out");
    let out = run(kinesink()
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .args(["dry-run", "--input-format", "get-records", "--config"])
        .arg(&cfg)
        .arg("--input")
        .arg(&path)
        .arg("--output")
        .arg(&out_dir));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fn read_all(dir: &std::path::Path, lines: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = e.unwrap().path();
            if path.is_dir() {
                read_all(&path, lines);
            } else if !path.file_name().unwrap().to_string_lossy().starts_with('.') {
                // (hidden sidecars hold which records an object has)
                let text = std::fs::read_to_string(&path).unwrap();
                lines.extend(text.lines().map(str::to_owned));
            }
        }
    }
    let read = |rel: &str| -> Vec<String> {
        let mut lines = Vec::new();
        read_all(&out_dir.join(rel), &mut lines);
        lines
    };
    let mut data = read("data");
    data.sort();
    assert_eq!(
        data,
        ["\"HELLO\"", "\"WORLD\""],
        "the transform's output, then the function's"
    );
    let errors = read("errors/processing-failed");
    assert_eq!(errors.len(), 1);
    let error: serde_json::Value = serde_json::from_str(&errors[0]).unwrap();
    assert_eq!(error["errorCode"], "Lambda.ProcessingFailedStatus");
    assert_eq!(error["rawData"], STANDARD.encode("\"fail this\""));
    let calls = stand_in.calls();
    assert_eq!(calls.len(), 1);
    let sent: Vec<String> = request_records(&calls[0].body)
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        sent,
        ["\"hello\"", "\"drop this\"", "\"fail this\"", "\"world\""]
    );
}

#[tokio::test]
async fn partition_keys_from_the_response_place_records_and_a_missing_key_goes_to_the_error_output()
{
    let stand_in = LambdaStandIn::start(|_, body, _| {
        let entries: Vec<serde_json::Value> = request_records(body)
            .into_iter()
            .map(|(id, text)| {
                let mut entry = serde_json::json!({"recordId": id, "result": "Ok", "data": STANDARD.encode(&text)});
                if let Some(customer) = text.strip_prefix("customer ") {
                    entry["metadata"] = serde_json::json!({"partitionKeys": {"customer": customer}});
                }
                entry
            })
            .collect();
        response(&entries)
    })
    .await;
    let p = processor(&stand_in.endpoint, 0, Duration::from_secs(10));
    let (out, keys) = deliver_under(
        &p,
        &["customer a", "customer b", "customer a", "no keys"],
        Some("c=!{partitionKeyFromLambda:customer}/"),
    )
    .await;
    assert_eq!(out.lines, ["customer a", "customer a", "customer b"]);
    assert_eq!(
        keys,
        [
            "c=a/lambda-shardId-000000000000-100-0",
            "c=b/lambda-shardId-000000000000-101-0"
        ]
    );
    assert_eq!(out.errors.len(), 1, "{:?}", out.errors);
    assert_eq!(
        STANDARD
            .decode(out.errors[0]["rawData"].as_str().unwrap())
            .unwrap(),
        b"no keys"
    );
}
