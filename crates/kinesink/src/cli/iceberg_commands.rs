//! `kinesink iceberg status|expire-snapshots`: the Iceberg destination's table, by hand.

use std::path::PathBuf;

use clap::Subcommand;
use iceberg::{NamespaceIdent, TableIdent};
use kinesink_iceberg_sink::open_catalog;
use kinesink_iceberg_sink::table_maintenance::{expire_snapshots, plan_expiry, table_status};
use kinesink_lease_coordination::LeaseTable;

use super::failure::{Failure, load_config, usage};
use super::lease_commands::lease_table;

/// The `iceberg` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum IcebergCommand {
    /// The table: snapshots, data files, records, bytes, and each shard's committed position
    /// next to its lease checkpoint; then the other tables this delivery has committed to
    /// (records routed by `processing.partition_query`), those of its database first.
    Status {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Expire snapshots older than `--older-than` (e.g. `7d`, `12h`), keeping the current one
    /// and every snapshot still needed for a shard's position. Metadata only: no data file is
    /// deleted.
    ExpireSnapshots {
        /// Age, as a number and a unit: `s`, `m`, `h` or `d`.
        #[arg(long)]
        older_than: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Expire them (without it, only what would be expired is printed).
        #[arg(long)]
        yes: bool,
    },
}

/// The tables, other than `default`, that hold positions of delivery `name` (the tables its
/// partition query routed records to), with their status: those of `default`'s database, then
/// those of every other database of the catalog (`destinationDatabaseName` routes there).
async fn routed_tables(
    catalog: &dyn iceberg::Catalog,
    default: &TableIdent,
    name: &str,
) -> Result<
    Vec<(
        TableIdent,
        kinesink_iceberg_sink::table_maintenance::TableStatus,
    )>,
    Failure,
> {
    // Without the permission to list databases (glue:GetDatabases), the configured one's
    // tables are still shown.
    let mut namespaces = match catalog.list_namespaces(None).await {
        Ok(namespaces) => namespaces,
        Err(e) => {
            eprintln!(
                "kinesink: could not list the catalog's databases ({e}); showing the tables of {} only",
                default.namespace().join(".")
            );
            Vec::new()
        }
    };
    namespaces.sort_by_key(|n| (n != default.namespace(), n.join(".")));
    if !namespaces.contains(default.namespace()) {
        namespaces.insert(0, default.namespace().clone());
    }
    let mut routed = Vec::new();
    for namespace in &namespaces {
        // The configured database must be readable (its failure fails the command); another
        // database or table this worker may not read (other teams' tables, other buckets) is
        // skipped with a warning.
        let own = namespace == default.namespace();
        let tables = match catalog.list_tables(namespace).await {
            Ok(tables) => tables,
            Err(e) if own => {
                return Err(usage(format!(
                    "list the tables of {}: {e}",
                    namespace.join(".")
                )));
            }
            Err(e) => {
                eprintln!(
                    "kinesink: skipping database {}: its tables could not be listed ({e})",
                    namespace.join(".")
                );
                continue;
            }
        };
        let mut tables = tables;
        tables.sort_by_key(ToString::to_string);
        for table in tables {
            if &table == default {
                continue;
            }
            let status = match table_status(catalog, &table, name).await {
                Ok(status) => status,
                Err(e) if own => return Err(usage(e)),
                Err(e) => {
                    eprintln!("kinesink: skipping table {table}: {e}");
                    continue;
                }
            };
            if !status.positions.is_empty() {
                routed.push((table, status));
            }
        }
    }
    Ok(routed)
}

/// `7d` → milliseconds.
fn age_ms(text: &str) -> Result<i64, Failure> {
    let bad = || {
        usage(format!(
            "--older-than `{text}`: a number and a unit (s, m, h, d), e.g. 7d"
        ))
    };
    let unit = text.chars().last().ok_or_else(bad)?;
    let number: i64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    let scale = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return Err(bad()),
    };
    number
        .checked_mul(scale)
        .filter(|ms| *ms >= 0)
        .ok_or_else(bad)
}

