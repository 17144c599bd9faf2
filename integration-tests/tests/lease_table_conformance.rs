//! The lease-table conformance suite (`kinesink_lease_coordination::table_conformance`, the same
//! checks the in-memory table passes in that crate's unit tests) against the DynamoDB lease
//! table on the local stand-in: the conditional writes that fence zombies, proven on a real
//! conditional-write store rather than only through the end-to-end tests.
#![cfg(feature = "stand-ins")]

mod common;

use kinesink_lease_coordination::{DynamoDbLeaseTable, LeaseTable};

/// A new, empty lease table on the stand-in (one per check: checks list the whole table).
async fn fresh_table() -> Box<DynamoDbLeaseTable> {
    let client = aws_sdk_dynamodb::Client::new(&common::aws().await);
    let table = DynamoDbLeaseTable::new(client, common::unique("it-conformance"));
    table.ensure_exists().await.expect("lease table created");
    Box::new(table)
}

kinesink_lease_coordination::lease_table_conformance_tests!(fresh_table());
