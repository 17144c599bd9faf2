//! `[destination.iceberg]`: deliver into Apache Iceberg tables instead of plain objects.

use kinesink_iceberg_sink::{CatalogKind, IcebergCatalogSettings, RestAuth, parse_partition_spec};
use serde::{Deserialize, Serialize};
use serde_with::{serde_as, skip_serializing_none};

use super::scalar_value::{ClosedSet, ScalarValue};
use super::{ConfigError, check_endpoint, err};

/// `destination.iceberg.catalog`: which catalog holds the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CatalogSetting {
    /// A SQL database (SQLite or PostgreSQL).
    Sql,
    /// AWS Glue Data Catalog.
    Glue,
    /// Amazon S3 Tables.
    S3tables,
    /// An Iceberg REST catalog.
    Rest,
}

/// `[destination.iceberg]` as written.
#[serde_as]
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table of [destination.iceberg] keys"
)]
pub(crate) struct IcebergSection {
    /// `sql | glue | s3tables | rest`.
    #[serde_as(as = "Option<ClosedSet>")]
    #[serde(default)]
    pub(crate) catalog: Option<CatalogSetting>,
    /// The catalog's name (sql, rest); default `default`; refused with glue.
    pub(crate) catalog_name: Option<String>,
    /// sql: `sqlite:///ABSOLUTE/PATH` or `postgresql://...`; rest: the base URL; refused with
    /// glue.
    pub(crate) catalog_uri: Option<String>,
    /// Where created tables go (`s3://...` or, for sql, `file:///...`).
    pub(crate) warehouse: Option<String>,
    /// Namespace of the default table.
    pub(crate) database: Option<String>,
    /// The default table.
    pub(crate) table: Option<String>,
    /// Create a missing table from `[format] schema` and `partition_spec`; default true.
    #[serde_as(as = "Option<ScalarValue>")]
    #[serde(default)]
    pub(crate) create_tables: Option<bool>,
    /// Partition spec of created tables, e.g. `event_type, day(ts)`.
    pub(crate) partition_spec: Option<String>,
    /// Endpoint of S3 and of the catalog's service (glue), for stand-ins.
    pub(crate) endpoint_url: Option<String>,
    /// rest: a bearer token sent with every request.
    pub(crate) catalog_token: Option<String>,
    /// rest: an OAuth2 client credential, `client_id:client_secret`, exchanged for a token.
    pub(crate) catalog_credential: Option<String>,
    /// rest: the OAuth2 token endpoint; default `<catalog_uri>/v1/oauth/tokens`.
    pub(crate) catalog_oauth2_server_uri: Option<String>,
}

/// `key` given and not blank, else an error naming it.
fn required(key: &str, value: Option<String>, what: &str) -> Result<String, ConfigError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(err(format!(
            "config key `destination.iceberg.{key}` is required: {what}"
        ))),
    }
}

