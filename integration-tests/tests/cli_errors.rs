//! Bad configuration and environment: one-line errors naming the key or endpoint, exit code 2,
//! no panic. These need no stand-ins.

mod common;

use common::*;

fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let p = dir.path().join("k.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn assert_one_line_error(out: &std::process::Output, needles: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "exit code 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "exactly one line: {stderr}"
    );
    assert!(stderr.starts_with("kinesink: error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{n:?} not in {stderr}");
    }
}

const GOOD: &str =
    "name = \"n\"\n[source]\nstream = \"s\"\n[destination]\nurl = \"s3://bucket-x\"\n";

#[test]
fn an_unknown_key_is_named_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(&dir, &GOOD.replace("stream = ", "steam = "));
    let out = run(kinesink().args(["run", "--config"]).arg(&cfg));
    assert_one_line_error(&out, &["steam"]);
}

#[test]
fn a_missing_config_file_is_named() {
    let out = run(kinesink().args(["run", "--config", "/nonexistent/kinesink.toml"]));
    assert_one_line_error(&out, &["/nonexistent/kinesink.toml"]);
}

#[test]
fn an_unreachable_endpoint_is_named_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        &dir,
        &GOOD.replace(
            "stream = \"s\"",
            "stream = \"s\"\nendpoint_url = \"http://127.0.0.1:9\"",
        ),
    );
    let out = run(kinesink()
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .args(["run", "--config"])
        .arg(&cfg));
    assert_one_line_error(&out, &["http://127.0.0.1:9", "Kinesis"]);
}

#[test]
fn missing_credentials_are_reported_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        &dir,
        &GOOD.replace(
            "stream = \"s\"",
            "stream = \"s\"\nendpoint_url = \"http://127.0.0.1:9\"",
        ),
    );
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let out = run(kinesink()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .args(["run", "--config"])
        .arg(&cfg));
    assert_one_line_error(&out, &["no AWS credentials"]);
}

#[test]
fn a_bad_environment_override_names_the_variable_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(&dir, GOOD);
    let out = run(kinesink()
        .env("KINESINK_DESTINATION__BUFFER_SIZE_MIB", "lots")
        .args(["run", "--config"])
        .arg(&cfg));
    assert_one_line_error(&out, &["destination.buffer_size_mib"]);
}

#[test]
fn check_config_prints_the_effective_settings_of_a_valid_file_and_refuses_a_bad_one_with_exit_code_2()
 {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kinesink.toml");
    let out = run(kinesink().args(["check-config", "--config"]).arg(&example));
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("events/event_type=!{partitionKeyFromQuery:event_type}"),
        "{stdout}"
    );
    assert!(stdout.contains("parquet, 10 columns, zstd"), "{stdout}");
    assert!(stdout.contains("is valid"), "{stdout}");
    // Values as a user writes them in the file, never Rust's debug output.
    assert!(stdout.contains("s3://my-bucket/"), "{stdout}");
    assert!(stdout.contains("trim_horizon"), "{stdout}");
    for debug in [
        "Arn(",
        "Name(",
        "S3 {",
        "TrimHorizon",
        "Latest",
        "Json",
        "Zstd",
    ] {
        assert!(!stdout.contains(debug), "`{debug}` in {stdout}");
    }

    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        &dir,
        &GOOD.replace(
            "[destination]",
            "[processing]\npartition_query = \"{a: .a\"\n[destination]",
        ),
    );
    let out = run(kinesink().args(["check-config", "--config"]).arg(&bad));
    assert_one_line_error(&out, &["processing.partition_query"]);
}
