//! Every metric the code emits is in the README's metrics table, under its full name (the table
//! is how operators find what to alert on; it once missed `kinesink_subscriptions_total`), and
//! every name is spelled once, in kinesink-metric-names.

use std::path::{Path, PathBuf};

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `"kinesink_…"` string literals of a source text (every one of them is a metric name).
fn metric_literals(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("\"kinesink_") {
        let after = &rest[start + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        if after[end..].starts_with('"') {
            names.push(after[..end].to_owned());
        }
        rest = &after[end..];
    }
    names
}

/// The metric names of the README's metrics table (every `` `kinesink_…` `` in its rows, label
/// sets removed).
fn readme_metric_names(readme: &str) -> Vec<String> {
    let mut names: Vec<String> = readme
        .lines()
        .filter(|l| l.starts_with("| `kinesink_"))
        .flat_map(|row| {
            row.split('`')
                .skip(1)
                .step_by(2)
                .filter(|c| c.starts_with("kinesink_"))
                .map(|c| c.split('{').next().unwrap_or(c).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_metric_the_code_emits_is_in_the_readme_metrics_table_by_its_full_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let documented = readme_metric_names(&readme);
    let mut emitted: Vec<String> = kinesink_metric_names::ALL
        .iter()
        .map(|m| m.name.to_owned())
        .collect();
    emitted.sort();
    assert!(
        emitted.len() >= 30,
        "the metric list is read ({} found: {emitted:?})",
        emitted.len()
    );
    let missing: Vec<&String> = emitted.iter().filter(|n| !documented.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "metrics missing from the README's metrics table (full names, in backticks): {missing:?}"
    );
    let unknown: Vec<&String> = documented.iter().filter(|n| !emitted.contains(n)).collect();
    assert!(
        unknown.is_empty(),
        "the README's metrics table names metrics kinesink-metric-names does not list: {unknown:?}"
    );
}

#[test]
fn every_metric_name_lives_in_the_metric_names_module_and_nowhere_else() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        let src = krate.path().join("src");
        if src.is_dir() && !krate.path().ends_with("metric-names") {
            rust_files(&src, &mut files);
        }
    }
    assert!(
        files.len() > 50,
        "the scan reads the crates ({} files)",
        files.len()
    );
    let spelled: Vec<(String, String)> = files
        .iter()
        .flat_map(|f| {
            metric_literals(&std::fs::read_to_string(f).unwrap())
                .into_iter()
                .map(|n| (f.display().to_string(), n))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        spelled.is_empty(),
        "metric names spelled outside crates/metric-names (use its constants): {spelled:?}"
    );
    // And the module's own text holds every name the list gives.
    let module = std::fs::read_to_string(root.join("crates/metric-names/src/lib.rs")).unwrap();
    let in_module = metric_literals(&module);
    for m in kinesink_metric_names::ALL {
        assert!(in_module.iter().any(|n| n == m.name), "{}", m.name);
    }
}

#[test]
fn the_scan_reads_metric_names_out_of_macro_calls() {
    let text = r#"metrics::counter!("kinesink_a_total").increment(1);
        metrics::gauge!(
            "kinesink_b", "shard_id" => s)
        let x = "kinesink_not closed"#;
    assert_eq!(metric_literals(text), ["kinesink_a_total", "kinesink_b"]);
}
