//! `catalog = "s3tables"`: Amazon S3 Tables through iceberg-rust's S3 Tables catalog.
//!
//! A table bucket (`warehouse` is its ARN) holds namespaces and tables; each table has a
//! warehouse location of its own in S3, chosen by the service, where its metadata and data
//! files go. A commit writes the new metadata file, then swaps the table's metadata location
//! with `UpdateTableMetadataLocation` carrying the `versionToken` the commit's base was loaded
//! with; S3 Tables refuses a stale token (a conflict, retried by iceberg-rust after a reload):
//! that is the compare-and-swap the commit fence ([`crate::fenced_catalog`]) is atomic with.
//! The stand-in (moto 5.2.5's S3 Tables, started by `scripts/moto_server.py`) checks the token
//! too.
//!
//! Compaction, snapshot expiry and unreferenced-file removal are S3 Tables' own table
//! maintenance (on by default for its tables).

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::io::{S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_REGION};
use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_s3tables::{
    S3TABLES_CATALOG_PROP_ENDPOINT_URL, S3TABLES_CATALOG_PROP_TABLE_BUCKET_ARN,
    S3TablesCatalogBuilder,
};
use iceberg_storage_opendal::OpenDalStorageFactory;

use crate::catalog_settings::IcebergCatalogSettings;
use crate::error::IcebergSinkError;

/// The name the S3 Tables catalog is opened under (a label: the table bucket is the catalog).
const S3TABLES_CATALOG_NAME: &str = "s3tables";

/// iceberg-catalog-s3tables' property of the SDK client's region (`utils::AWS_REGION_NAME`,
/// private there).
const S3TABLES_REGION_NAME: &str = "region_name";

/// Whether `arn` names an S3 table bucket: `arn:aws:s3tables:REGION:ACCOUNT:bucket/NAME`
/// (any AWS partition).
fn is_table_bucket_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "s3tables", region, account, resource]
            if partition.starts_with("aws")
                && !region.is_empty()
                && !account.is_empty()
                && resource.strip_prefix("bucket/").is_some_and(|n| !n.is_empty() && !n.contains('/'))
    )
}

/// The properties iceberg-rust's S3 Tables catalog is loaded with: the table bucket, the
/// S3 Tables endpoint and region, and the S3 FileIO's (endpoint, path-style addressing,
/// region) for the tables' own locations.
///
/// No credentials: the SDK client takes the standard AWS chain, and so does the S3 FileIO
/// (OpenDAL's default chain).
fn s3tables_properties(
    settings: &IcebergCatalogSettings,
    table_bucket_arn: &str,
) -> HashMap<String, String> {
    let mut properties = HashMap::new();
    properties.insert(
        S3TABLES_CATALOG_PROP_TABLE_BUCKET_ARN.to_owned(),
        table_bucket_arn.to_owned(),
    );
    if let Some(endpoint) = settings.endpoint_url.as_deref().filter(|e| !e.is_empty()) {
        properties.insert(
            S3TABLES_CATALOG_PROP_ENDPOINT_URL.to_owned(),
            endpoint.to_owned(),
        );
        properties.insert(S3_ENDPOINT.to_owned(), endpoint.to_owned());
        properties.insert(S3_PATH_STYLE_ACCESS.to_owned(), "true".to_owned());
    }
    if let Some(region) = settings.region.as_deref().filter(|r| !r.is_empty()) {
        properties.insert(S3TABLES_REGION_NAME.to_owned(), region.to_owned());
        properties.insert(S3_REGION.to_owned(), region.to_owned());
    }
    properties
}

