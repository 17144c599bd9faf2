//! `catalog = "glue"`: the AWS Glue Data Catalog through iceberg-rust's Glue catalog.
//!
//! A table is a Glue table of type `ICEBERG` whose `metadata_location` parameter points at its
//! current metadata file; a commit writes the new metadata file, then swaps the parameter with
//! Glue's `UpdateTable` carrying the `VersionId` the commit's base was loaded with. Real Glue
//! refuses a stale `VersionId` (`ConcurrentModificationException`, a retryable commit
//! conflict for iceberg-rust): that is the compare-and-swap the commit fence
//! ([`crate::fenced_catalog`]) is atomic with.
//!
//! moto's Glue (the stand-in, 5.2.5) ignores `VersionId` in `UpdateTable` by itself;
//! scripts/moto_server.py, which scripts/local-aws starts it through, makes it refuse a stale
//! one with `ConcurrentModificationException` as real Glue does, so the swap, commit conflicts
//! included, is tested against it (tests/glue_catalog.rs).

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_glue::{
    AWS_REGION_NAME, GLUE_CATALOG_PROP_URI, GLUE_CATALOG_PROP_WAREHOUSE, GlueCatalogBuilder,
};

use crate::catalog_settings::IcebergCatalogSettings;
use crate::error::IcebergSinkError;
use crate::warehouse_storage::{WarehouseStorage, warehouse_storage};

/// The name the Glue catalog is opened under (a label: Glue has one Data Catalog per account
/// and region, `catalog_name` is not used).
const GLUE_CATALOG_NAME: &str = "glue";

/// The properties iceberg-rust's Glue catalog is loaded with: the warehouse, the Glue endpoint
/// and region, and the S3 FileIO's properties (endpoint, path-style addressing, region).
///
/// No credentials: iceberg-rust's Glue client takes the standard AWS chain when none are
/// given, and so does the S3 FileIO (OpenDAL's default chain).
fn glue_properties(
    settings: &IcebergCatalogSettings,
    warehouse: &str,
    storage_properties: HashMap<String, String>,
) -> HashMap<String, String> {
    let mut properties = storage_properties;
    properties.insert(GLUE_CATALOG_PROP_WAREHOUSE.to_owned(), warehouse.to_owned());
    if let Some(endpoint) = settings.endpoint_url.as_deref().filter(|e| !e.is_empty()) {
        properties.insert(GLUE_CATALOG_PROP_URI.to_owned(), endpoint.to_owned());
    }
    if let Some(region) = settings.region.as_deref().filter(|r| !r.is_empty()) {
        properties.insert(AWS_REGION_NAME.to_owned(), region.to_owned());
    }
    properties
}

/// Opens the Glue Data Catalog (see [`crate::catalog_config::open_catalog`]).
///
/// Guarantees: created tables go under `warehouse` (an `s3://` location, else a permanent
/// error naming it); Glue and S3 are reached through `endpoint_url` when given (S3 then
/// path-style), in `region` when given; no request is sent to Glue by opening.
pub(crate) async fn open_glue_catalog(
    settings: &IcebergCatalogSettings,
    warehouse: &str,
) -> Result<Arc<dyn Catalog>, IcebergSinkError> {
    let operation = "open the glue catalog";
    if !(warehouse.starts_with("s3://") || warehouse.starts_with("s3a://")) {
        return Err(IcebergSinkError::permanent(
            operation,
            format!(
                "warehouse `{warehouse}`: a Glue catalog's tables live in S3, s3://BUCKET/PREFIX"
            ),
        ));
    }
    let WarehouseStorage {
        factory,
        properties,
    } = warehouse_storage(settings, warehouse)
        .map_err(|m| IcebergSinkError::permanent(operation, m))?;
    let catalog = GlueCatalogBuilder::default()
        .with_storage_factory(factory)
        .load(
            GLUE_CATALOG_NAME,
            glue_properties(settings, warehouse, properties),
        )
        .await
        .map_err(|e| IcebergSinkError::from_iceberg(operation, e))?;
    Ok(Arc::new(catalog))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog_settings::CatalogKind;
    use iceberg::io::{S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_REGION};

    fn settings(endpoint_url: Option<&str>, region: Option<&str>) -> IcebergCatalogSettings {
        IcebergCatalogSettings {
            kind: CatalogKind::Glue {
                warehouse: "s3://lake/warehouse".into(),
            },
            database: "analytics".into(),
            table: "events".into(),
            create_tables: true,
            partition_spec: String::new(),
            endpoint_url: endpoint_url.map(str::to_owned),
            region: region.map(str::to_owned),
        }
    }

    fn properties(settings: &IcebergCatalogSettings) -> HashMap<String, String> {
        let storage = warehouse_storage(settings, "s3://lake/warehouse").unwrap();
        glue_properties(settings, "s3://lake/warehouse", storage.properties)
    }

    #[test]
    fn an_endpoint_serves_glue_and_s3_and_the_region_goes_to_both() {
        let p = properties(&settings(Some("http://127.0.0.1:5055"), Some("eu-west-1")));
        assert_eq!(p[GLUE_CATALOG_PROP_WAREHOUSE], "s3://lake/warehouse");
        assert_eq!(p[GLUE_CATALOG_PROP_URI], "http://127.0.0.1:5055");
        assert_eq!(p[S3_ENDPOINT], "http://127.0.0.1:5055");
        assert_eq!(p[S3_PATH_STYLE_ACCESS], "true");
        assert_eq!(p[AWS_REGION_NAME], "eu-west-1");
        assert_eq!(p[S3_REGION], "eu-west-1");
    }

    #[test]
    fn without_an_endpoint_or_region_aws_own_and_the_environment_are_used() {
        let p = properties(&settings(Some(""), None));
        for key in [
            GLUE_CATALOG_PROP_URI,
            S3_ENDPOINT,
            AWS_REGION_NAME,
            S3_REGION,
        ] {
            assert!(!p.contains_key(key), "{key} in {p:?}");
        }
        assert_eq!(p.len(), 1, "only the warehouse: {p:?}");
    }

    #[tokio::test]
    async fn a_warehouse_outside_s3_is_refused_naming_it() {
        for warehouse in ["file:///tmp/wh", "gs://b/wh"] {
            let error = open_glue_catalog(&settings(None, None), warehouse)
                .await
                .unwrap_err();
            assert!(error.message.contains(warehouse), "{error}");
            assert_eq!(error.class(), crate::IcebergErrorClass::Permanent);
        }
    }
}
