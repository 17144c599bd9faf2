//! Every metric the code emits is in the README's metrics table, under its full name (the table
//! is how operators find what to alert on; it once missed `kinesink_subscriptions_total`).

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

#[test]
fn every_metric_the_code_emits_is_in_the_readme_metrics_table_by_its_full_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        let src = krate.path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    let mut names: Vec<String> = files
        .iter()
        .flat_map(|f| metric_literals(&std::fs::read_to_string(f).unwrap()))
        .collect();
    names.sort();
    names.dedup();
    assert!(
        names.len() >= 30,
        "the scan finds the metrics ({} found: {names:?})",
        names.len()
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("| `kinesink_"))
        .collect();
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| {
            !table
                .iter()
                .any(|row| row.contains(&format!("`{n}`")) || row.contains(&format!("`{n}{{")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "metrics missing from the README's metrics table (full names, in backticks): {missing:?}"
    );
}

#[test]
fn the_scan_reads_metric_names_out_of_macro_calls() {
    let text = r#"metrics::counter!("kinesink_a_total").increment(1);
        metrics::gauge!(
            "kinesink_b", "shard_id" => s)
        let x = "kinesink_not closed"#;
    assert_eq!(metric_literals(text), ["kinesink_a_total", "kinesink_b"]);
}
