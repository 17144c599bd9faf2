//! The partition keys of one record: ordered `(name, value)` pairs whose values are S3-safe.

use std::sync::Arc;

use smallvec::SmallVec;

use crate::jq_number_text;
use crate::key_escaping::push_escaped;
use crate::partitioning_failure::{FailureReason, MAX_PARTITION_KEYS, PartitioningFailure};

/// The partition keys of one record, in the order the query wrote them.
///
/// Guarantees: every value is non-empty and already in its S3-safe form (see the crate README:
/// ASCII letters, digits, `-` `_` `.` `~` kept, a leading `.` and every other byte
/// percent-encoded), so it contains no `/` and never forms a `.` or `..` segment; at most
/// [`MAX_PARTITION_KEYS`] pairs; names are unique. Equal keys compare, hash and order equal,
/// so the value can key a map of buffers (ordered pair by pair, name then value, as the tuples
/// would be; a name shared with the query is recognised by pointer, without comparing text).
#[derive(Debug, Clone, Default)]
pub struct PartitionKeys {
    /// The names in order (a query's keys share its `Arc`s); inline up to four keys.
    names: SmallVec<[Arc<str>; 4]>,
    /// The S3-safe values one after another; value `i` ends at `ends[i]`. One allocation for a
    /// record's keys instead of one per key and one for the list: this is built per record.
    values: String,
    ends: SmallVec<[u32; 4]>,
}

impl Ord for PartitionKeys {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        for (i, (name_a, name_b)) in self.names.iter().zip(&other.names).enumerate() {
            if !Arc::ptr_eq(name_a, name_b) {
                let by_name = name_a.cmp(name_b);
                if by_name.is_ne() {
                    return by_name;
                }
            }
            let by_value = self.value(i).cmp(other.value(i));
            if by_value.is_ne() {
                return by_value;
            }
        }
        self.names.len().cmp(&other.names.len())
    }
}

impl PartialOrd for PartitionKeys {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PartitionKeys {
    fn eq(&self, other: &Self) -> bool {
        // What `cmp(..).is_eq()` means, without slicing out each value: the same values text
        // with the same boundaries is the same values; then the names, by pointer when they
        // are the query's (as good as always) and by text otherwise. The values text first:
        // cheap, and it settles most unequal keys.
        self.values == other.values
            && self.ends == other.ends
            && self.names.len() == other.names.len()
            && self
                .names
                .iter()
                .zip(&other.names)
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
    }
}

impl Eq for PartitionKeys {}

impl std::hash::Hash for PartitionKeys {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal keys have equal values text and value boundaries, so this agrees with `eq`.
        self.values.hash(state);
        self.ends.hash(state);
    }
}

impl PartitionKeys {
    /// No keys (what a prefix without `!{partitionKeyFromQuery:...}` is evaluated with).
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// Keys from raw text values (for tests and for future key sources such as a Lambda step):
    /// each value is checked like a query's string output and escaped. A later pair with the
    /// same name replaces the earlier value and keeps its position, as in a jq object.
    ///
    /// # Errors
    /// [`FailureReason::NullOrEmpty`] for an empty value, [`FailureReason::TooManyKeys`] past
    /// [`MAX_PARTITION_KEYS`] distinct names.
    pub fn from_text_values<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PartitioningFailure> {
        let mut keys = Self::empty();
        for (name, value) in pairs {
            keys.insert_text(Arc::from(name), value)?;
        }
        keys.check_count()?;
        Ok(keys)
    }

