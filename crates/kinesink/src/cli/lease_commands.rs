//! `kinesink leases list|show|release|reset`: reading and changing the lease table by hand.

use std::path::PathBuf;

use clap::Subcommand;
use kinesink_lease_coordination::{
    AdminChange, Checkpoint, DynamoDbLeaseTable, EndedShards, Lease, LeaseTable,
};

use super::destination_sinks::progress_store;
use super::failure::{Failure, load_config, usage};
use crate::config::Settings;
use crate::lease_reset::ResetTarget;

/// The `leases` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum LeasesCommand {
    /// One line per shard: owner, counter, checkpoint, parents, state.
    List {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Everything stored for one shard's lease.
    Show {
        /// The shard id.
        shard: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Clear a lease's owner so another worker takes it (its holder stops at its next write).
    Release {
        /// The shard id.
        shard: String,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Confirm the change.
        #[arg(long)]
        yes: bool,
    },
    /// Move a lease's checkpoint; refused while a worker holds it live.
    Reset {
        /// The shard id.
        shard: String,
        /// New position.
        #[arg(long, value_enum)]
        to: ResetTarget,
        /// With `--to at-timestamp`: the time (RFC 3339) reading restarts at, stored in the
        /// lease. Without it, `--to at-timestamp` uses the configured `source.initial_timestamp`.
        #[arg(long)]
        timestamp: Option<String>,
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Confirm the change.
        #[arg(long)]
        yes: bool,
    },
}

pub(crate) async fn lease_table(
    config: &std::path::Path,
) -> Result<(Settings, DynamoDbLeaseTable), Failure> {
    let settings = load_config(config)?;
    let aws = crate::aws::clients_for(&settings).await;
    crate::aws::check_credentials(&aws.sdk)
        .await
        .map_err(usage)?;
    let table = DynamoDbLeaseTable::new(aws.dynamodb.clone(), settings.lease_table.clone());
    Ok((settings, table))
}

fn lease_state(lease: &Lease, all: &[Lease]) -> &'static str {
    lease.state(&EndedShards::of(all)).as_str()
}

fn lease_json(lease: &Lease, all: &[Lease]) -> serde_json::Value {
    serde_json::json!({
        "shard_id": lease.shard_id,
        "owner": lease.owner,
        "counter": lease.counter,
        "checkpoint": lease.checkpoint.as_stored(),
        "checkpoint_sub_sequence_number": lease.checkpoint.sub_sequence(),
        "checkpoint_timestamp": match lease.checkpoint {
            Checkpoint::AtTime(ms) => i64::try_from(ms).ok().and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.to_rfc3339()),
            _ => None,
        },
        "parent_shard_ids": lease.parent_shard_ids,
        "owner_switches_since_checkpoint": lease.owner_switches_since_checkpoint,
        "flush_intent": lease.flush_intent.as_ref().map(ToString::to_string),
        "flush_horizon": lease.flush_horizon.as_ref().map(ToString::to_string),
        "millis_behind_latest": lease.millis_behind_latest,
        "state": lease_state(lease, all),
    })
}

async fn find_lease(
    table: &DynamoDbLeaseTable,
    shard: &str,
) -> Result<(Lease, Vec<Lease>), Failure> {
    let all = table.list().await.map_err(|e| usage(e.to_string()))?;
    let lease = all
        .iter()
        .find(|l| l.shard_id == shard)
        .cloned()
        .ok_or_else(|| {
            usage(format!(
                "no lease for shard `{shard}` in table {}",
                table.table_name()
            ))
        })?;
    Ok((lease, all))
}

