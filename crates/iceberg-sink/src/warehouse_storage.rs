//! The storage a warehouse location is read and written through (local files, or S3 through
//! OpenDAL), with the FileIO properties a catalog is opened with.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::io::{
    LocalFsStorageFactory, S3_ENDPOINT, S3_PATH_STYLE_ACCESS, S3_REGION, StorageFactory,
};
use iceberg_storage_opendal::OpenDalStorageFactory;

use crate::catalog_settings::IcebergCatalogSettings;

/// The storage a warehouse location is read and written through.
pub(crate) struct WarehouseStorage {
    /// Builds the FileIO's storage.
    pub(crate) factory: Arc<dyn StorageFactory>,
    /// The FileIO's properties (endpoint, region, addressing).
    pub(crate) properties: HashMap<String, String>,
}

/// The storage of a warehouse location, or why this build cannot use it.
pub(crate) fn warehouse_storage(
    settings: &IcebergCatalogSettings,
    warehouse: &str,
) -> Result<WarehouseStorage, String> {
    if warehouse.starts_with("file:///") {
        return Ok(WarehouseStorage {
            factory: Arc::new(LocalFsStorageFactory),
            properties: HashMap::new(),
        });
    }
    if warehouse.starts_with("s3://") || warehouse.starts_with("s3a://") {
        let mut properties = HashMap::new();
        if let Some(endpoint) = settings.endpoint_url.as_deref().filter(|e| !e.is_empty()) {
            properties.insert(S3_ENDPOINT.to_owned(), endpoint.to_owned());
            properties.insert(S3_PATH_STYLE_ACCESS.to_owned(), "true".to_owned());
        }
        if let Some(region) = settings.region.as_deref().filter(|r| !r.is_empty()) {
            properties.insert(S3_REGION.to_owned(), region.to_owned());
        }
        let factory = OpenDalStorageFactory::S3 {
            customized_credential_load: None,
        };
        return Ok(WarehouseStorage {
            factory: Arc::new(factory),
            properties,
        });
    }
    Err(format!(
        "warehouse `{warehouse}` is neither s3://BUCKET/PREFIX nor file:///ABSOLUTE/PATH"
    ))
}
