//! Helpers shared by this crate's integration tests (each test file uses some of them).

#![allow(dead_code)]

pub(crate) mod catalog_checks;
pub(crate) mod commit_outage;
pub(crate) mod interloper;
pub(crate) mod postgres;
pub(crate) mod rest_catalog;
pub(crate) mod sqlite_catalog;
pub(crate) mod update_table_relay;