    /// The S3-safe value of `name`, if the record has that key.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.names
            .iter()
            .position(|n| &**n == name)
            .map(|i| self.value(i))
    }

    /// The `(name, S3-safe value)` pairs in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        (0..self.names.len()).map(|i| (&*self.names[i], self.value(i)))
    }

    /// How many keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// `true` when there are no keys.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    fn value(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.values[start..self.ends[i] as usize]
    }

    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            names: SmallVec::with_capacity(n),
            values: String::with_capacity(16 * n),
            ends: SmallVec::with_capacity(n),
        }
    }

    /// Adds (or replaces) a key from its text form; empty text is Firehose's null-or-empty failure.
    pub(crate) fn insert_text(
        &mut self,
        name: Arc<str>,
        text: &str,
    ) -> Result<(), PartitioningFailure> {
        match self.names.iter().position(|n| *n == name) {
            Some(i) => {
                // Rare (a jq object naming a key twice): the values are rebuilt with the new one.
                let mut rebuilt = Self::with_capacity(self.names.len());
                for (j, n) in self.names.iter().enumerate() {
                    if j == i {
                        rebuilt.push_new_text(n, text)?;
                    } else {
                        rebuilt.push_escaped_value(Arc::clone(n), self.value(j));
                    }
                }
                *self = rebuilt;
                Ok(())
            }
            None => self.push_new_text(&name, text),
        }
    }

    /// Adds a key whose name is known to be new (names of a recognised query shape are unique).
    pub(crate) fn push_new_text(
        &mut self,
        name: &Arc<str>,
        text: &str,
    ) -> Result<(), PartitioningFailure> {
        if text.is_empty() {
            return Err(FailureReason::NullOrEmpty {
                key: (**name).to_owned(),
                null: false,
            }
            .into());
        }
        push_escaped(text, &mut self.values);
        self.close_value(Arc::clone(name));
        Ok(())
    }

    /// Adds a value already in its S3-safe form.
    fn push_escaped_value(&mut self, name: Arc<str>, escaped: &str) {
        self.values.push_str(escaped);
        self.close_value(name);
    }

    fn close_value(&mut self, name: Arc<str>) {
        let end = u32::try_from(self.values.len())
            .expect("partition key values are bounded far below 4 GiB");
        self.names.push(name);
        self.ends.push(end);
    }

    pub(crate) fn check_count(&self) -> Result<(), PartitioningFailure> {
        if self.names.len() > MAX_PARTITION_KEYS {
            return Err(FailureReason::TooManyKeys {
                count: self.names.len(),
            }
            .into());
        }
        Ok(())
    }
}

/// The text of a JSON scalar as a partition key value: strings as they are, numbers as jq 1.6
/// prints them (Firehose's jq: `42`, `-1`, `398.74`, `1` for `1.0`, `1e+20`, integers beyond
/// 2^53 rounded to a double; see [`crate::jq_number_text`]), booleans as `true`/`false`.
///
/// # Errors
/// Null is Firehose's null-or-empty failure; arrays and objects are not scalars.
pub(crate) fn json_scalar_text<'v>(
    name: &str,
    value: &'v serde_json::Value,
) -> Result<std::borrow::Cow<'v, str>, PartitioningFailure> {
    use serde_json::Value;
    use std::borrow::Cow;
    match value {
        Value::String(s) => Ok(Cow::Borrowed(s)),
        Value::Number(n) => Ok(Cow::Owned(json_number_text(n))),
        Value::Bool(b) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Null => Err(FailureReason::NullOrEmpty {
            key: name.to_owned(),
            null: true,
        }
        .into()),
        Value::Array(_) => Err(FailureReason::NotScalar {
            key: name.to_owned(),
            found: "an array",
        }
        .into()),
        Value::Object(_) => Err(FailureReason::NotScalar {
            key: name.to_owned(),
            found: "an object",
        }
        .into()),
    }
}

