//! A record's partition: the tuple of a table's partition spec computed from the record's
//! source values, with its Hive-style path and a buffer key.
//!
//! Pure: the transforms are iceberg-rust's own (`create_transform_function`, then
//! `transform_literal` per value), created once per spec field; the path is
//! [`crate::partition_path`]'s (Java's `partitionToPath`). Two corrections of iceberg-rust
//! 0.10.1's `truncate`, as the Iceberg spec defines it: of a decimal it returns the truncated
//! unscaled value with scale 0 (10.65 truncated by 50 reads 1050, not 10.50), so the result
//! is retyped to the source's decimal type; of binary it refuses the value, so the first W
//! bytes are taken here. And truncate of int and long is Java's `v - (((v % W) + W) % W)`
//! in wrapping arithmetic, written here: iceberg-rust's panics on overflow in debug builds
//! (e.g. `truncate(10)` of `i32::MIN`) where Java and iceberg-rust's release builds wrap.

use iceberg::spec::{
    Datum, Literal, PartitionSpec, PrimitiveLiteral, PrimitiveType, Schema, Struct, Transform,
};
use iceberg::transform::{BoxedTransformFunction, create_transform_function};

use crate::partition_path::{partition_id, partition_path};

/// Why partition values could not be set up for a spec, or computed for a record.
///
/// Guarantees: each variant names the partition field concerned (or the counts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionValuesError {
    /// A spec field's source id is not a primitive field of the schema (the spec was bound to
    /// another schema).
    #[error(
        "partition field `{field}`: source field id {source_id} is not a primitive column of the table schema"
    )]
    NoSourceColumn {
        /// The partition field's name.
        field: String,
        /// Its source id.
        source_id: i32,
    },
    /// iceberg-rust has no function for the field's transform, or refuses its source type.
    #[error("partition field `{field}`: {reason}")]
    Transform {
        /// The partition field's name.
        field: String,
        /// iceberg-rust's reason.
        reason: String,
    },
    /// A record gave another number of source values than the spec has fields.
    #[error("{found} partition source values for a spec of {expected} fields")]
    SourceCount {
        /// The spec's field count.
        expected: usize,
        /// The values given.
        found: usize,
    },
    /// A source value's type is not its column's.
    #[error("partition field `{field}`: source value of type {found}, the column is {expected}")]
    SourceType {
        /// The partition field's name.
        field: String,
        /// The source column's type.
        expected: String,
        /// The value's type.
        found: String,
    },
}

/// One spec field with its transform function, created once.
#[derive(Debug)]
struct FieldTransform {
    name: String,
    source_id: i32,
    source_type: PrimitiveType,
    transform: Transform,
    function: BoxedTransformFunction,
}

/// The partition transforms of one spec over one schema, ready to apply to records.
///
/// Guarantees: one transform function per spec field, created at construction; applying it
/// is iceberg-rust's `transform_literal` (no value → no value).
#[derive(Debug)]
pub struct PartitionValues {
    fields: Vec<FieldTransform>,
}

/// A record's partition: its tuple, Hive-style path and buffer key.
///
/// Guarantees: `values` has one entry per spec field, in spec order, each the field's
/// transform of the record's source value (typed as `Transform::result_type` says);
/// `path` and `id` are computed from it ([`crate::partition_path`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    values: Struct,
    path: String,
    id: PartitionId,
}

/// Identifies a partition among those of one spec: usable as a (hash or ordered) map key.
///
/// Guarantees: equal for equal tuples, different for different tuples of the same spec
/// (floats aside, see [`crate::partition_path::human_string`]); stable across runs and
/// versions of this crate's dependencies as long as the path format is; totally ordered
/// (as strings).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionId(String);

impl PartitionId {
    /// The id as text (the partition path, with a null written as the bare field name).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Partition {
    /// The partition tuple, as a data file's `partition` holds it.
    #[must_use]
    pub fn values(&self) -> &Struct {
        &self.values
    }

    /// The Hive-style path (`event_type=click/ts_day=2023-11-14`, empty when unpartitioned)
    /// to put objects under, as Iceberg Java names partition directories.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The key of this partition's buffer.
    #[must_use]
    pub fn id(&self) -> &PartitionId {
        &self.id
    }

    /// The partition tuple, for the data file entry.
    #[must_use]
    pub fn into_values(self) -> Struct {
        self.values
    }
}

