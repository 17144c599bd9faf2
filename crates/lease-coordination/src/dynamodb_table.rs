//! The lease table in DynamoDB (aws-sdk-dynamodb), with conditional writes as fences.

use kinesink_aws_errors::sdk_error_line;
use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType, TableStatus,
};
use kinesink_sequence_position::SequencePosition;

use crate::lease::{Checkpoint, Lease, TableSnapshot, WorkerHeartbeat};

mod item;

use crate::table::{AdminChange, LeaseError, LeaseTable};
use item::{Item, KEY, item_from_lease, lease_from_item, num};

const WORKER_PREFIX: &str = "!worker:";
const HELD: &str = "leaseOwner = :owner AND leaseCounter = :counter";

/// A lease table stored in DynamoDB. See the crate docs for the item schema.
///
/// Guarantees: every take, checkpoint, flush-progress write and release is one conditional `UpdateItem`
/// that also increments `leaseCounter`; a failed condition is reported as
/// [`LeaseError::Lost`] (or `Ok(None)` from take), never as success.
#[derive(Debug, Clone)]
pub struct DynamoDbLeaseTable {
    client: Client,
    table: String,
}

impl DynamoDbLeaseTable {
    /// A lease table named `table` reached through `client`.
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table name.
    #[must_use]
    pub fn table_name(&self) -> &str {
        &self.table
    }

    fn unavailable<E, R>(&self, e: &SdkError<E, R>) -> LeaseError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        if e.as_service_error()
            .and_then(ProvideErrorMetadata::code)
            .is_some_and(|code| code == "ResourceNotFoundException")
        {
            return LeaseError::TableMissing {
                table: self.table.clone(),
            };
        }
        let (table, message) = (self.table.clone(), sdk_error_line(e));
        if is_permanent(e) {
            LeaseError::Refused { table, message }
        } else {
            LeaseError::Unavailable { table, message }
        }
    }

    async fn conditional_update(
        &self,
        shard_id: &str,
        update: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Option<Item>, LeaseError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(shard_id.to_owned()))
            .update_expression(update)
            .condition_expression(condition)
            .return_values(ReturnValue::AllNew);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.unavailable(&e)),
        }
    }

    /// A fenced write: `update` (which increments `leaseCounter`) if `owner` holds the lease at
    /// `counter`. `landed` says whether a row shows this write's values.
    ///
    /// A refused condition is also what a write gets whose first attempt landed but whose answer
    /// was lost (a 5xx, a timeout or a dropped connection after DynamoDB applied it; the SDK then
    /// retries, and the retry finds the counter moved). The row is read back (consistent read):
    /// if it holds this write — the same owner, the next counter, the written values — the write
    /// is done, not a lost lease. Nobody else writes as this owner at this counter: one keeper
    /// per worker serialises its writes, and one shard has one reader per worker.
    async fn fenced(
        &self,
        shard_id: &str,
        update: &str,
        owner: &str,
        counter: u64,
        mut values: Vec<(&str, AttributeValue)>,
        landed: impl Fn(&Lease) -> bool,
    ) -> Result<u64, LeaseError> {
        values.push((":owner", AttributeValue::S(owner.to_owned())));
        values.push((":counter", num(counter)));
        values.push((":one", num(1)));
        if let Some(item) = self
            .conditional_update(shard_id, update, HELD, values)
            .await?
        {
            return Ok(lease_from_item(&item)?.counter);
        }
        match self.read_lease(shard_id).await? {
            Some(row)
                if row.owner.as_deref() == Some(owner)
                    && row.counter == counter + 1
                    && landed(&row) =>
            {
                tracing::info!(
                    shard_id,
                    counter = row.counter,
                    "a lease write whose answer was lost had landed; taken as done"
                );
                Ok(row.counter)
            }
            _ => Err(LeaseError::Lost {
                shard_id: shard_id.to_owned(),
            }),
        }
    }

    /// One lease row, read consistently (`None`: no such row).
    async fn read_lease(&self, shard_id: &str) -> Result<Option<Lease>, LeaseError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(shard_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.unavailable(&e))?;
        out.item.as_ref().map(lease_from_item).transpose()
    }
}

