//! The workspace layout is the architecture: these tests keep it true. No source file over 700
//! lines, no circle between a crate's files, dependencies only in the allowed direction (pure
//! crates take no runtime, no AWS SDK; shard-reader knows nothing of leases; lease-coordination
//! nothing of records; nothing depends on the binary), and the binary stays wiring, CLI and
//! configuration in at most 3,000 lines of code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The crates under crates/ (directory names).
fn crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

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

/// Whether a file holds only tests (by the names this workspace gives them).
fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs") || name == "test_fixtures.rs"
}

/// A source file without its trailing `#[cfg(test)] mod … { … }` block.
fn non_test_text(text: &str) -> &str {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("#[cfg(test)]") {
            let rest = &text[offset + line.len()..];
            if rest.starts_with("mod ") && rest.lines().next().is_some_and(|l| l.ends_with('{')) {
                return &text[..offset];
            }
        }
        offset += line.len();
    }
    text
}

/// The dependencies (`[dependencies]` only) of a crate's manifest, as package names.
fn dependencies(krate: &str) -> BTreeSet<String> {
    let manifest: toml::Table = toml::from_str(
        &std::fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml")).unwrap(),
    )
    .unwrap();
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn no_non_test_source_file_is_over_700_lines() {
    let mut files = Vec::new();
    for krate in crates() {
        rust_files(&root().join("crates").join(&krate).join("src"), &mut files);
    }
    assert!(
        files.len() > 100,
        "the scan reads the crates ({} files)",
        files.len()
    );
    let long: Vec<(String, usize)> = files
        .iter()
        .filter(|f| !is_test_file(f))
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            (
                f.display().to_string(),
                non_test_text(&text).lines().count(),
            )
        })
        .filter(|(_, n)| *n > 700)
        .collect();
    assert!(long.is_empty(), "source files over 700 lines: {long:?}");
}

/// `crate::<module>` references of a file's code (comments left out), top-level module names.
fn module_references(text: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    for line in non_test_text(text).lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.is_empty() {
                refs.insert(name);
            }
            rest = after;
        }
    }
    refs
}

#[test]
fn no_two_files_of_a_crate_refer_to_each_other_in_a_circle() {
    let mut circles = Vec::new();
    for krate in crates() {
        let src = root().join("crates").join(&krate).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        // Module (top-level file or directory under src/) -> modules its code refers to.
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in files.iter().filter(|f| !is_test_file(f)) {
            let rel = f.strip_prefix(&src).unwrap();
            let module = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned();
            let refs = module_references(&std::fs::read_to_string(f).unwrap());
            graph
                .entry(module.clone())
                .or_default()
                .extend(refs.into_iter().filter(|r| *r != module));
        }
        // Every module reachable from itself is on a circle.
        for start in graph.keys() {
            let mut seen = BTreeSet::new();
            let mut stack: Vec<&String> = graph[start].iter().collect();
            while let Some(m) = stack.pop() {
                if m == start {
                    circles.push(format!("{krate}: {start}"));
                    break;
                }
                if seen.insert(m.clone())
                    && let Some(next) = graph.get(m)
                {
                    stack.extend(next.iter());
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules on a reference circle: {circles:?}"
    );
}

#[test]
fn the_module_reference_scan_reads_code_and_skips_comments() {
    let text = "use crate::sink::SinkError;\n/// see [`crate::write_once`]\nlet x = crate::a::b(); // crate::c\n";
    assert_eq!(
        module_references(text),
        BTreeSet::from(["sink".to_owned(), "a".to_owned()])
    );
}

#[test]
fn dependencies_point_only_in_the_allowed_direction() {
    let pure = [
        "sequence-position",
        "record-deaggregation",
        "record-processing",
        "partitioning",
        "parquet-writer",
    ];
    // The AWS SDK and its runtime (aws-lc-sys, a crypto library, is not one).
    let sdk =
        |d: &str| d.starts_with("aws-sdk-") || d.starts_with("aws-smithy-") || d == "aws-config";
    let runtime_or_aws = |d: &str| d == "tokio" || sdk(d);
    for krate in pure {
        let deps = dependencies(krate);
        let bad: Vec<&String> = deps
            .iter()
            .filter(|d| {
                runtime_or_aws(d)
                    || (d.starts_with("kinesink-")
                        && !pure.iter().any(|p| **d == format!("kinesink-{p}")))
            })
            .collect();
        assert!(bad.is_empty(), "pure crate {krate} depends on {bad:?}");
    }
    let reader = dependencies("shard-reader");
    assert!(
        !reader.contains("kinesink-lease-coordination") && !reader.contains("kinesink-delivery"),
        "shard-reader knows nothing of leases or delivery: {reader:?}"
    );
    let leases = dependencies("lease-coordination");
    for records in [
        "kinesink-record-deaggregation",
        "kinesink-shard-reader",
        "kinesink-delivery",
        "kinesink-parquet-writer",
    ] {
        assert!(
            !leases.contains(records),
            "lease-coordination depends on {records}"
        );
    }
    for krate in crates() {
        if krate != "kinesink" {
            assert!(
                !dependencies(&krate).contains("kinesink"),
                "{krate} depends on the binary crate"
            );
        }
    }
    let worker = dependencies("worker");
    assert!(
        !worker.iter().any(|d| sdk(d)),
        "the worker crate talks to AWS only through the adapters' traits: {worker:?}"
    );
}

#[test]
fn the_binary_is_wiring_cli_and_configuration_in_at_most_3000_lines_of_code() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/kinesink/src"), &mut files);
    let (mut code, mut all) = (0, 0);
    for f in files.iter().filter(|f| !is_test_file(f)) {
        let text = std::fs::read_to_string(f).unwrap();
        for line in non_test_text(&text).lines() {
            all += 1;
            let t = line.trim();
            if !t.is_empty() && !t.starts_with("//") {
                code += 1;
            }
        }
    }
    eprintln!("crates/kinesink/src: {all} non-test lines, {code} lines of code");
    assert!(all > 1_000, "the scan reads the binary ({all} lines)");
    assert!(
        code <= 3_000,
        "the binary holds {code} lines of code (at most 3,000)"
    );
}
