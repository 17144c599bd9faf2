//! The Iceberg destination: opening a table's catalog and committing data files to it with
//! each shard's position, exactly once.
//!
//! Owns: the catalog settings and opening a catalog ([`catalog_config`]), the commit fence
//! ([`fenced_catalog`]: a commit lands only if the table still holds the positions the
//! committer expects, atomically with the catalog's compare-and-swap), and fenced commits of
//! data files with the positions they complete ([`table_commit`]). A table's positions live in
//! its snapshot summaries under `kinesink.<name>.<shard id>` = `<sequence>/<sub-sequence>`; the
//! newest on main's ancestry is a shard's committed position, and it is the truth a resumed
//! shard starts after (the lease checkpoint follows it).
//!
//! iceberg-rust 0.10.1 (pinned exactly in the workspace) is used for catalogs, metadata and
//! commits only: data files are written by kinesink's own Parquet writer and handed over as
//! `iceberg::spec::DataFile`s (docs/design/iceberg-sink-plan.md).
//!
//! Must never: commit through a catalog other than a [`fenced_catalog::FencedCommit`] (an
//! unfenced `Transaction::commit` rebases a stale writer onto the newer table and moves
//! positions backwards); retry a fenced commit with the same expectation; move a committed
//! position backwards; read or write Kinesis, DynamoDB or leases.

pub mod catalog_config;
pub mod error;
pub mod fenced_catalog;
pub mod table_commit;

pub use catalog_config::{CatalogKind, IcebergCatalogSettings, open_catalog};
pub use error::{IcebergErrorClass, IcebergSinkError};
pub use fenced_catalog::{FenceRefusal, FencedCommit};
pub use table_commit::{CommitOutcome, commit_files, load_positions};