#[async_trait]
impl LeaseTable for DynamoDbLeaseTable {
    async fn ensure_exists(&self) -> Result<(), LeaseError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                let attr = AttributeDefinition::builder()
                    .attribute_name(KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute definition has its required fields");
                let key = KeySchemaElement::builder()
                    .attribute_name(KEY)
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("key schema element has its required fields");
                let created = self
                    .client
                    .create_table()
                    .table_name(&self.table)
                    .attribute_definitions(attr)
                    .key_schema(key)
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
                    .await;
                match created {
                    Ok(_) => tracing::info!(table = %self.table, "created lease table"),
                    // Another worker created it at the same time.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_in_use_exception()) => {}
                    Err(e) => return Err(self.unavailable(&e)),
                }
            }
            Err(e) => return Err(self.unavailable(&e)),
        }
        for _ in 0..120 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| self.unavailable(&e))?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(LeaseError::Unavailable {
            table: self.table.clone(),
            message: "table did not become ACTIVE within 60 s".into(),
        })
    }

    async fn snapshot(&self) -> Result<TableSnapshot, LeaseError> {
        let mut leases = Vec::new();
        let mut workers = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.unavailable(&e))?;
            for item in out.items() {
                match item.get(KEY) {
                    Some(AttributeValue::S(k)) if k.starts_with(WORKER_PREFIX) => {
                        let counter = match item.get("heartbeatCounter") {
                            Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
                            _ => 0,
                        };
                        // Informational: an entry that is not a whole number is skipped.
                        let millis_behind_latest = match item.get("millisBehindLatest") {
                            Some(AttributeValue::M(m)) => m
                                .iter()
                                .filter_map(|(shard, v)| match v {
                                    AttributeValue::N(n) => {
                                        n.parse().ok().map(|ms| (shard.clone(), ms))
                                    }
                                    _ => None,
                                })
                                .collect(),
                            _ => BTreeMap::new(),
                        };
                        let last_heartbeat_ms = match item.get("lastHeartbeatMillis") {
                            Some(AttributeValue::N(n)) => n.parse().ok(),
                            _ => None,
                        };
                        workers.push(WorkerHeartbeat {
                            worker_id: k[WORKER_PREFIX.len()..].to_owned(),
                            counter,
                            millis_behind_latest,
                            last_heartbeat_ms,
                        });
                    }
                    _ => leases.push(lease_from_item(item)?),
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        leases.sort_by(|a, b| a.shard_id.cmp(&b.shard_id));
        workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        Ok(TableSnapshot::joined(leases, workers))
    }

    async fn heartbeat(
        &self,
        worker_id: &str,
        millis_behind_latest: &BTreeMap<String, i64>,
    ) -> Result<(), LeaseError> {
        let behind = millis_behind_latest
            .iter()
            .map(|(shard, ms)| (shard.clone(), AttributeValue::N(ms.to_string())))
            .collect();
        self.client
            .update_item()
            .table_name(&self.table)
            .key(
                KEY,
                AttributeValue::S(format!("{WORKER_PREFIX}{worker_id}")),
            )
            .update_expression(
                "ADD heartbeatCounter :one SET workerId = :id, millisBehindLatest = :behind, lastHeartbeatMillis = :now",
            )
            .expression_attribute_values(":one", num(1))
            .expression_attribute_values(
                ":now",
                AttributeValue::N(wall_clock_ms().unwrap_or(0).to_string()),
            )
            .expression_attribute_values(":id", AttributeValue::S(worker_id.to_owned()))
            .expression_attribute_values(":behind", AttributeValue::M(behind))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.unavailable(&e))
    }

    async fn remove_heartbeat(&self, worker_id: &str) -> Result<(), LeaseError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(
                KEY,
                AttributeValue::S(format!("{WORKER_PREFIX}{worker_id}")),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.unavailable(&e))
    }

    async fn delete_ended(&self, shard_id: &str) -> Result<bool, LeaseError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(shard_id.to_owned()))
            .condition_expression("checkpoint = :end")
            .expression_attribute_values(
                ":end",
                AttributeValue::S(Checkpoint::ShardEnd.as_stored().to_owned()),
            )
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.unavailable(&e)),
        }
    }

    async fn create_if_missing(&self, lease: &Lease) -> Result<bool, LeaseError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_from_lease(lease)))
            .condition_expression("attribute_not_exists(leaseKey)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.unavailable(&e)),
        }
    }

    async fn take(
        &self,
        shard_id: &str,
        expected_counter: u64,
        owner: &str,
    ) -> Result<Option<Lease>, LeaseError> {
        let item = self
            .conditional_update(
                shard_id,
                "SET leaseOwner = :owner, leaseCounter = leaseCounter + :one, \
                 ownerSwitchesSinceCheckpoint = if_not_exists(ownerSwitchesSinceCheckpoint, :zero) + :one",
                "leaseCounter = :expected",
                vec![
                    (":owner", AttributeValue::S(owner.to_owned())),
                    (":one", num(1)),
                    (":zero", num(0)),
                    (":expected", num(expected_counter)),
                ],
            )
            .await?;
        item.map(|i| lease_from_item(&i)).transpose()
    }

    async fn checkpoint(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        checkpoint: &Checkpoint,
    ) -> Result<u64, LeaseError> {
        self.fenced(
            shard_id,
            "SET leaseCounter = leaseCounter + :one, checkpoint = :cp, checkpointSubSequenceNumber = :sub, \
             ownerSwitchesSinceCheckpoint = :zero REMOVE flushIntent, flushIntentSubSequenceNumber",
            owner,
            counter,
            vec![
                (":cp", AttributeValue::S(checkpoint.as_stored().to_owned())),
                (":sub", num(checkpoint.sub_sequence())),
                (":zero", num(0)),
            ],
            |row| row.checkpoint == *checkpoint && row.flush_intent.is_none(),
        )
        .await
    }

    async fn record_progress(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        horizon: &SequencePosition,
        flush_intent: Option<&SequencePosition>,
    ) -> Result<u64, LeaseError> {
        let mut update = "SET leaseCounter = leaseCounter + :one, flushHorizon = :h, flushHorizonSubSequenceNumber = :hs".to_owned();
        let mut values = vec![
            (":h", AttributeValue::S(horizon.sequence_number.to_string())),
            (":hs", num(horizon.sub_sequence_number)),
        ];
        if let Some(intent) = flush_intent {
            update.push_str(", flushIntent = :i, flushIntentSubSequenceNumber = :is");
            values.push((":i", AttributeValue::S(intent.sequence_number.to_string())));
            values.push((":is", num(intent.sub_sequence_number)));
        }
        let written_horizon = Some(horizon.clone());
        let written_intent = flush_intent.cloned();
        self.fenced(shard_id, &update, owner, counter, values, |row| {
            row.flush_horizon == written_horizon
                && (written_intent.is_none() || row.flush_intent == written_intent)
        })
        .await
    }

    async fn admin_change(
        &self,
        shard_id: &str,
        expected_counter: u64,
        change: &AdminChange,
    ) -> Result<bool, LeaseError> {
        let (update, mut values) = match change {
            AdminChange::Release => (
                "SET leaseCounter = leaseCounter + :one REMOVE leaseOwner",
                vec![],
            ),
            AdminChange::Reset(cp) => (
                "SET leaseCounter = leaseCounter + :one, checkpoint = :cp, checkpointSubSequenceNumber = :sub \
                 REMOVE flushIntent, flushIntentSubSequenceNumber, flushHorizon, flushHorizonSubSequenceNumber",
                vec![
                    (":cp", AttributeValue::S(cp.as_stored().to_owned())),
                    (":sub", num(cp.sub_sequence())),
                ],
            ),
        };
        values.push((":one", num(1)));
        values.push((":expected", num(expected_counter)));
        Ok(self
            .conditional_update(shard_id, update, "leaseCounter = :expected", values)
            .await?
            .is_some())
    }

    async fn release(
        &self,
        shard_id: &str,
        owner: &str,
        counter: u64,
        millis_behind_latest: Option<i64>,
    ) -> Result<(), LeaseError> {
        match millis_behind_latest {
            None => self.fenced(shard_id, "SET leaseCounter = leaseCounter + :one REMOVE leaseOwner", owner, counter, vec![], |_| false).await,
            Some(ms) => {
                let behind = AttributeValue::N(ms.to_string());
                self.fenced(shard_id, "SET leaseCounter = leaseCounter + :one, millisBehindLatest = :behind REMOVE leaseOwner", owner, counter, vec![(":behind", behind)], |_| false)
                    .await
            }
        }
        .map(|_| ())
    }
}

