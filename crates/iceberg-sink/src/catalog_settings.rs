//! `[destination.iceberg]` as typed settings: which catalog, which table, how tables are created.

/// The Iceberg destination's settings, key for key the `[destination.iceberg]` table:
///
/// ```toml
/// [destination.iceberg]
/// catalog = "sql"                      # sql | glue | s3tables | rest
/// catalog_name = "default"
/// catalog_uri = "sqlite:////var/lib/kinesink/catalog.db"
/// warehouse = "s3://bucket/warehouse"
/// database = "analytics"
/// table = "events"
/// create_tables = true
/// partition_spec = "event_type, day(ts)"
/// endpoint_url = ""
/// ```
///
/// Plain data: parsing and defaults belong to the binary's configuration; [`crate::catalog_config::open_catalog`]
/// checks what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcebergCatalogSettings {
    /// Which catalog, with its catalog-specific keys (`catalog`, `catalog_name`,
    /// `catalog_uri`, `warehouse`).
    pub kind: CatalogKind,
    /// The namespace of the default table (`database`).
    pub database: String,
    /// The default table (`table`).
    pub table: String,
    /// Whether a missing table is created from the configured schema (`create_tables`).
    pub create_tables: bool,
    /// The partition spec of created tables, as written (`partition_spec`, e.g.
    /// `"event_type, day(ts)"`; empty: unpartitioned).
    pub partition_spec: String,
    /// Another endpoint for S3 and, with `glue`, for the Glue service too (one URL for both,
    /// as moto serves them on one port), for stand-ins such as moto or a VPC endpoint
    /// (`endpoint_url`; `None` for AWS's own). S3 is then addressed path-style.
    pub endpoint_url: Option<String>,
    /// The AWS region of the warehouse bucket and of the Glue Data Catalog (the worker's
    /// region); `None`: the environment's.
    pub region: Option<String>,
}

/// Which catalog holds the tables (`catalog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogKind {
    /// A SQL database: SQLite (one worker host) or PostgreSQL.
    Sql {
        /// `catalog_uri`: `sqlite:///ABSOLUTE/PATH` (created when missing) or
        /// `postgresql://user:password@host/database`.
        uri: String,
        /// `catalog_name`: the catalog's name inside the database (several can share one).
        catalog_name: String,
        /// `warehouse`: where new tables' data and metadata go, `s3://bucket/prefix` or
        /// `file:///ABSOLUTE/PATH`.
        warehouse: String,
    },
    /// The AWS Glue Data Catalog of the worker's account and region (credentials from the
    /// standard AWS chain; `endpoint_url` for stand-ins).
    Glue {
        /// `warehouse`: where created tables go, `s3://bucket/prefix` (a table `t` of database
        /// `d` goes to `<warehouse>/d.db/t`, unless the Glue database has a location of its own).
        warehouse: String,
    },
    /// Amazon S3 Tables: the tables of one table bucket (credentials from the standard AWS
    /// chain; `endpoint_url` for stand-ins).
    S3Tables {
        /// `warehouse`: the table bucket's ARN, `arn:aws:s3tables:REGION:ACCOUNT_ID:bucket/NAME`
        /// (each table's files go where S3 Tables puts the table).
        table_bucket_arn: String,
    },
    /// An Iceberg REST catalog, through iceberg-rust's REST client (no SigV4 signing: AWS
    /// Glue's and S3 Tables' REST endpoints are reached with `glue` / `s3tables` instead).
    Rest {
        /// `catalog_uri`: the catalog's base URL (`http://` or `https://`, without `/v1`).
        uri: String,
        /// `catalog_name`: the catalog's name (a label on the client side).
        catalog_name: String,
        /// `warehouse`: the warehouse the REST catalog serves, sent as `?warehouse=` with
        /// `GET /v1/config`; its scheme (`s3://` or `file:///`) also chooses the storage the
        /// tables' files are read and written through.
        warehouse: String,
        /// How requests are authenticated (`catalog_token`, `catalog_credential`,
        /// `catalog_oauth2_server_uri`).
        auth: RestAuth,
    },
}

impl CatalogKind {
    /// The `catalog` value that selects this kind.
    #[must_use]
    pub fn key(&self) -> &'static str {
        match self {
            Self::Sql { .. } => "sql",
            Self::Glue { .. } => "glue",
            Self::S3Tables { .. } => "s3tables",
            Self::Rest { .. } => "rest",
        }
    }
}

/// How a REST catalog's requests are authenticated (iceberg-rust's REST client: a bearer
/// token, or an OAuth2 client-credentials grant; no SigV4). `Debug` never shows the secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RestAuth {
    /// `catalog_token`: sent as `Authorization: Bearer <token>` on every request.
    pub token: Option<String>,
    /// `catalog_credential`: `<client id>:<client secret>` (or a secret alone) exchanged for a
    /// token with an OAuth2 client-credentials grant.
    pub credential: Option<String>,
    /// `catalog_oauth2_server_uri`: the token endpoint of that grant; default the catalog's own
    /// `<catalog_uri>/v1/oauth/tokens`.
    pub oauth2_server_uri: Option<String>,
}

impl std::fmt::Debug for RestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("RestAuth")
            .field("token", &shown(&self.token))
            .field("credential", &shown(&self.credential))
            .field("oauth2_server_uri", &self.oauth2_server_uri)
            .finish()
    }
}
