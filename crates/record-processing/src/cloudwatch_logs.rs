//! CloudWatch Logs subscription envelopes (what a subscription filter puts into a Kinesis
//! stream, after gzip): Firehose's CloudWatchLogProcessing `DataMessageExtraction`.
//!
//! An envelope is `{"messageType": "DATA_MESSAGE" | "CONTROL_MESSAGE", "owner", "logGroup",
//! "logStream", "subscriptionFilters", "logEvents": [{"id", "timestamp", "message"}]}`. A
//! `DATA_MESSAGE` becomes one record per log event, holding the event's `message` as UTF-8
//! (without quotes or escapes); a `CONTROL_MESSAGE` (CloudWatch Logs checking that the stream
//! is reachable) carries no data and is dropped.

use serde::Deserialize;

/// What an envelope holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// A `DATA_MESSAGE`: the `message` of each log event, in order (possibly none).
    Data(Vec<Vec<u8>>),
    /// A `CONTROL_MESSAGE`: nothing to deliver.
    Control,
}

/// Why a record is not a CloudWatch Logs envelope; it goes to the error output unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON, or JSON without the envelope's fields (`messageType`, `logEvents` with a
    /// string `message` in each event).
    #[error("not a CloudWatch Logs subscription envelope: {0}")]
    NotAnEnvelope(String),
    /// A `messageType` other than `DATA_MESSAGE` and `CONTROL_MESSAGE`.
    #[error("unknown CloudWatch Logs messageType `{0}`")]
    UnknownMessageType(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    message_type: String,
    #[serde(default)]
    log_events: Vec<RawLogEvent>,
}

#[derive(Deserialize)]
struct RawLogEvent {
    message: String,
}

/// Reads one envelope (already decompressed). Guarantees: never panics; a `DATA_MESSAGE`
/// yields exactly its log events' messages, in order; anything else is an error, never a
/// silent drop (only `CONTROL_MESSAGE` carries nothing).
///
/// # Errors
/// [`EnvelopeError`]: the bytes are not an envelope, or of an unknown message type.
pub fn extract_messages(data: &[u8]) -> Result<Envelope, EnvelopeError> {
    let raw: RawEnvelope =
        serde_json::from_slice(data).map_err(|e| EnvelopeError::NotAnEnvelope(e.to_string()))?;
    match raw.message_type.as_str() {
        "DATA_MESSAGE" => Ok(Envelope::Data(
            raw.log_events
                .into_iter()
                .map(|e| e.message.into_bytes())
                .collect(),
        )),
        "CONTROL_MESSAGE" => Ok(Envelope::Control),
        other => Err(EnvelopeError::UnknownMessageType(
            other.chars().take(64).collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = r#"{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/aws/lambda/f","logStream":"2026/12/02/[$LATEST]abc","subscriptionFilters":["to-kinesis"],"logEvents":[{"id":"1","timestamp":1764633600000,"message":"{\"level\":\"info\",\"msg\":\"a \\\"quoted\\\" word\"}"},{"id":"2","timestamp":1764633600001,"message":"plain line\twith tab"}]}"#;

    #[test]
    fn a_data_message_becomes_its_log_events_messages_unescaped_in_order() {
        assert_eq!(
            extract_messages(DATA.as_bytes()).unwrap(),
            Envelope::Data(vec![
                br#"{"level":"info","msg":"a \"quoted\" word"}"#.to_vec(),
                b"plain line\twith tab".to_vec(),
            ])
        );
    }

    #[test]
    fn a_control_message_carries_nothing() {
        let control = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1764633600000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#;
        assert_eq!(
            extract_messages(control.as_bytes()).unwrap(),
            Envelope::Control
        );
    }

    #[test]
    fn anything_else_is_an_error_naming_what_is_wrong() {
        for (bytes, says) in [
            (
                &b"not json"[..],
                "not a CloudWatch Logs subscription envelope",
            ),
            (br#"{"logEvents":[]}"#, "messageType"),
            (
                br#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1"}]}"#,
                "message",
            ),
            (
                br#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":5}]}"#,
                "string",
            ),
            (
                br#"{"messageType":"OTHER","logEvents":[]}"#,
                "unknown CloudWatch Logs messageType `OTHER`",
            ),
        ] {
            let e = extract_messages(bytes).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = extract_messages(&data);
        }

        #[test]
        fn every_message_comes_back_exactly(messages in proptest::collection::vec(".*", 0..20)) {
            let events: Vec<serde_json::Value> = messages
                .iter()
                .enumerate()
                .map(|(i, m)| serde_json::json!({"id": i.to_string(), "timestamp": 1, "message": m}))
                .collect();
            let envelope = serde_json::json!({"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s", "subscriptionFilters": [], "logEvents": events});
            let got = extract_messages(envelope.to_string().as_bytes()).unwrap();
            let want: Vec<Vec<u8>> = messages.into_iter().map(String::into_bytes).collect();
            proptest::prop_assert_eq!(got, Envelope::Data(want));
        }
    }
}