/// A JSON number as jq 1.6 prints it (serde_json holds an integer as `i64` or `u64`, anything
/// else as a finite `f64`).
fn json_number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        jq_number_text::integer_text(i)
    } else if let Some(u) = n.as_u64() {
        jq_number_text::unsigned_text(u)
    } else {
        n.as_f64()
            .and_then(jq_number_text::finite_text)
            .unwrap_or_else(|| n.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn keys_order_and_equal_exactly_as_their_name_value_pairs(
            a in proptest::collection::vec(("[ab]", "[xy]{1,2}"), 0..4),
            b in proptest::collection::vec(("[ab]", "[xy]{1,2}"), 0..4),
        ) {
            // Pairs as given, repeated names included (values are S3-safe as generated).
            let build = |pairs: &[(String, String)]| {
                let mut keys = PartitionKeys::empty();
                for (n, v) in pairs {
                    keys.push_escaped_value(Arc::from(n.as_str()), v);
                }
                keys
            };
            let (ka, kb) = (build(&a), build(&b));
            proptest::prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            proptest::prop_assert_eq!(ka == kb, a == b);
            if ka == kb {
                let state = std::collections::hash_map::RandomState::new();
                proptest::prop_assert_eq!(std::hash::BuildHasher::hash_one(&state, &ka), std::hash::BuildHasher::hash_one(&state, &kb));
            }
            // Shared name pointers (keys of one query) give the same answers.
            let shared: Vec<Arc<str>> = ["a", "b"].into_iter().map(Arc::from).collect();
            let share = |k: &PartitionKeys| {
                let mut keys = PartitionKeys::empty();
                for (n, v) in k.iter() {
                    keys.push_escaped_value(Arc::clone(&shared[usize::from(n == "b")]), v);
                }
                keys
            };
            proptest::prop_assert_eq!(share(&ka).cmp(&share(&kb)), a.cmp(&b));
            proptest::prop_assert_eq!(share(&ka) == share(&kb), a == b);
            proptest::prop_assert_eq!(share(&ka) == kb, a == b);
        }
    }

    #[test]
    fn values_are_stored_in_their_s3_safe_form_and_kept_in_order() {
        let keys = PartitionKeys::from_text_values([("b", "x/y"), ("a", "..")]).unwrap();
        assert_eq!(
            keys.iter().collect::<Vec<_>>(),
            vec![("b", "x%2Fy"), ("a", "%2E.")]
        );
        assert_eq!(keys.get("a"), Some("%2E."));
        assert_eq!(keys.get("c"), None);
    }

    #[test]
    fn a_repeated_name_replaces_the_value_in_place_like_a_jq_object() {
        let keys = PartitionKeys::from_text_values([("a", "1"), ("b", "2"), ("a", "3")]).unwrap();
        assert_eq!(
            keys.iter().collect::<Vec<_>>(),
            vec![("a", "3"), ("b", "2")]
        );
    }

    #[test]
    fn an_empty_value_is_firehoses_null_or_empty_failure() {
        let err = PartitionKeys::from_text_values([("a", "")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("partitionKeys values must not be null or empty"),
            "{err}"
        );
    }

    #[test]
    fn fifty_keys_are_accepted_and_fifty_one_refused() {
        let names: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
        assert!(
            PartitionKeys::from_text_values(names[..50].iter().map(|n| (n.as_str(), "v"))).is_ok()
        );
        let err =
            PartitionKeys::from_text_values(names.iter().map(|n| (n.as_str(), "v"))).unwrap_err();
        assert_eq!(err.reason(), &FailureReason::TooManyKeys { count: 51 });
    }

    #[test]
    fn json_scalars_become_their_json_text_and_null_and_containers_fail() {
        use serde_json::json;
        let text = |v: serde_json::Value| json_scalar_text("k", &v).map(|c| c.into_owned());
        assert_eq!(text(json!("click")).unwrap(), "click");
        assert_eq!(text(json!(42)).unwrap(), "42");
        assert_eq!(text(json!(-7)).unwrap(), "-7");
        assert_eq!(text(json!(398.74)).unwrap(), "398.74");
        // As jq 1.6 (Firehose's jq) prints them, not as serde_json does (`1.0`, `1000.0`).
        assert_eq!(text(json!(1.0)).unwrap(), "1");
        assert_eq!(text(json!(1e3)).unwrap(), "1000");
        assert_eq!(text(json!(u64::MAX)).unwrap(), "18446744073709552000");
        assert_eq!(text(json!(true)).unwrap(), "true");
        assert_eq!(
            text(json!(null)).unwrap_err().reason(),
            &FailureReason::NullOrEmpty {
                key: "k".into(),
                null: true
            }
        );
        assert_eq!(
            text(json!([1])).unwrap_err().reason(),
            &FailureReason::NotScalar {
                key: "k".into(),
                found: "an array"
            }
        );
        assert_eq!(
            text(json!({})).unwrap_err().reason(),
            &FailureReason::NotScalar {
                key: "k".into(),
                found: "an object"
            }
        );
    }
}
