//! `catalog = "rest"`: an Iceberg REST catalog through iceberg-rust's REST client
//! (`iceberg-catalog-rest` 0.10.1).
//!
//! A commit is `POST /v1/namespaces/{ns}/tables/{t}` carrying the transaction's requirements
//! and updates. iceberg-rust 0.10.1's `RestCatalog::update_table` sends the requirements of
//! the `TableCommit` as they are, and `Transaction::commit` builds them from the table it has
//! just loaded through the catalog it is given (`assert-table-uuid` and
//! `assert-ref-snapshot-id` on `main` for a fast append): the server checks them against the
//! table's current metadata and swaps its metadata pointer in one step, answering 409 (a
//! retryable `CatalogCommitConflicts` for iceberg-rust) when one fails. That is the
//! compare-and-swap the commit fence ([`crate::fenced_catalog`]) is atomic with: the fence
//! checks the positions on that same load, and the retry after a 409 reloads and checks again.
//!
//! Authentication is what iceberg-rust's client does: a bearer token (`catalog_token`) or an
//! OAuth2 client-credentials grant (`catalog_credential`, token endpoint
//! `catalog_oauth2_server_uri`, default `<catalog_uri>/v1/oauth/tokens`). SigV4 (AWS Glue's
//! and S3 Tables' REST endpoints) is not supported by iceberg-rust 0.10.1's REST client: use
//! `catalog = "glue"` / `"s3tables"` for those. `https://` catalogs are reached with rustls
//! (aws-lc-rs) and the system's root certificates.

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_rest::{
    REST_CATALOG_PROP_URI, REST_CATALOG_PROP_WAREHOUSE, RestCatalogBuilder,
};

use crate::catalog_settings::{IcebergCatalogSettings, RestAuth};
use crate::error::IcebergSinkError;
use crate::warehouse_storage::{WarehouseStorage, warehouse_storage};

/// iceberg-rust's REST property of the bearer token.
const PROP_TOKEN: &str = "token";
/// iceberg-rust's REST property of the OAuth2 client credential.
const PROP_CREDENTIAL: &str = "credential";
/// iceberg-rust's REST property of the OAuth2 token endpoint.
const PROP_OAUTH2_SERVER_URI: &str = "oauth2-server-uri";

/// The properties iceberg-rust's REST catalog is loaded with: the base URL (without a
/// trailing `/`), the warehouse, the authentication, and the FileIO's properties (S3
/// endpoint, path-style addressing, region), which take precedence over the table config the
/// server sends.
fn rest_properties(
    uri: &str,
    warehouse: &str,
    auth: &RestAuth,
    storage_properties: HashMap<String, String>,
) -> HashMap<String, String> {
    let mut properties = storage_properties;
    properties.insert(
        REST_CATALOG_PROP_URI.to_owned(),
        uri.trim_end_matches('/').to_owned(),
    );
    properties.insert(REST_CATALOG_PROP_WAREHOUSE.to_owned(), warehouse.to_owned());
    for (key, value) in [
        (PROP_TOKEN, &auth.token),
        (PROP_CREDENTIAL, &auth.credential),
        (PROP_OAUTH2_SERVER_URI, &auth.oauth2_server_uri),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            properties.insert(key.to_owned(), value.to_owned());
        }
    }
    properties
}

