//! `catalog = "rest"` against the local REST catalog stand-in (scripts/iceberg_rest_catalog.py:
//! pyiceberg's SqlCatalog behind the Iceberg REST routes, one server per test), through
//! iceberg-rust's REST client.
//!
//! Proven here: a table (and its namespace) is created through the REST catalog with its
//! partition spec, data files written to moto's S3 through the table's FileIO are committed by
//! fenced commits and read back through a reopened catalog; a stale expectation is refused; a
//! real commit conflict (two writers from the same base: the server checks the commit's
//! `assert-ref-snapshot-id` requirement and answers 409) is retried by iceberg-rust, and the
//! retry is fenced when the winner moved the same shard, lands when it moved another one; of
//! two concurrent committers of one shard exactly one wins; the bearer token and the OAuth2
//! client credential reach the server. Unlike moto's Glue, the stand-in enforces the
//! requirements, so here the fence's atomicity with the swap is exercised.
#![cfg(feature = "stand-ins")]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use iceberg::Catalog;
use iceberg::spec::{DataFile, Literal, Struct};
use kinesink_iceberg_sink::table_target::{TableCreationSettings, TableTarget, open_table};
use kinesink_iceberg_sink::{
    CatalogKind, CommitOutcome, IcebergCatalogSettings, RestAuth, commit_files,
    file_stats_of_parquet, load_positions, open_catalog,
};
use kinesink_parquet_writer::{ParquetObjectEncoder, ParquetOptions, SerdeOptions, TableSchema};

use common::catalog_checks::{self, at, empty_table, unique};
use common::rest_catalog::RestCatalogServer;

const BUCKET: &str = "kinesink-rest-it";
const NAME: &str = "events";
const SHARD: &str = "shardId-000000000001";

fn settings(server: &RestCatalogServer, auth: RestAuth) -> IcebergCatalogSettings {
    IcebergCatalogSettings {
        kind: CatalogKind::Rest {
            uri: server.uri.clone(),
            catalog_name: "default".into(),
            warehouse: server.warehouse.clone(),
            auth,
        },
        database: "analytics".into(),
        table: "events".into(),
        create_tables: true,
        partition_spec: "event_type".into(),
        endpoint_url: std::env::var("AWS_ENDPOINT_URL_S3").ok(),
        region: std::env::var("AWS_REGION").ok(),
    }
}

async fn catalog(server: &RestCatalogServer) -> Arc<dyn Catalog> {
    open_catalog(&settings(server, RestAuth::default()))
        .await
        .unwrap()
}

/// The warehouse bucket in moto's S3 (created once, kept).
async fn warehouse_bucket() {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    if s3.head_bucket().bucket(BUCKET).send().await.is_err() {
        // Another test may create it meanwhile: only its existence afterwards matters.
        let _ = s3.create_bucket().bucket(BUCKET).send().await;
    }
    s3.head_bucket().bucket(BUCKET).send().await.unwrap();
}

/// Opens (creating it the first time) `<database>.events`, partitioned by `event_type`.
async fn target(catalog: &dyn Catalog, database: &str) -> TableTarget {
    let schema = TableSchema::parse_hive("event_id string, event_type string, n bigint").unwrap();
    let creation = TableCreationSettings {
        create_tables: true,
        schema: Some(&schema),
        partition_spec: "event_type",
    };
    open_table(
        catalog,
        database,
        "events",
        &creation,
        &SerdeOptions::default(),
    )
    .await
    .unwrap()
}