pub(crate) async fn iceberg_command(command: IcebergCommand) -> Result<(), Failure> {
    let config = match &command {
        IcebergCommand::Status { config, .. } | IcebergCommand::ExpireSnapshots { config, .. } => {
            config.clone()
        }
    };
    let settings = load_config(&config)?;
    let Some(iceberg) = &settings.iceberg else {
        return Err(usage(format!(
            "{}: no [destination.iceberg] section",
            config.display()
        )));
    };
    let catalog = open_catalog(iceberg).await.map_err(usage)?;
    let table = TableIdent::new(
        NamespaceIdent::new(iceberg.database.clone()),
        iceberg.table.clone(),
    );
    let name = &settings.worker.name;
    match command {
        IcebergCommand::Status { json, .. } => {
            let status = table_status(&*catalog, &table, name).await.map_err(usage)?;
            // The lease table, when it can be read: its checkpoints next to the table's.
            let leases = match lease_table(&config).await {
                Ok((_, leases)) => leases.list().await.ok(),
                Err(_) => None,
            };
            let checkpoint = |shard: &str| {
                leases.as_ref().and_then(|all| {
                    all.iter()
                        .find(|l| l.shard_id == shard)
                        .map(|l| l.checkpoint.to_string())
                })
            };
            let mut shards: Vec<String> = status.positions.keys().cloned().collect();
            if let Some(all) = &leases {
                shards.extend(all.iter().map(|l| l.shard_id.clone()));
            }
            shards.sort();
            shards.dedup();
            let routed = routed_tables(&*catalog, &table, name).await?;
            if json {
                let routed: Vec<_> = routed
                    .iter()
                    .map(|(t, st)| serde_json::json!({"table": t.to_string(), "location": st.location, "snapshots": st.snapshots, "last_commit_ms": st.last_commit_ms, "data_files": st.data_files, "records": st.records, "bytes": st.bytes, "shards": st.positions.iter().map(|(s, p)| serde_json::json!({"shard_id": s, "table_position": p.to_string()})).collect::<Vec<_>>()}))
                    .collect();
                let rows: Vec<_> = shards
                    .iter()
                    .map(|s| serde_json::json!({"shard_id": s, "table_position": status.positions.get(s).map(ToString::to_string), "lease_checkpoint": checkpoint(s)}))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"table": table.to_string(), "location": status.location, "snapshots": status.snapshots, "current_snapshot_id": status.current_snapshot_id, "last_commit_ms": status.last_commit_ms, "data_files": status.data_files, "records": status.records, "bytes": status.bytes, "shards": rows, "routed_tables": routed})
                );
                return Ok(());
            }
            let show = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
            println!("table       {table}");
            println!("location    {}", status.location);
            println!("snapshots   {}", status.snapshots);
            println!(
                "last commit {}",
                status.last_commit_ms.map_or_else(
                    || "-".to_owned(),
                    |ms| chrono::DateTime::from_timestamp_millis(ms)
                        .map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
                )
            );
            println!(
                "data files  {}   records {}   bytes {}",
                show(status.data_files),
                show(status.records),
                show(status.bytes)
            );
            println!();
            println!("{:<24} {:<60} LEASE CHECKPOINT", "SHARD", "TABLE POSITION");
            for s in &shards {
                println!(
                    "{:<24} {:<60} {}",
                    s,
                    status
                        .positions
                        .get(s)
                        .map_or_else(|| "-".to_owned(), ToString::to_string),
                    checkpoint(s).unwrap_or_else(|| {
                        if leases.is_some() {
                            "-"
                        } else {
                            "(lease table unreachable)"
                        }
                        .to_owned()
                    })
                );
            }
            if !routed.is_empty() {
                println!();
                println!(
                    "{:<40} {:>9} {:>10} {:>12} {:>14}",
                    "ROUTED TABLE", "SNAPSHOTS", "DATA FILES", "RECORDS", "BYTES"
                );
                for (t, st) in &routed {
                    println!(
                        "{:<40} {:>9} {:>10} {:>12} {:>14}",
                        t.to_string(),
                        st.snapshots,
                        show(st.data_files),
                        show(st.records),
                        show(st.bytes)
                    );
                }
            }
            Ok(())
        }
        IcebergCommand::ExpireSnapshots {
            older_than, yes, ..
        } => {
            let cutoff = chrono::Utc::now().timestamp_millis() - age_ms(&older_than)?;
            let plan = if yes {
                expire_snapshots(&*catalog, &table, name, cutoff)
                    .await
                    .map_err(usage)?
            } else {
                let loaded = catalog.load_table(&table).await.map_err(usage)?;
                plan_expiry(loaded.metadata(), name, cutoff)
            };
            let verb = if yes { "expired" } else { "would expire" };
            println!("{verb} {} snapshots of {table}", plan.expire.len());
            if let Some((shard, id, at)) = &plan.held_back_by {
                println!(
                    "kept from snapshot {id} ({}) on: it holds the newest position of {shard}",
                    chrono::DateTime::from_timestamp_millis(*at)
                        .map_or_else(|| at.to_string(), |t| t.to_rfc3339())
                );
            }
            if !yes && !plan.expire.is_empty() {
                println!("pass --yes to expire them");
            }
            Ok(())
        }
    }
}
