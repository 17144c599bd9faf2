//! `[metrics]`: where `/metrics`, `/healthz` and `/readyz` are served.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::{ConfigError, err};

/// `[metrics]` as written.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a table of [metrics] keys")]
pub(crate) struct MetricsSection {
    /// Address to serve on, like `0.0.0.0:9090`; default: not served.
    pub(crate) listen: Option<String>,
}

impl MetricsSection {
    /// The address to serve on, if any.
    pub(super) fn validate(self) -> Result<Option<SocketAddr>, ConfigError> {
        self.listen
            .map(|l| {
                l.parse().map_err(|e| {
                    err(format!(
                        "config key `metrics.listen`: `{l}` is not an address like 0.0.0.0:9090: {e}"
                    ))
                })
            })
            .transpose()
    }
}
