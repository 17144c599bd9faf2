//! A real Prometheus (Debian's `prometheus`, started by `scripts/local-prometheus`) scraping
//! workers every second and evaluating alert rules every second, and its HTTP API as the tests
//! read it: instant queries, the loaded rules, the alerts, label values. Killed on drop; its
//! configuration and data live in a temporary folder deleted with it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::worker_endpoints::free_port;

/// The running server.
pub struct PrometheusServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl PrometheusServer {
    /// Starts Prometheus loading `rules` and scraping `targets` (`host:port` of each worker's
    /// `metrics.listen`, job `kinesink`), and waits until it answers ready.
    pub fn start(rules: &Path, targets: &[String]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/local-prometheus");
        let child = Command::new(script)
            .arg(dir.path())
            .arg(port.to_string())
            .arg(rules)
            .args(targets)
            .stdin(Stdio::null())
            .spawn()
            .expect("scripts/local-prometheus starts (Debian's prometheus package: scripts/local-aws install prometheus)");
        let mut server = Self { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.get("/-/ready").is_none_or(|(code, _)| code != 200) {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("prometheus exited before it was ready: {status}");
            }
            assert!(Instant::now() < deadline, "prometheus not ready in 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// (status, body) of `GET path` (HTTP/1.0: no chunked body), or `None` if nothing answers.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((code, body))
    }

    /// The `data` of an API answer, failing with Prometheus's error when it is not a success.
    fn api(&self, path: &str) -> Value {
        let (code, body) = self.get(path).expect("prometheus answers");
        let answer: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
        assert_eq!(
            answer["status"], "success",
            "{path} answered {code}: {body}"
        );
        answer["data"].clone()
    }

    /// The series an instant query returns now (its `result`), failing when the query is
    /// refused (a syntax error, an unknown function).
    pub fn query(&self, promql: &str) -> Vec<Value> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(promql)));
        match &data["result"] {
            Value::Array(series) => series.clone(),
            // A scalar or a string: one value.
            other => vec![other.clone()],
        }
    }

    /// Each loaded rule's name and expression, as Prometheus parsed and prints it.
    pub fn rules(&self) -> Vec<(String, String)> {
        self.rule_fields()
            .into_iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    r["query"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The rules whose last evaluation did not succeed: name, health (`unknown` before the
    /// first evaluation, `err`) and last error.
    pub fn unhealthy_rules(&self) -> Vec<(String, String, String)> {
        self.rule_fields()
            .into_iter()
            .filter(|r| r["health"] != "ok")
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    r["health"].as_str().unwrap_or("").to_owned(),
                    r["lastError"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    fn rule_fields(&self) -> Vec<Value> {
        self.api("/api/v1/rules")["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .collect()
    }

    /// The active (pending or firing) alerts: name, state and labels of each.
    pub fn alerts(&self) -> Vec<Value> {
        self.api("/api/v1/alerts")["alerts"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// The values of `label` among the series `selector` selects.
    pub fn label_values(&self, label: &str, selector: &str) -> Vec<String> {
        self.api(&format!(
            "/api/v1/label/{label}/values?match[]={}",
            encode(selector)
        ))
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` percent-encoded for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
