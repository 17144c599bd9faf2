//! The terminal progress view of `kinesink run`: one line per shard with records read and
//! delivered and how far behind the stream's tip it is, updated in place. Only shown when
//! stderr is a terminal.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use kinesink_worker::delivery_stats::{DeliveryStats, ShardProgress};

/// The text of one shard's line.
#[must_use]
pub fn shard_line(shard_id: &str, p: &ShardProgress) -> String {
    let behind = match p.millis_behind {
        None => "behind: ?".to_owned(),
        Some(0) => "at tip".to_owned(),
        Some(ms) if ms < 1_000 => format!("{ms} ms behind"),
        Some(ms) => format!("{:.1} s behind", ms as f64 / 1000.0),
    };
    format!(
        "{shard_id}  read {:>10}  delivered {:>10}  {behind}",
        p.read, p.delivered
    )
}

/// Draws the view until `stop` is cancelled, refreshing twice a second.
pub async fn show(stats: Arc<DeliveryStats>, stop: CancellationToken) {
    let view = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut bars: BTreeMap<String, ProgressBar> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let draw = |bars: &mut BTreeMap<String, ProgressBar>| {
        for (shard, p) in stats.snapshot() {
            let bar = bars
                .entry(shard.clone())
                .or_insert_with(|| view.add(ProgressBar::new_spinner().with_style(style.clone())));
            bar.set_message(shard_line(&shard, &p));
            bar.tick();
        }
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => draw(&mut bars),
        }
    }
    draw(&mut bars);
    for bar in bars.values() {
        bar.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_line_shows_read_delivered_and_lag() {
        let p = ShardProgress {
            read: 1200,
            delivered: 1000,
            millis_behind: Some(2500),
        };
        assert_eq!(
            shard_line("shardId-000000000001", &p),
            "shardId-000000000001  read       1200  delivered       1000  2.5 s behind"
        );
        assert!(
            shard_line(
                "s",
                &ShardProgress {
                    millis_behind: Some(0),
                    ..p
                }
            )
            .ends_with("at tip")
        );
        assert!(
            shard_line(
                "s",
                &ShardProgress {
                    millis_behind: None,
                    ..p
                }
            )
            .ends_with("behind: ?")
        );
    }
}
