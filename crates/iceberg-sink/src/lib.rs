//! The Iceberg destination: Kinesis shards into Apache Iceberg tables, exactly once.
//!
//! Owns, as a pure core: where a table says each shard is
//! ([`table_position`]: the snapshot-summary key `kinesink.<name>.<shard id>` and its value
//! `<seq>/<sub>`, read back newest-first along the main branch), and the commit protocol of
//! one worker for one table ([`commit_protocol::CommitProtocol`], a pure
//! `step(now, event) -> actions` state machine): which files go into which commit with which
//! fence, when a shard's flush point may be acknowledged, what to do when the table moved.
//! And, as its async shell over iceberg-rust: the catalog settings and opening a catalog
//! ([`catalog_config`]), the commit fence ([`fenced_catalog`]: a commit lands only if the table
//! still holds the positions the committer expects, atomically with the catalog's
//! compare-and-swap), and fenced commits of data files with the positions they complete
//! ([`table_commit`]). Between the two, without a runtime or I/O but on iceberg-rust's value
//! types: the data-file entry of a Parquet file kinesink wrote ([`data_file_stats`]: record,
//! value and null counts, sizes, bounds and split offsets read from the file's footer by its
//! Parquet field ids, string and binary bounds truncated as [`bound_truncation`] says); the
//! configured `partition_spec` text as a partition spec of the table schema
//! ([`partition_spec_text`]); a record's partition source values, converted exactly as its
//! Parquet file holds them ([`partition_source`]); a record's partition tuple from its source
//! values ([`partition_values`]); the partition's Hive-style path as Iceberg Java names it
//! ([`partition_path`]).
//!
//! # Catalogs
//! `sql` (SQLite or PostgreSQL: the metadata pointer swapped with a conditional `UPDATE`),
//! `glue` (the AWS Glue Data Catalog: `UpdateTable` with the `VersionId` the commit's base was
//! loaded with), `s3tables` (Amazon S3 Tables: `UpdateTableMetadataLocation` with the
//! `versionToken` the commit's base was loaded with) and `rest` (an Iceberg REST catalog) are
//! built; each gives the fence below a real compare-and-swap. The Glue stand-in, moto's Glue
//! (5.2.5), ignores `VersionId` in `UpdateTable` by itself; scripts/moto_server.py makes it
//! refuse a stale one as real Glue does (tests/glue_catalog.rs). moto's S3 Tables checks the
//! `versionToken` (tests/s3tables_catalog.rs).
//!
//! With `rest`, the swap happens on the server: iceberg-catalog-rest 0.10.1's `update_table`
//! posts the `TableCommit`'s requirements unchanged (`POST /v1/namespaces/{ns}/tables/{t}`),
//! and `Transaction::commit` builds them from the table it loaded through the fence on that
//! attempt: a fast append requires `assert-table-uuid` and `assert-ref-snapshot-id` (main at
//! the loaded snapshot id). The REST spec has the server check every requirement against the
//! table's current metadata and apply the updates atomically, or answer 409, which
//! iceberg-rust maps to a retryable `CatalogCommitConflicts`: the retry reloads through the
//! fence and checks the positions again. Authentication: a bearer token or OAuth2 client
//! credentials; SigV4 (AWS Glue's REST endpoint, S3 Tables' REST endpoint) is not supported by
//! iceberg-rust 0.10.1's REST client: use `catalog = "glue"` / `"s3tables"` for those. Tested
//! against scripts/iceberg_rest_catalog.py (pyiceberg's SqlCatalog behind the REST routes,
//! checking requirements and swapping the pointer under one lock), where two writers from the
//! same base really conflict (tests/rest_catalog.rs).
//!
//! iceberg-rust 0.10.1 (pinned exactly in the workspace) is used for catalogs, metadata and
//! commits only: data files are written by kinesink's own Parquet writer and handed over as
//! `iceberg::spec::DataFile`s (docs/design/iceberg-sink-plan.md).
//!
//! Must never: add a file to a table without the fence on the positions of its shards (commit
//! only through a [`fenced_catalog::FencedCommit`]: an unfenced `Transaction::commit` rebases
//! a stale writer onto the newer table and moves positions backwards); retry a fenced commit
//! with the same expectation; read or write Kinesis, DynamoDB or leases; let a
//! shard's lease checkpoint (or progress object) pass the table's position for it; delete an
//! object a table may reference. The pure modules take no runtime, no AWS SDK, no Iceberg
//! types, and read no clock (time is passed in).
//!
//! # The commit protocol
//! The flush protocol of the delivery crate cuts each shard's records into objects named by
//! their first record (`<name>-<shard>-<first seq>-<first sub>`) and asks for a checkpoint `X`
//! only at a *flush point*: every record up to `X` is in a durable object, every buffer empty.
//! Its cuts are deterministic: a replay from a flush point (restart, new owner) cuts at the
//! same records and writes the same objects under the same keys. With an Iceberg destination
//! the checkpoint `X` becomes [`commit_protocol::CommitEvent::FilesDurable`]: the shard's files
//! for the table since the previous flush point.
//!
//! 1. **One commit per table per worker per interval.** Each worker runs one protocol per
//!    table. At each interval ([`commit_protocol::CommitEvent::Tick`]) it makes one fast-append
//!    covering every shard with pending flush points: their files, and a snapshot summary with
//!    each shard's last flush point. A shard whose flush points brought no file for this table
//!    (a cut of error records only, or of records routed elsewhere) still moves: a
//!    summary-only commit, so that the table, the source of truth, holds every shard's
//!    position, and a restart does not re-deliver error records that were acknowledged.
//! 2. **The fence.** The commit carries `expect`: each of its shards' committed positions as
//!    this worker knows them (from the last confirmed commit, or the table read when the shard
//!    was taken). The shell commits through a catalog wrapper whose table load refuses
//!    ([`commit_protocol::CommitEvent::Fenced`]) when the table's positions differ from
//!    `expect`; iceberg-rust builds the commit's snapshot requirement from exactly that load,
//!    so the check is atomic with the catalog's metadata-pointer swap, and each of its retries
//!    reloads (and re-checks).
//! 3. **Adding files.** A file is added only if its first record is after its shard's
//!    committed position `C`. A file whose last record is at or below `C` is dropped
//!    ([`commit_protocol::CommitAction::Drop`]): a predecessor committed the very same file.
//!    A file across `C` (first ≤ `C` < last) means the cut points changed (configuration
//!    drift): it is never committed, the shard stops with a clear reason.
//! 4. **Acknowledging.** [`commit_protocol::CommitAction::Ack`] of a flush point comes only
//!    once the table is known to hold the shard at or past it: the commit containing it was
//!    confirmed, or a loaded table shows the position (then it is acknowledged without a
//!    commit). The shell then writes the progress object and the lease checkpoint: DynamoDB
//!    follows the table, never leads it.
//! 5. **Failures.** A conflict (another commit won the swap) or an unknown outcome (timeout,
//!    lost response) reloads the table; a fenced commit brings the table's positions. Each
//!    shard then adopts the table's position (flush points at or below it are acknowledged,
//!    files at or below it dropped) and what is left is committed again at once.
//! 6. **Resuming.** A worker that takes a shard, or starts without a lease row (dry-run),
//!    resumes after the highest of the table's position and the lease checkpoint, and tells
//!    the protocol the table's position ([`commit_protocol::CommitEvent::ShardTaken`]).
//!
//! # Why every record is committed exactly once
//! - Each record is in exactly one deterministic file per run (flush protocol), and positions
//!   in the table only move forward: a commit moves its shards strictly past `expect`, and
//!   applies only while the table holds `expect`.
//! - No record twice: a file is added only if its first record is after `C`, and the commit
//!   applies only if the table still holds `C`; everything after `C` was never added (every
//!   earlier commit moved the position past each file it added), and the file ends before the
//!   flush point the commit moves to.
//! - No record lost: a shard's position moves to `X` only together with all its files up to
//!   `X` after `C`, or when they were all there already; a file dropped as at or below `C`
//!   has its records in the table, since the table holds everything up to `C`.
//! - A **zombie** (a worker that lost the shard but does not know yet) holds a stale `C`. Once
//!   the new owner committed, the zombie's commit is fenced; it adopts the table's position,
//!   drops its files at or below it (already there) and its next lease write fails. If the
//!   zombie commits first, it added exactly the files the new owner reproduces under the same
//!   keys; the new owner is fenced, drops them and goes on.
//! - **Crash before the commit**: nothing references the files; the replay rewrites them under
//!   the same keys (the `write_once` finds them) and commits them once: nothing is referenced
//!   twice and nothing leaks. **Crash after the commit, before the lease write**: the table's
//!   position is past the lease checkpoint; the next owner resumes from the table. Objects leak
//!   only when the cut points change between runs (an orphan-file cleanup for that is future
//!   work); such a change never duplicates: the shard stops.
//! - The lease table is a cache of the table's positions: losing it loses nothing.
//!
//! The property test `tests/exactly_once_commits.rs` runs several workers over an in-memory
//! catalog with this fence, through restarts, steals, zombies, conflicts and lost responses.
//!
//! # Several tables: routing, and the default table as the checkpoint table
//! A partition query outputting `destinationDatabaseName` / `destinationTableName` (Firehose's
//! routing keys) sends each record to that table ([`table_routes::TableRoutes`], the record
//! path's router; a key not output, or output as `null`, takes the default table's part;
//! an empty one fails the record). Each table's current
//! schema, with its field ids, converts its records; `format.schema` only creates tables. A
//! table is opened (or created) at the first record routed to it; a record routed to a table
//! that is missing and not created, by a key that is not a valid name, or to a table kinesink
//! cannot write, goes to the error output (`processing-failed`, [`table_routes`]'s codes).
//!
//! Each worker runs one commit protocol per table it writes to
//! ([`routed_commits::RoutedCommits`]); all of them see the same flush points of a shard, each
//! with that table's files only. The **default table** (`destination.iceberg.database` /
//! `table`) is the checkpoint table:
//! 1. A routed table gets a flush point only when it has files of it. It learns a shard's
//!    position from its own snapshot summary when the shard's first files for it come
//!    (`ShardTaken` with that table's position; none: nothing committed yet), and forgets it
//!    when the shard is released or taken again. Its commits are fenced by its own positions
//!    of the shards in them, exactly as above.
//! 2. The default table gets every flush point (with its own files, maybe none: a
//!    summary-only commit), but only once every routed table that got files of that flush
//!    point, or of an earlier one of the shard, confirmed them, and in the shard's order
//!    ([`checkpoint_order::CheckpointOrder`]). Routed tables are stepped before the default
//!    one, so both commits can come in the same tick.
//! 3. A flush point is acknowledged (progress object, lease checkpoint) only when the default
//!    table's commit of it is confirmed. A shard resumes after the highest of its lease
//!    checkpoint and the **default** table's position.
//!
//! Why that is exactly once, per table: a routed table's position for a shard may be behind
//! the default table's (flush points without files there), equal, or ahead (a crash between
//! the routed commit and the default one; a zombie). If the default table holds `P`, every
//! routed table holds every record of the shard up to `P` routed to it (rule 2, applied by
//! every worker): nothing is lost by resuming after `P`. A replay from `P` cuts the same files
//! (deterministic cuts, and the same routing: the router answers the same keys alike for its
//! whole life); a routed table ahead of `P` drops those at or below its own position (rule 3
//! of the single-table protocol) and adds only the rest; a routed table behind `P` only gets
//! files after `P`, which are after its position. Each table's fence makes each table's
//! commits exactly once on their own. What routing cannot promise across runs: a table
//! created or dropped between a run and its replay changes where a replayed record goes (to
//! the table instead of the error output, or back); within a run a missing table stays
//! missing.

