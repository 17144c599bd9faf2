//! How a command fails: the exit code it maps to, and loading the configuration file (whose
//! errors are usage errors).

use std::collections::BTreeMap;

use crate::config::{self, Settings};

/// Failures of a command, by exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad configuration, input or environment: exit 2.
    Usage(String),
    /// Failure while running: exit 1.
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

impl From<kinesink_worker::worker::RunFailure> for Failure {
    fn from(e: kinesink_worker::worker::RunFailure) -> Self {
        Failure::Runtime(e.into())
    }
}

pub(crate) fn usage(e: impl std::fmt::Display) -> Failure {
    Failure::Usage(e.to_string())
}

/// Loads the configuration file with `KINESINK_*` environment overrides; its warnings are
/// logged.
pub(crate) fn load_config(path: &std::path::Path) -> Result<Settings, Failure> {
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("KINESINK_"))
        .collect();
    let settings = config::load(path, &env).map_err(usage)?;
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
    Ok(settings)
}