/// Opens the S3 Tables catalog of the table bucket `table_bucket_arn` (see
/// [`crate::catalog_config::open_catalog`]).
///
/// Guarantees: `table_bucket_arn` is an S3 table bucket's ARN (else a permanent error naming
/// it); S3 Tables and S3 are reached through `endpoint_url` when given (S3 then path-style), in
/// `region` when given; no request is sent by opening.
pub(crate) async fn open_s3tables_catalog(
    settings: &IcebergCatalogSettings,
    table_bucket_arn: &str,
) -> Result<Arc<dyn Catalog>, IcebergSinkError> {
    let operation = "open the s3tables catalog";
    if !is_table_bucket_arn(table_bucket_arn) {
        return Err(IcebergSinkError::permanent(
            operation,
            format!(
                "warehouse `{table_bucket_arn}` is not a table bucket's ARN, \
                 arn:aws:s3tables:REGION:ACCOUNT_ID:bucket/NAME"
            ),
        ));
    }
    let factory = OpenDalStorageFactory::S3 {
        customized_credential_load: None,
    };
    let catalog = S3TablesCatalogBuilder::default()
        .with_storage_factory(Arc::new(factory))
        .load(
            S3TABLES_CATALOG_NAME,
            s3tables_properties(settings, table_bucket_arn),
        )
        .await
        .map_err(|e| IcebergSinkError::from_iceberg(operation, e))?;
    Ok(Arc::new(catalog))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog_settings::CatalogKind;

    const ARN: &str = "arn:aws:s3tables:us-east-1:123456789012:bucket/lake";

    fn settings(endpoint_url: Option<&str>, region: Option<&str>) -> IcebergCatalogSettings {
        IcebergCatalogSettings {
            kind: CatalogKind::S3Tables {
                table_bucket_arn: ARN.into(),
            },
            database: "analytics".into(),
            table: "events".into(),
            create_tables: true,
            partition_spec: String::new(),
            endpoint_url: endpoint_url.map(str::to_owned),
            region: region.map(str::to_owned),
        }
    }

    #[test]
    fn an_endpoint_serves_s3_tables_and_s3_and_the_region_goes_to_both() {
        let p = s3tables_properties(
            &settings(Some("http://127.0.0.1:5055"), Some("eu-west-1")),
            ARN,
        );
        assert_eq!(p[S3TABLES_CATALOG_PROP_TABLE_BUCKET_ARN], ARN);
        assert_eq!(
            p[S3TABLES_CATALOG_PROP_ENDPOINT_URL],
            "http://127.0.0.1:5055"
        );
        assert_eq!(p[S3_ENDPOINT], "http://127.0.0.1:5055");
        assert_eq!(p[S3_PATH_STYLE_ACCESS], "true");
        assert_eq!(p[S3TABLES_REGION_NAME], "eu-west-1");
        assert_eq!(p[S3_REGION], "eu-west-1");
    }

    #[test]
    fn without_an_endpoint_or_region_aws_own_and_the_environment_are_used() {
        let p = s3tables_properties(&settings(Some(""), None), ARN);
        assert_eq!(p.len(), 1, "only the table bucket: {p:?}");
    }

    #[test]
    fn only_a_table_buckets_arn_names_a_table_bucket() {
        for arn in [
            ARN,
            "arn:aws-cn:s3tables:cn-north-1:123456789012:bucket/lake",
        ] {
            assert!(is_table_bucket_arn(arn), "{arn}");
        }
        for not in [
            "s3://lake/warehouse",
            "arn:aws:s3:::lake",
            "arn:aws:s3tables:us-east-1:123456789012:bucket/",
            "arn:aws:s3tables:us-east-1:123456789012:bucket/lake/table/x",
            "arn:aws:s3tables::123456789012:bucket/lake",
            "arn:aws:glue:us-east-1:123456789012:catalog",
        ] {
            assert!(!is_table_bucket_arn(not), "{not}");
        }
    }

    #[tokio::test]
    async fn a_warehouse_that_is_not_a_table_bucket_arn_is_refused_naming_it() {
        let error = open_s3tables_catalog(&settings(None, None), "s3://lake/warehouse")
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("s3://lake/warehouse"), "{text}");
        assert!(text.contains("arn:aws:s3tables"), "{text}");
    }
}