/// Opens a REST catalog (see [`crate::catalog_config::open_catalog`]).
///
/// Guarantees: a catalog on `uri` whose tables' files are read and written through the
/// warehouse's storage (`s3://` through OpenDAL with the environment's AWS credentials and
/// `endpoint_url`, or `file:///`), else a permanent error naming the warehouse; nothing is
/// sent to the server by opening (the first use fetches `GET /v1/config` and, with a
/// credential, a token).
pub(crate) async fn open_rest_catalog(
    settings: &IcebergCatalogSettings,
    uri: &str,
    catalog_name: &str,
    warehouse: &str,
    auth: &RestAuth,
) -> Result<Arc<dyn Catalog>, IcebergSinkError> {
    let operation = "open the rest catalog";
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err(IcebergSinkError::permanent(
            operation,
            format!("catalog_uri `{uri}` is not an http:// or https:// URL"),
        ));
    }
    let WarehouseStorage {
        factory,
        properties,
    } = warehouse_storage(settings, warehouse)
        .map_err(|m| IcebergSinkError::permanent(operation, m))?;
    // iceberg-rust's REST client is a reqwest 0.12 client with rustls and no crypto provider
    // of its own: use the one the AWS SDK uses (a no-op when one is installed already).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let catalog = RestCatalogBuilder::default()
        .with_storage_factory(factory)
        .load(
            catalog_name,
            rest_properties(uri, warehouse, auth, properties),
        )
        .await
        .map_err(|e| IcebergSinkError::from_iceberg(operation, e))?;
    Ok(Arc::new(catalog))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog_settings::CatalogKind;
    use iceberg::io::{S3_ENDPOINT, S3_PATH_STYLE_ACCESS};

    fn settings(warehouse: &str) -> IcebergCatalogSettings {
        IcebergCatalogSettings {
            kind: CatalogKind::Rest {
                uri: "http://127.0.0.1:8181/".into(),
                catalog_name: "default".into(),
                warehouse: warehouse.into(),
                auth: RestAuth::default(),
            },
            database: "analytics".into(),
            table: "events".into(),
            create_tables: true,
            partition_spec: String::new(),
            endpoint_url: Some("http://127.0.0.1:5055".into()),
            region: None,
        }
    }

    #[test]
    fn the_uri_warehouse_auth_and_storage_go_to_iceberg_rust_under_its_property_names() {
        let auth = RestAuth {
            token: Some("t0k".into()),
            credential: Some("id:secret".into()),
            oauth2_server_uri: Some(String::new()),
        };
        let storage = warehouse_storage(&settings("s3://lake/wh"), "s3://lake/wh").unwrap();
        let p = rest_properties(
            "http://127.0.0.1:8181/",
            "s3://lake/wh",
            &auth,
            storage.properties,
        );
        assert_eq!(p[REST_CATALOG_PROP_URI], "http://127.0.0.1:8181");
        assert_eq!(p[REST_CATALOG_PROP_WAREHOUSE], "s3://lake/wh");
        assert_eq!(p["token"], "t0k");
        assert_eq!(p["credential"], "id:secret");
        assert!(
            !p.contains_key("oauth2-server-uri"),
            "empty means the default"
        );
        assert_eq!(p[S3_ENDPOINT], "http://127.0.0.1:5055");
        assert_eq!(p[S3_PATH_STYLE_ACCESS], "true");
    }

    #[test]
    fn debug_output_never_shows_a_token_or_credential() {
        let auth = RestAuth {
            token: Some("t0k-secret".into()),
            credential: Some("id:cred-secret".into()),
            oauth2_server_uri: None,
        };
        let shown = format!("{auth:?}");
        assert!(
            !shown.contains("secret") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_uri_that_is_not_http_or_a_warehouse_outside_s3_and_files_is_refused() {
        let auth = RestAuth::default();
        let s = settings("s3://lake/wh");
        let error = open_rest_catalog(&s, "thrift://h:9083", "default", "s3://lake/wh", &auth)
            .await
            .unwrap_err();
        assert!(error.message.contains("thrift://h:9083"), "{error}");
        let error = open_rest_catalog(&s, "http://h:8181", "default", "gs://b/wh", &auth)
            .await
            .unwrap_err();
        assert!(error.message.contains("gs://b/wh"), "{error}");
        assert_eq!(error.class(), crate::IcebergErrorClass::Permanent);
    }

    /// An `https://` catalog is reached over TLS (reqwest 0.12 with rustls): the request fails
    /// connecting, not because the scheme is unsupported or a crypto provider is missing.
    #[tokio::test]
    async fn an_https_catalog_is_reached_over_tls() {
        let auth = RestAuth::default();
        let s = settings("file:///tmp/wh");
        let catalog = open_rest_catalog(
            &s,
            "https://127.0.0.1:1",
            "default",
            "file:///tmp/wh",
            &auth,
        )
        .await
        .unwrap();
        let namespace = iceberg::NamespaceIdent::new("analytics".into());
        let error = catalog.namespace_exists(&namespace).await.unwrap_err();
        let text = format!("{error:?}");
        assert!(
            !text.contains("scheme is not http"),
            "https is not supported: {text}"
        );
        assert!(text.contains("127.0.0.1:1"), "{text}");
    }
}
