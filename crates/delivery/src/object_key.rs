//! Deterministic object names.

use kinesink_sequence_position::SequencePosition;

/// Builds the key of an object from what identifies its content.
///
/// Guarantees: the key is a pure function of (evaluated prefix, delivery name, shard id, first
/// record position, extension), so a replay of the same records names the same object; two
/// objects of one shard with different first records never share a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    /// Delivery name (config `name`), the first part of the file name.
    pub name: String,
    /// Extension including the dot, or empty.
    pub extension: String,
}

impl ObjectKey {
    /// The key for an object under `prefix` holding records of `shard_id` starting at `first`.
    #[must_use]
    pub fn render(&self, prefix: &str, shard_id: &str, first: &SequencePosition) -> String {
        format!(
            "{prefix}{}-{shard_id}-{}-{}{}",
            self.name, first.sequence_number, first.sub_sequence_number, self.extension
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_prefix_name_shard_and_first_position() {
        let k = ObjectKey {
            name: "clicks".into(),
            extension: ".gz".into(),
        };
        assert_eq!(
            k.render(
                "2026/11/22/10/",
                "shardId-000000000001",
                &SequencePosition::new("4959", 3)
            ),
            "2026/11/22/10/clicks-shardId-000000000001-4959-3.gz"
        );
    }

    #[test]
    fn different_first_records_give_different_keys() {
        let k = ObjectKey {
            name: "n".into(),
            extension: String::new(),
        };
        let a = k.render("p/", "s", &SequencePosition::new("1", 11));
        let b = k.render("p/", "s", &SequencePosition::new("11", 1));
        assert_ne!(a, b);
    }
}