pub mod bound_truncation;
pub mod catalog_config;
pub mod catalog_settings;
pub mod checkpoint_order;
mod column_statistics;
pub mod commit_protocol;
pub mod data_file_stats;
pub mod error;
mod error_class;
pub mod fenced_catalog;
mod glue_catalog;
pub mod partition_path;
pub mod partition_source;
pub mod partition_spec_text;
pub mod partition_values;
pub mod record_partitioner;
mod rest_catalog;
pub mod routed_commits;
mod s3tables_catalog;
pub mod schema_mapping;
pub mod sdk_error_class;
pub mod table_commit;
pub mod table_committer;
pub mod table_files;
pub mod table_maintenance;
pub mod table_position;
pub mod table_preview;
pub mod table_routes;
pub mod table_target;
pub mod transient_retry;
mod warehouse_storage;

pub use catalog_config::{CatalogKind, IcebergCatalogSettings, open_catalog};
pub use catalog_settings::RestAuth;
pub use data_file_stats::{
    DataFileStatsError, FileStats, file_stats, file_stats_of_parquet, parquet_footer,
};
pub use error::{IcebergErrorClass, IcebergSinkError};
pub use fenced_catalog::{FenceRefusal, FencedCommit};
pub use partition_source::{PartitionSourceError, PartitionSources, SourceValues, datum_of};
pub use partition_spec_text::{PartitionSpecText, PartitionSpecTextError, parse_partition_spec};
pub use partition_values::{Partition, PartitionId, PartitionValues, PartitionValuesError};
pub use table_commit::{CommitOutcome, commit_files, load_positions};
pub use table_routes::ROUTING_KEYS;