pub(crate) async fn leases_command(command: LeasesCommand) -> Result<(), Failure> {
    match command {
        LeasesCommand::List { config, json } => {
            let (_, table) = lease_table(&config).await?;
            let leases = table.list().await.map_err(|e| usage(e.to_string()))?;
            if json {
                println!(
                    "{}",
                    serde_json::Value::Array(
                        leases.iter().map(|l| lease_json(l, &leases)).collect()
                    )
                );
                return Ok(());
            }
            println!(
                "{:<24} {:<40} {:>8} {:<20} {:>12} {:<24} CHECKPOINT",
                "SHARD", "OWNER", "COUNTER", "STATE", "MS BEHIND", "PARENTS"
            );
            for l in &leases {
                println!(
                    "{:<24} {:<40} {:>8} {:<20} {:>12} {:<24} {}",
                    l.shard_id,
                    l.owner.as_deref().unwrap_or("-"),
                    l.counter,
                    lease_state(l, &leases),
                    l.millis_behind_latest
                        .map_or_else(|| "-".to_owned(), |ms| ms.to_string()),
                    if l.parent_shard_ids.is_empty() {
                        "-".to_owned()
                    } else {
                        l.parent_shard_ids.join(",")
                    },
                    l.checkpoint
                );
            }
            Ok(())
        }
        LeasesCommand::Show {
            shard,
            config,
            json,
        } => {
            let (_, table) = lease_table(&config).await?;
            let (lease, all) = find_lease(&table, &shard).await?;
            let v = lease_json(&lease, &all);
            if json {
                println!("{v}");
            } else if let serde_json::Value::Object(map) = v {
                for (k, v) in map {
                    println!("{k:<32} {v}");
                }
            }
            Ok(())
        }
        LeasesCommand::Release { shard, config, yes } => {
            let (_, table) = lease_table(&config).await?;
            let (lease, _) = find_lease(&table, &shard).await?;
            if !yes {
                return Err(usage(format!(
                    "releasing the lease of {shard} (owner {}) needs --yes",
                    lease.owner.as_deref().unwrap_or("none")
                )));
            }
            if table
                .admin_change(&shard, lease.counter, &AdminChange::Release)
                .await
                .map_err(|e| usage(e.to_string()))?
            {
                println!(
                    "kinesink: released the lease of {shard} (was owned by {})",
                    lease.owner.as_deref().unwrap_or("nobody")
                );
                Ok(())
            } else {
                Err(usage(format!(
                    "the lease of {shard} changed while releasing it; try again"
                )))
            }
        }
        LeasesCommand::Reset {
            shard,
            to,
            timestamp,
            config,
            yes,
        } => {
            let (settings, table) = lease_table(&config).await?;
            let checkpoint = crate::lease_reset::reset_checkpoint(
                to,
                timestamp.as_deref(),
                &settings.worker.initial_position,
            )
            .map_err(usage)?;
            let (lease, _) = find_lease(&table, &shard).await?;
            if !yes {
                return Err(usage(format!(
                    "resetting {shard} from {} to {checkpoint} re-reads or skips records; it needs --yes",
                    lease.checkpoint
                )));
            }
            if let Some(owner) = &lease.owner {
                eprintln!(
                    "kinesink: {shard} names owner {owner}; checking it is not live ({} ms)...",
                    settings.worker.failover_time.as_millis()
                );
                let before = table.snapshot().await.map_err(|e| usage(e.to_string()))?;
                tokio::time::sleep(settings.worker.failover_time).await;
                let after = table.snapshot().await.map_err(|e| usage(e.to_string()))?;
                // Heartbeat-backed: an owner reading an idle shard never writes its lease, but
                // its heartbeat moves.
                if before.lease_live_until(&after, &shard) {
                    return Err(usage(format!(
                        "the lease of {shard} is held live by {owner}: stop that worker (or release the lease) first"
                    )));
                }
            }
            // The progress kept in the destination would overrule the reset row: reset it
            // first (should the row's reset then be refused, the row is further and wins).
            let aws = crate::aws::clients_for(&settings).await;
            kinesink_worker::destination_progress::reset_progress(
                progress_store(&settings, &aws.s3).as_ref(),
                &settings.worker.name,
                &shard,
                &checkpoint,
            )
            .await
            .map_err(|e| {
                usage(format!(
                    "resetting the progress of {shard} kept in the destination: {e}"
                ))
            })?;
            if table
                .admin_change(
                    &shard,
                    lease.counter,
                    &AdminChange::Reset(checkpoint.clone()),
                )
                .await
                .map_err(|e| usage(e.to_string()))?
            {
                println!(
                    "kinesink: {shard} reset from {} to {checkpoint}",
                    lease.checkpoint
                );
                Ok(())
            } else {
                Err(usage(format!(
                    "the lease of {shard} changed while resetting it; try again"
                )))
            }
        }
    }
}
