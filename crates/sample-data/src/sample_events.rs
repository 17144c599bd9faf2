//! Sample clickstream events for demos and tests (the schema of the reference config).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const EVENT_TYPES: &[&str] = &["page_view", "click", "add_to_cart", "purchase"];
const COUNTRIES: &[&str] = &["US", "DE", "FR", "GB", "JP", "BR", "IN"];
const PAGES: &[&str] = &["/", "/search", "/product", "/cart", "/checkout", "/account"];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64)",
    "Mozilla/5.0 (Macintosh)",
    "Mozilla/5.0 (iPhone)",
];

/// Generates events with ids `<prefix>-<n>` for n = 0, 1, 2, ...
///
/// Guarantees: ids are unique within one generator; the same seed gives the same events.
#[derive(Debug)]
pub struct SampleEvents {
    rng: StdRng,
    id_prefix: String,
    next: u64,
}

impl SampleEvents {
    /// A generator with the given id prefix and seed.
    #[must_use]
    pub fn new(id_prefix: impl Into<String>, seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            id_prefix: id_prefix.into(),
            next: 0,
        }
    }

    /// The next event, stamped with `ts_ms` (ms since the epoch), as JSON bytes.
    pub fn next_event(&mut self, ts_ms: i64) -> (String, Vec<u8>) {
        let id = format!("{}-{}", self.id_prefix, self.next);
        self.next += 1;
        let ts = chrono::DateTime::from_timestamp_millis(ts_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let event = serde_json::json!({
            "event_id": id,
            "customer_id": format!("c-{}", self.rng.random_range(1..=500)),
            "event_type": EVENT_TYPES[self.rng.random_range(0..EVENT_TYPES.len())],
            "ts": ts,
            "price": f64::from(self.rng.random_range(100..50_000u32)) / 100.0,
            "quantity": self.rng.random_range(1..=5),
            "page": PAGES[self.rng.random_range(0..PAGES.len())],
            "country": COUNTRIES[self.rng.random_range(0..COUNTRIES.len())],
            "user_agent": AGENTS[self.rng.random_range(0..AGENTS.len())],
            "session_ms": self.rng.random_range(0..3_600_000u64),
        });
        (
            id,
            serde_json::to_vec(&event).expect("JSON value serialises"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_events_are_json_objects_with_the_reference_columns() {
        let mut g = SampleEvents::new("t", 1);
        let mut ids = std::collections::HashSet::new();
        for _ in 0..1000 {
            let (id, bytes) = g.next_event(1_795_345_200_000);
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["event_id"], id.as_str());
            for col in [
                "customer_id",
                "event_type",
                "ts",
                "price",
                "quantity",
                "page",
                "country",
                "user_agent",
                "session_ms",
            ] {
                assert!(!v[col].is_null(), "{col} missing in {v}");
            }
            assert!(ids.insert(id));
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_events() {
        let a: Vec<_> = (0..5)
            .map({
                let mut g = SampleEvents::new("x", 7);
                move |_| g.next_event(0)
            })
            .collect();
        let b: Vec<_> = (0..5)
            .map({
                let mut g = SampleEvents::new("x", 7);
                move |_| g.next_event(0)
            })
            .collect();
        assert_eq!(a, b);
    }
}
