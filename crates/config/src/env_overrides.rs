//! `KINESINK_<SECTION>__<KEY>` environment variables written into the file's table before it is
//! read (`KINESINK_NAME` for the top-level `name`). Values stay text; numbers, booleans and the
//! names of closed sets are read from text like from TOML.

use std::collections::BTreeMap;

use super::{ConfigError, SECTIONS, err};

/// Writes every override in `env` into `table`; variables that look like overrides but are not
/// (one underscore) are added to `ignored`.
pub(super) fn apply_env_overrides(
    table: &mut toml::Table,
    env: &BTreeMap<String, String>,
    ignored: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for (var, value) in env {
        let Some(rest) = var.strip_prefix("KINESINK_") else {
            continue;
        };
        if rest == "NAME" {
            table.insert("name".into(), toml::Value::String(value.clone()));
            continue;
        }
        let Some((section, key)) = rest.split_once("__") else {
            // Not an override. Kubernetes injects service links like KINESINK_METRICS_SERVICE_HOST
            // for a Service named kinesink-metrics, so these are reported, not refused.
            if SECTIONS
                .iter()
                .any(|s| rest.to_ascii_lowercase().starts_with(&format!("{s}_")))
            {
                ignored.push(format!(
                    "environment variable {var} is ignored: overrides are named KINESINK_<SECTION>__<KEY> (two underscores)"
                ));
            }
            continue;
        };
        let section = section.to_ascii_lowercase();
        if !SECTIONS.contains(&section.as_str()) {
            return Err(err(format!(
                "environment variable {var}: unknown section `{section}`"
            )));
        }
        let mut target = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| err(format!("config key `{section}` must be a table")))?;
        let parts: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
        for part in &parts[..parts.len() - 1] {
            target = target
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| {
                    err(format!(
                        "environment variable {var}: `{part}` is not a table"
                    ))
                })?;
        }
        target.insert(
            parts[parts.len() - 1].clone(),
            toml::Value::String(value.clone()),
        );
    }
    Ok(())
}
