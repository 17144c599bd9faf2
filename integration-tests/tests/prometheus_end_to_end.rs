//! The alert rules and the Grafana dashboard against a real Prometheus fed by real workers.
//!
//! Prometheus (Debian's package, through `scripts/local-prometheus`: 1 s scrapes and rule
//! evaluations) loads `deploy/prometheus/kinesink-alerts.rules.yml` and scrapes three
//! `kinesink run` workers: two sharing a 2-shard stream into S3 objects, and one delivering the
//! same stream into an Iceberg table (its own lease table), so the Iceberg panels and alert
//! have series too. Once they have delivered, every PromQL expression of the dashboard and of
//! the rules is evaluated through `/api/v1/query`:
//! - a dashboard expression as it is, with its template variables as Grafana fills them when
//!   "All" is chosen: `$job` = `kinesink`, `$instance` = `.*` (the variable's `allValue`), and
//!   `$__rate_interval` = 15s (Grafana makes it at least four scrape intervals, 4 s here;
//!   15 s leaves room for a scrape missed on a busy machine);
//! - a rule expression by the rule of `common::promql_conditions`: thresholds removed, each
//!   side of a set operation or a comparison between expressions and the argument of
//!   `absent` on its own (its conditions are false on a healthy run; the data they read must
//!   be there);
//!
//! and each must return at least one series, as must every metric they name; Prometheus's own
//! evaluation of every rule, whole, must succeed, and the dashboard's `job` and `instance`
//! variable queries must find the job and every worker. KinesinkShardStalled and
//! KinesinkWorkerUnready are quiet so far. Then the S3 endpoint of the two S3 workers freezes
//! (writes hang) while records keep coming: their shards stall (`processing.stall_timeout_s =
//! 10`), which makes them unready, and both alerts must reach `firing`, for S3 workers only. The
//! rules are loaded from a copy in which only those alerts' `for:` is shortened to 2 s; every
//! other line is the file's own.
#![cfg(feature = "stand-ins")]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::freezable_proxy::FreezableProxy;
use common::iceberg_table::iceberg_config;
use common::prometheus_server::PrometheusServer;
use common::promql_conditions::data_parts;
use common::worker_endpoints::free_port;
use common::*;