/// Service errors that waiting does not fix: credentials, permissions, invalid requests. Every
/// other error (network, timeouts, 5xx, throttling, a missing table that may be recreated) is
/// transient.
fn is_permanent<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    const PERMANENT: [&str; 7] = [
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "ValidationException",
        "SerializationException",
    ];
    e.as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| PERMANENT.contains(&code))
}

/// This host's wall clock, ms since the Unix epoch (the informational `lastHeartbeatMillis` of
/// worker heartbeats); `None` before 1970.
pub(crate) fn wall_clock_ms() -> Option<i64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service_error(
        code: &str,
    ) -> SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    > {
        SdkError::service_error(
            aws_sdk_dynamodb::operation::update_item::UpdateItemError::generic(
                aws_sdk_dynamodb::error::ErrorMetadata::builder()
                    .code(code)
                    .message("from the test")
                    .build(),
            ),
            aws_sdk_dynamodb::config::http::HttpResponse::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                aws_smithy_types::body::SdkBody::empty(),
            ),
        )
    }

    #[test]
    fn missing_permissions_are_permanent_while_outages_throttling_and_a_missing_table_are_transient()
     {
        use crate::outage_retry::FailureClass;
        let table = DynamoDbLeaseTable::new(
            Client::from_conf(
                aws_sdk_dynamodb::Config::builder()
                    .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                    .build(),
            ),
            "t",
        );
        for code in [
            "AccessDeniedException",
            "UnrecognizedClientException",
            "ValidationException",
        ] {
            let e = table.unavailable(&service_error(code));
            assert!(matches!(e, LeaseError::Refused { .. }), "{code}: {e:?}");
            assert_eq!(e.class(), FailureClass::Permanent, "{code}");
        }
        for code in [
            "InternalServerError",
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "ResourceNotFoundException",
        ] {
            let e = table.unavailable(&service_error(code));
            assert_eq!(e.class(), FailureClass::Transient, "{code}: {e:?}");
        }
        let timeout: SdkError<
            aws_sdk_dynamodb::operation::update_item::UpdateItemError,
            aws_sdk_dynamodb::config::http::HttpResponse,
        > = SdkError::timeout_error("connect timed out");
        assert_eq!(table.unavailable(&timeout).class(), FailureClass::Transient);
    }
}