impl IcebergSection {
    /// Checks every key; `region` is the worker's region (`source.region`).
    pub(super) fn validate(
        self,
        region: Option<String>,
    ) -> Result<IcebergCatalogSettings, ConfigError> {
        let catalog = self.catalog.ok_or_else(|| {
            err("config key `destination.iceberg.catalog` is required: sql, glue, s3tables or rest")
        })?;
        if catalog != CatalogSetting::Rest {
            for (key, given) in [
                ("catalog_token", &self.catalog_token),
                ("catalog_credential", &self.catalog_credential),
                ("catalog_oauth2_server_uri", &self.catalog_oauth2_server_uri),
            ] {
                if given.as_deref().is_some_and(|v| !v.trim().is_empty()) {
                    return Err(err(format!(
                        "config key `destination.iceberg.{key}`: only used with catalog = \"rest\"; remove it"
                    )));
                }
            }
        }
        let kind = match catalog {
            CatalogSetting::Sql => {
                let uri = required(
                    "catalog_uri",
                    self.catalog_uri,
                    "the catalog database, sqlite:///ABSOLUTE/PATH or postgresql://user:password@host/database",
                )?;
                if !(uri.starts_with("sqlite:///")
                    || uri.starts_with("postgresql://")
                    || uri.starts_with("postgres://"))
                {
                    return Err(err(format!(
                        "config key `destination.iceberg.catalog_uri`: `{uri}` is neither sqlite:///ABSOLUTE/PATH nor postgresql://..."
                    )));
                }
                let warehouse = required(
                    "warehouse",
                    self.warehouse,
                    "where created tables go, s3://bucket/prefix or file:///ABSOLUTE/PATH",
                )?;
                if !(warehouse.starts_with("s3://") || warehouse.starts_with("file:///")) {
                    return Err(err(format!(
                        "config key `destination.iceberg.warehouse`: `{warehouse}` is neither s3://bucket/prefix nor file:///ABSOLUTE/PATH"
                    )));
                }
                CatalogKind::Sql {
                    uri,
                    catalog_name: self.catalog_name.unwrap_or_else(|| "default".to_owned()),
                    warehouse,
                }
            }
            CatalogSetting::Glue => {
                for (key, given) in [
                    ("catalog_uri", &self.catalog_uri),
                    ("catalog_name", &self.catalog_name),
                ] {
                    if given.as_deref().is_some_and(|v| !v.trim().is_empty()) {
                        return Err(err(format!(
                            "config key `destination.iceberg.{key}`: not used with catalog = \"glue\" (the catalog is the account's Glue Data Catalog in the worker's region; a stand-in's endpoint goes in `destination.iceberg.endpoint_url`); remove it"
                        )));
                    }
                }
                let warehouse = required(
                    "warehouse",
                    self.warehouse,
                    "where created tables go, s3://bucket/prefix",
                )?;
                if !warehouse.starts_with("s3://") {
                    return Err(err(format!(
                        "config key `destination.iceberg.warehouse`: `{warehouse}` is not s3://bucket/prefix (a Glue catalog's tables live in S3)"
                    )));
                }
                CatalogKind::Glue { warehouse }
            }
            CatalogSetting::S3tables => {
                for (key, given) in [
                    ("catalog_uri", &self.catalog_uri),
                    ("catalog_name", &self.catalog_name),
                ] {
                    if given.as_deref().is_some_and(|v| !v.trim().is_empty()) {
                        return Err(err(format!(
                            "config key `destination.iceberg.{key}`: not used with catalog = \"s3tables\" (the catalog is the table bucket named by `destination.iceberg.warehouse`; a stand-in's endpoint goes in `destination.iceberg.endpoint_url`); remove it"
                        )));
                    }
                }
                let table_bucket_arn = required(
                    "warehouse",
                    self.warehouse,
                    "the table bucket's ARN, arn:aws:s3tables:REGION:ACCOUNT_ID:bucket/NAME",
                )?;
                let resource = table_bucket_arn.splitn(6, ':').nth(5).unwrap_or_default();
                if !(table_bucket_arn.starts_with("arn:aws")
                    && table_bucket_arn.split(':').nth(2) == Some("s3tables")
                    && resource.starts_with("bucket/"))
                {
                    return Err(err(format!(
                        "config key `destination.iceberg.warehouse`: `{table_bucket_arn}` is not a table bucket's ARN, arn:aws:s3tables:REGION:ACCOUNT_ID:bucket/NAME"
                    )));
                }
                CatalogKind::S3Tables { table_bucket_arn }
            }
            CatalogSetting::Rest => {
                let uri = required(
                    "catalog_uri",
                    self.catalog_uri,
                    "the REST catalog's base URL, http(s)://host[:port][/path] (without /v1)",
                )?;
                if !(uri.starts_with("http://") || uri.starts_with("https://")) {
                    return Err(err(format!(
                        "config key `destination.iceberg.catalog_uri`: `{uri}` is not an http:// or https:// URL (SigV4-signed REST endpoints of AWS Glue and S3 Tables are not supported by iceberg-rust 0.10.1's REST client: use catalog = \"glue\" or \"s3tables\")"
                    )));
                }
                let warehouse = required(
                    "warehouse",
                    self.warehouse,
                    "the warehouse the REST catalog serves, s3://bucket/prefix or file:///ABSOLUTE/PATH",
                )?;
                if !(warehouse.starts_with("s3://") || warehouse.starts_with("file:///")) {
                    return Err(err(format!(
                        "config key `destination.iceberg.warehouse`: `{warehouse}` is neither s3://bucket/prefix nor file:///ABSOLUTE/PATH (it also chooses the storage of the tables' files)"
                    )));
                }
                CatalogKind::Rest {
                    uri,
                    catalog_name: self.catalog_name.unwrap_or_else(|| "default".to_owned()),
                    warehouse,
                    auth: RestAuth {
                        token: self.catalog_token.filter(|v| !v.trim().is_empty()),
                        credential: self.catalog_credential.filter(|v| !v.trim().is_empty()),
                        oauth2_server_uri: self
                            .catalog_oauth2_server_uri
                            .filter(|v| !v.trim().is_empty()),
                    },
                }
            }
        };
        let database = required("database", self.database, "the namespace of the table")?;
        let table = required("table", self.table, "the table records go to")?;
        for (key, value) in [("database", &database), ("table", &table)] {
            if value.contains(['.', '/']) || value.trim() != value {
                return Err(err(format!(
                    "config key `destination.iceberg.{key}`: `{value}` must not contain '.', '/' or surrounding spaces"
                )));
            }
        }
        let partition_spec = self.partition_spec.unwrap_or_default();
        parse_partition_spec(&partition_spec).map_err(|e| {
            err(format!(
                "config key `destination.iceberg.partition_spec`: {e}"
            ))
        })?;
        Ok(IcebergCatalogSettings {
            kind,
            database,
            table,
            create_tables: self.create_tables.unwrap_or(true),
            partition_spec,
            endpoint_url: check_endpoint("destination.iceberg.endpoint_url", self.endpoint_url)?,
            region,
        })
    }
}