const STALL_ALERT: &str = "KinesinkShardStalled";
const UNREADY_ALERT: &str = "KinesinkWorkerUnready";
const SCHEMA: &str = "event_id string, event_type string, ts timestamp, customer_id string, \
    country string, page string, price double, quantity int";

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Every `targets[].expr` of the dashboard, with its panel's title.
fn dashboard_expressions() -> Vec<(String, String)> {
    fn walk(panels: &[serde_json::Value], out: &mut Vec<(String, String)>) {
        for panel in panels {
            if let Some(inner) = panel["panels"].as_array() {
                walk(inner, out);
            }
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((
                        panel["title"].as_str().unwrap_or("").to_owned(),
                        expr.to_owned(),
                    ));
                }
            }
        }
    }
    let text = std::fs::read_to_string(repository().join("deploy/grafana/kinesink.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    walk(dashboard["panels"].as_array().unwrap(), &mut out);
    out
}

/// A dashboard expression with its template variables filled as Grafana fills them for "All".
fn with_variables(expr: &str) -> String {
    expr.replace("$__rate_interval", "15s")
        .replace("$job", "kinesink")
        .replace("$instance", ".*")
}

/// The rules file with `for:` of each of `alerts` replaced by `for: 2s`, written into `dir`.
fn rules_with_short_for(dir: &Path, alerts: &[&str]) -> std::path::PathBuf {
    let mut text =
        std::fs::read_to_string(repository().join("deploy/prometheus/kinesink-alerts.rules.yml"))
            .unwrap();
    for alert in alerts {
        let start = text
            .find(&format!("- alert: {alert}\n"))
            .unwrap_or_else(|| panic!("{alert} is in the rules file"));
        let at = start + text[start..].find("for: ").expect("the alert has a `for:`");
        let end = at + text[at..].find('\n').unwrap();
        text = format!("{}for: 2s{}", &text[..at], &text[end..]);
    }
    let path = dir.join("kinesink-alerts.rules.yml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The metric names an expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("kinesink_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// `(what, expression)` pairs that returned no series, of those given.
fn without_series(
    prometheus: &PrometheusServer,
    checks: &[(String, String)],
) -> Vec<(String, String)> {
    checks
        .iter()
        .filter(|(_, expr)| prometheus.query(expr).is_empty())
        .cloned()
        .collect()
}

/// Polls `check` every 500 ms until it holds; fails naming `what` after `limit`.
async fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    started.elapsed()
}

/// The state of `alert` among the active alerts (`pending`, `firing`), if it is active.
fn alert_states(prometheus: &PrometheusServer, alert: &str) -> Vec<String> {
    prometheus
        .alerts()
        .iter()
        .filter(|a| a["labels"]["alertname"] == alert)
        .map(|a| a["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_dashboard_and_rule_query_has_series_from_real_workers_and_a_frozen_s3_fires_the_stall_and_unready_alerts()
 {
    let started = Instant::now();
    let stream = unique("it-prom");
    let bucket = unique("it-prom-ice").to_lowercase();
    create_stream(&stream, 2).await;
    create_bucket("kinesink-it").await;
    create_bucket(&bucket).await;
    produce(&stream, 400, &stream, false);
    let s3 = std::env::var("AWS_ENDPOINT_URL_S3")
        .expect("the stand-ins' environment (scripts/local-aws env)");
    let proxy = FreezableProxy::start(&s3).await;

    let s3_ports = [free_port(), free_port()];
    let s3_configs: Vec<Config> = s3_ports
        .iter()
        .map(|port| {
            config(
                &stream,
                &stream,
                "kinesink-it",
                &stream,
                "",
                &format!(
                    "endpoint_url = \"{}\"\nbuffer_interval_s = 1\n[processing]\nstall_timeout_s = 10\n[metrics]\nlisten = \"127.0.0.1:{port}\"",
                    proxy.url
                ),
            )
        })
        .collect();
    let iceberg_port = free_port();
    let iceberg = iceberg_config(
        &stream,
        &format!("{stream}-iceberg"),
        &bucket,
        "events",
        SCHEMA,
        "event_type",
        "buffer_interval_s = 1",
    );
    let text = std::fs::read_to_string(&iceberg.path).unwrap()
        + &format!("[metrics]\nlisten = \"127.0.0.1:{iceberg_port}\"\n");
    std::fs::write(&iceberg.path, text).unwrap();
    let _workers: Vec<Worker> = s3_configs
        .iter()
        .chain([&iceberg])
        .map(|c| Worker::start(&c.path))
        .collect();

    let rules_dir = tempfile::tempdir().unwrap();
    let rules = rules_with_short_for(rules_dir.path(), &[STALL_ALERT, UNREADY_ALERT]);
    let targets: Vec<String> = s3_ports
        .iter()
        .chain([&iceberg_port])
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let prometheus = PrometheusServer::start(&rules, &targets);
    eprintln!(
        "prometheus at {} after {:?}",
        prometheus.url(),
        started.elapsed()
    );

    // All three scraped, each holding a lease (the two S3 workers split the stream's shards).
    let waited = wait_for(
        "the three workers are scraped and each holds a lease",
        Duration::from_secs(45),
        || {
            prometheus
                .query("kinesink_leases_owned{job=\"kinesink\"} > 0")
                .len()
                == 3
        },
    )
    .await;
    eprintln!("three workers scraped, each with a lease, after {waited:?}");
    assert_eq!(
        prometheus.label_values("job", "up"),
        ["kinesink"],
        "the dashboard's $job variable (label_values(up, job)) finds the job"
    );
    let instances = prometheus.label_values("instance", "up{job=~\"kinesink\"}");
    assert_eq!(
        instances.iter().cloned().collect::<BTreeSet<_>>(),
        targets.iter().cloned().collect::<BTreeSet<_>>(),
        "the dashboard's $instance variable finds every worker"
    );

    // Every expression, and every metric an expression reads.
    let rule_exprs = prometheus.rules();
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    assert_eq!(
        rule_exprs.len(),
        rules_text.matches("- alert: ").count(),
        "Prometheus loaded every rule of the file"
    );
    let mut checks: Vec<(String, String)> = Vec::new();
    for (title, expr) in dashboard_expressions() {
        checks.push((format!("dashboard panel {title:?}"), with_variables(&expr)));
    }
    let dashboard_count = checks.len();
    for (alert, expr) in &rule_exprs {
        for part in data_parts(expr) {
            checks.push((format!("alert {alert}"), part));
        }
    }
    let names: BTreeSet<String> = checks.iter().flat_map(|(_, e)| metric_names(e)).collect();
    for name in &names {
        checks.push((format!("metric {name}"), name.clone()));
    }
    checks.push(("metric up".to_owned(), "up{job=\"kinesink\"}".to_owned()));
    let mut missing = checks.clone();
    let deadline = Instant::now() + Duration::from_secs(40);
    while !missing.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        missing = without_series(&prometheus, &missing);
    }
    assert!(
        missing.is_empty(),
        "expressions without series after 40 s: {missing:#?}"
    );
    eprintln!(
        "{} dashboard expressions, {} rule parts and {} metrics return series, after {:?}",
        dashboard_count,
        checks.len() - dashboard_count - names.len() - 1,
        names.len() + 1,
        started.elapsed()
    );
    let unused: Vec<&str> = kinesink_metric_names::ALL
        .iter()
        .map(|m| m.name)
        .filter(|n| !names.contains(*n))
        .collect();
    eprintln!("metrics neither the dashboard nor the rules read: {unused:?}");
    assert_eq!(
        prometheus.unhealthy_rules(),
        [],
        "Prometheus evaluates every rule, whole, without error"
    );
    for alert in [STALL_ALERT, UNREADY_ALERT] {
        assert!(
            alert_states(&prometheus, alert).is_empty(),
            "{alert} is quiet on a healthy run"
        );
    }

    // The S3 endpoint freezes while records keep coming: the S3 workers' writes hang.
    proxy.freeze();
    produce(&stream, 100, &format!("{stream}-late"), false);
    for alert in [STALL_ALERT, UNREADY_ALERT] {
        let fired = wait_for(&format!("{alert} fires"), Duration::from_secs(60), || {
            alert_states(&prometheus, alert)
                .iter()
                .any(|s| s == "firing")
        })
        .await;
        let firing: Vec<String> = prometheus
            .alerts()
            .iter()
            .filter(|a| a["labels"]["alertname"] == alert && a["state"] == "firing")
            .map(|a| a["labels"]["instance"].as_str().unwrap().to_owned())
            .collect();
        eprintln!(
            "{alert} firing for {firing:?} {fired:?} after the freeze; test took {:?}",
            started.elapsed()
        );
        assert!(
            firing.iter().all(|i| i != &targets[2]),
            "only S3 workers stall (and so are unready), not the Iceberg worker: {alert} {firing:?}"
        );
    }
    drop(prometheus);
    delete_stream(&stream).await;
}

#[test]
fn alert_conditions_are_removed_and_what_they_read_is_kept() {
    assert_eq!(
        data_parts("up{job=\"kinesink\"} == 0"),
        ["up{job=\"kinesink\"}"]
    );
    assert_eq!(
        data_parts("absent(up{job=\"kinesink\"})"),
        ["up{job=\"kinesink\"}"]
    );
    assert_eq!(
        data_parts(
            "sum by (instance) (increase(a[20m])) > 0 unless on (instance) sum by (instance) (increase(b[20m])) > 0"
        ),
        [
            "sum by (instance) (increase(a[20m]))",
            "sum by (instance) (increase(b[20m]))"
        ]
    );
    assert_eq!(
        data_parts(
            "max by (shard_id) (m and on (instance, shard_id) changes(m[10m]) > 0) / 1000 > 300"
        ),
        ["max by (shard_id) (m and on (instance, shard_id) changes(m[10m])) / 1000"]
    );
    assert_eq!(
        data_parts("sum(increase(t[1h])) > clamp_min(2 * count(count by (shard_id) (m)), 10)"),
        [
            "sum(increase(t[1h]))",
            "clamp_min(2 * count(count by (shard_id) (m)), 10)"
        ]
    );
    assert_eq!(
        data_parts("rate(x{code!=\"200\", path=~\"a>1\"}[5m]) >= bool 0.5"),
        ["rate(x{code!=\"200\", path=~\"a>1\"}[5m])"]
    );
    assert_eq!(data_parts("(a) / (b)"), ["(a) / (b)"]);
    assert_eq!(data_parts("a > 2 * b"), ["a", "2 * b"]);
}