impl PartitionValues {
    /// The transforms of `spec`'s fields over `schema` (the schema the spec is bound to).
    ///
    /// Guarantees: fails if a field's source is not a primitive column of `schema` or
    /// iceberg-rust cannot apply its transform to it; an unpartitioned spec has no fields.
    pub fn new(spec: &PartitionSpec, schema: &Schema) -> Result<Self, PartitionValuesError> {
        let fields = spec
            .fields()
            .iter()
            .map(|field| {
                let source_type = schema
                    .field_by_id(field.source_id)
                    .and_then(|source| source.field_type.as_primitive_type().cloned())
                    .ok_or_else(|| PartitionValuesError::NoSourceColumn {
                        field: field.name.clone(),
                        source_id: field.source_id,
                    })?;
                let refused = |e: iceberg::Error| PartitionValuesError::Transform {
                    field: field.name.clone(),
                    reason: e.message().to_string(),
                };
                field
                    .transform
                    .result_type(&source_type.clone().into())
                    .map_err(refused)?;
                let function = create_transform_function(&field.transform).map_err(refused)?;
                Ok(FieldTransform {
                    name: field.name.clone(),
                    source_id: field.source_id,
                    source_type,
                    transform: field.transform,
                    function,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { fields })
    }

    /// The source column ids, one per spec field in spec order: what [`Self::partition`]
    /// takes values of (a column used by two fields appears twice).
    pub fn source_ids(&self) -> impl Iterator<Item = i32> + '_ {
        self.fields.iter().map(|field| field.source_id)
    }

    /// Whether the spec has no fields (every record is in the one empty partition).
    #[must_use]
    pub fn is_unpartitioned(&self) -> bool {
        self.fields.is_empty()
    }

    /// The partition of a record whose source values (one per spec field, in the order of
    /// [`Self::source_ids`]; `None` = null) are `sources`.
    ///
    /// Guarantees: each tuple entry is iceberg-rust's `transform_literal` of the value (null
    /// stays null, void is always null; truncate of decimal and binary as the module doc
    /// says); fails if the count or a value's type does not match
    /// the spec's source columns.
    pub fn partition(&self, sources: &[Option<Datum>]) -> Result<Partition, PartitionValuesError> {
        let values = self.transformed(sources)?;
        let id = self.id_of(&values);
        Ok(self.named(values, id))
    }

    /// The partition tuple of source values `sources` (as [`Self::partition`] takes them),
    /// not yet named: with [`Self::id_of`] a caller can find a partition it made before
    /// without naming it again ([`Self::named`]).
    ///
    /// # Errors
    /// As [`Self::partition`].
    pub fn transformed(
        &self,
        sources: &[Option<Datum>],
    ) -> Result<Vec<Option<Datum>>, PartitionValuesError> {
        if sources.len() != self.fields.len() {
            return Err(PartitionValuesError::SourceCount {
                expected: self.fields.len(),
                found: sources.len(),
            });
        }
        self.fields
            .iter()
            .zip(sources)
            .map(|(field, source)| field.apply(source.as_ref()))
            .collect()
    }

    /// [`Self::transformed`] in place: `values` holds the source values and is replaced by
    /// the tuple. An identity field's value stays where it is (checked for its type, as
    /// [`Self::transformed`] checks it), not copied.
    ///
    /// # Errors
    /// As [`Self::partition`] (`values` is then partly transformed).
    pub fn transform_in_place(
        &self,
        values: &mut [Option<Datum>],
    ) -> Result<(), PartitionValuesError> {
        if values.len() != self.fields.len() {
            return Err(PartitionValuesError::SourceCount {
                expected: self.fields.len(),
                found: values.len(),
            });
        }
        for (field, slot) in self.fields.iter().zip(values.iter_mut()) {
            if field.transform == Transform::Identity {
                if let Some(source) = slot {
                    field.check_type(source)?;
                }
            } else {
                *slot = field.apply(slot.as_ref())?;
            }
        }
        Ok(())
    }

    /// The id of the partition whose tuple is `values` (from [`Self::transformed`]).
    #[must_use]
    pub fn id_of(&self, values: &[Option<Datum>]) -> PartitionId {
        PartitionId(partition_id(self.fields.iter().zip(values).map(
            |(field, value)| (field.name.as_str(), &field.transform, value.as_ref()),
        )))
    }

    /// The partition whose tuple is `values` and id is `id` (from [`Self::id_of`]).
    #[must_use]
    pub fn named(&self, values: Vec<Option<Datum>>, id: PartitionId) -> Partition {
        let path = partition_path(
            self.fields
                .iter()
                .zip(&values)
                .map(|(field, value)| (field.name.as_str(), &field.transform, value.as_ref())),
        );
        let values = Struct::from_iter(values.into_iter().map(|value| value.map(Literal::from)));
        Partition { values, path, id }
    }
}

impl FieldTransform {
    /// Refuses a source value whose type is not the source column's.
    fn check_type(&self, source: &Datum) -> Result<(), PartitionValuesError> {
        if source.data_type() != &self.source_type {
            return Err(PartitionValuesError::SourceType {
                field: self.name.clone(),
                expected: self.source_type.to_string(),
                found: source.data_type().to_string(),
            });
        }
        Ok(())
    }

    fn apply(&self, source: Option<&Datum>) -> Result<Option<Datum>, PartitionValuesError> {
        let Some(source) = source else {
            return Ok(None);
        };
        self.check_type(source)?;
        let refused = |e: iceberg::Error| PartitionValuesError::Transform {
            field: self.name.clone(),
            reason: e.message().to_string(),
        };
        if let Transform::Truncate(width) = self.transform {
            match source.literal() {
                PrimitiveLiteral::Binary(bytes) => {
                    let width = usize::try_from(width).unwrap_or(usize::MAX);
                    return Ok(Some(Datum::binary(bytes.iter().copied().take(width))));
                }
                PrimitiveLiteral::Int(v) => {
                    let w = i32::try_from(width).unwrap_or(i32::MAX);
                    return Ok(Some(Datum::int(
                        v.wrapping_sub(v.wrapping_rem(w).wrapping_add(w).wrapping_rem(w)),
                    )));
                }
                PrimitiveLiteral::Long(v) => {
                    let w = i64::from(width);
                    return Ok(Some(Datum::long(
                        v.wrapping_sub(v.wrapping_rem(w).wrapping_add(w).wrapping_rem(w)),
                    )));
                }
                _ => {}
            }
        }
        let value = self.function.transform_literal(source).map_err(refused)?;
        match (self.transform, &self.source_type, value) {
            (Transform::Truncate(_), PrimitiveType::Decimal { .. }, Some(truncated)) => {
                match truncated.literal() {
                    PrimitiveLiteral::Int128(unscaled) => {
                        Datum::try_from_bytes(&unscaled.to_be_bytes(), self.source_type.clone())
                            .map(Some)
                            .map_err(refused)
                    }
                    _ => Ok(Some(truncated)),
                }
            }
            (_, _, value) => Ok(value),
        }
    }
}

#[cfg(test)]
mod tests;