/// A Parquet file of events `ids` of type `kind`, written to the table's `data/` through the
/// table's FileIO; its entry with statistics from its footer.
async fn write_file(target: &TableTarget, kind: &str, ids: std::ops::Range<u32>) -> DataFile {
    let mut encoder = ParquetObjectEncoder::new(
        Arc::clone(&target.schema),
        Arc::new(SerdeOptions::default()),
        ParquetOptions::default(),
    )
    .unwrap();
    for id in ids.clone() {
        let record = format!(r#"{{"event_id":"e{id}","event_type":"{kind}","n":{id}}}"#);
        encoder.append_bytes(record.as_bytes()).unwrap();
    }
    let bytes = encoder.finish().unwrap();
    let path = format!(
        "{}/data/event_type={kind}/{kind}-{}.parquet",
        target.location(),
        ids.start
    );
    let file_io = target.table.file_io();
    file_io
        .new_output(&path)
        .unwrap()
        .write(bytes.clone().into())
        .await
        .unwrap();
    let metadata = target.table.metadata();
    file_stats_of_parquet(&bytes, metadata.current_schema())
        .unwrap()
        .into_data_file(
            path,
            Struct::from_iter([Some(Literal::string(kind))]),
            target.spec_id,
        )
        .unwrap()
}

/// The event ids a scan of the table reads, with their counts.
async fn event_ids(catalog: &dyn Catalog, target: &TableTarget) -> BTreeMap<String, usize> {
    use arrow_array_58::{Array, StringArray};
    let table = catalog.load_table(&target.ident).await.unwrap();
    let batches: Vec<_> = table
        .scan()
        .select(["event_id"])
        .build()
        .unwrap()
        .to_arrow()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut ids = BTreeMap::new();
    for batch in batches {
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        for i in 0..column.len() {
            *ids.entry(column.value(i).to_owned()).or_default() += 1;
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rest_table_on_moto_s3_is_created_partitioned_committed_and_read_back() {
    warehouse_bucket().await;
    let server = RestCatalogServer::start_on_moto_s3(BUCKET, &[]);
    let database = unique("rest_it");
    let catalog = catalog(&server).await;

    let created = target(&*catalog, &database).await;
    assert!(
        created
            .location()
            .starts_with(&format!("s3://{BUCKET}/warehouse/")),
        "created under the warehouse: {}",
        created.location()
    );
    let spec = created.table.metadata().default_partition_spec();
    assert_eq!(
        spec.fields().len(),
        1,
        "partitioned by event_type: {spec:?}"
    );
    let reopened = target(&*catalog, &database).await;
    assert_eq!(
        reopened.table.metadata().uuid(),
        created.table.metadata().uuid()
    );

    let clicks = write_file(&created, "click", 0..40).await;
    let views = write_file(&created, "view", 40..100).await;
    let outcome = commit_files(
        &*catalog,
        &created.ident,
        NAME,
        vec![clicks, views],
        BTreeMap::from([(SHARD.to_owned(), at("10/0"))]),
        BTreeMap::from([(SHARD.to_owned(), None)]),
    )
    .await
    .unwrap();
    assert!(
        matches!(outcome, CommitOutcome::Committed { .. }),
        "{outcome:?}"
    );
    // A zombie that saw no position is refused, and nothing is committed.
    let zombie = write_file(&created, "view", 100..110).await;
    let outcome = commit_files(
        &*catalog,
        &created.ident,
        NAME,
        vec![zombie],
        BTreeMap::from([(SHARD.to_owned(), at("5/0"))]),
        BTreeMap::from([(SHARD.to_owned(), None)]),
    )
    .await
    .unwrap();
    assert!(matches!(outcome, CommitOutcome::Fenced(_)), "{outcome:?}");

    let fresh = open_catalog(&settings(&server, RestAuth::default()))
        .await
        .unwrap();
    assert_eq!(
        load_positions(&*fresh, &created.ident, NAME).await.unwrap(),
        BTreeMap::from([(SHARD.to_owned(), at("10/0"))])
    );
    let expected: BTreeMap<String, usize> = (0..100).map(|i| (format!("e{i}"), 1)).collect();
    assert_eq!(
        event_ids(&*fresh, &created).await,
        expected,
        "events 0..100 once each"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_expectation_is_fenced_and_positions_read_back_through_a_reopened_catalog() {
    let server = RestCatalogServer::start(None, &[], &[]);
    let catalog = catalog(&server).await;
    let table = empty_table(&*catalog, "analytics", "stale").await;
    let reopened = open_catalog(&settings(&server, RestAuth::default()))
        .await
        .unwrap();
    catalog_checks::a_stale_expectation_is_fenced(&*catalog, &table, &*reopened).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_conflict_with_a_writer_of_its_shard_is_answered_409_and_fenced_on_the_retry() {
    let server = RestCatalogServer::start(None, &[], &[]);
    let catalog = catalog(&server).await;
    let table = empty_table(&*catalog, "analytics", "same_shard").await;
    catalog_checks::losing_the_swap_to_a_writer_of_its_shard_conflicts_then_is_fenced(
        &catalog, &table,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_conflict_with_a_writer_of_another_shard_is_answered_409_retried_and_lands() {
    let server = RestCatalogServer::start(None, &[], &[]);
    let catalog = catalog(&server).await;
    let table = empty_table(&*catalog, "analytics", "other_shard").await;
    catalog_checks::losing_the_swap_to_a_writer_of_another_shard_conflicts_then_lands(
        &catalog, &table,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_rest_committers_of_one_shard_exactly_one_wins() {
    let server = RestCatalogServer::start(None, &[], &[]);
    let catalog = catalog(&server).await;
    let table = empty_table(&*catalog, "analytics", "race").await;
    catalog_checks::of_two_concurrent_committers_of_one_shard_exactly_one_wins(&*catalog, &table)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bearer_token_or_an_oauth2_client_credential_is_sent_and_without_them_the_server_refuses()
{
    let server = RestCatalogServer::start(
        None,
        &[],
        &["--token", "t0k", "--credential", "kinesink:s3cret"],
    );
    let namespaces = async |auth: RestAuth| {
        let catalog = open_catalog(&settings(&server, auth)).await.unwrap();
        catalog.list_namespaces(None).await
    };
    let refused = namespaces(RestAuth::default()).await.unwrap_err();
    let text = format!("{refused:?}");
    assert!(
        text.contains("401") && text.contains("NotAuthorized"),
        "{text}"
    );
    assert_eq!(
        kinesink_iceberg_sink::error::class_of(&refused),
        kinesink_iceberg_sink::IcebergErrorClass::Permanent,
        "refused credentials are not waited out"
    );
    let wrong = RestAuth {
        credential: Some("kinesink:wrong".into()),
        ..RestAuth::default()
    };
    assert!(
        namespaces(wrong).await.is_err(),
        "a wrong credential gets no token"
    );

    let token = RestAuth {
        token: Some("t0k".into()),
        ..RestAuth::default()
    };
    namespaces(token).await.unwrap();
    let credential = RestAuth {
        credential: Some("kinesink:s3cret".into()),
        ..RestAuth::default()
    };
    namespaces(credential).await.unwrap();
    let elsewhere = RestAuth {
        credential: Some("kinesink:s3cret".into()),
        oauth2_server_uri: Some(format!("{}/v1/oauth/tokens", server.uri)),
        ..RestAuth::default()
    };
    namespaces(elsewhere).await.unwrap();
}
