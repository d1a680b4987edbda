//! The desk's integration tests: one binary, a `TestApp` per test, every
//! storage test on SQLite and on PostgreSQL.

// Test helpers panic on failure by design; clippy only exempts #[test] functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod api;
mod conformance;
mod crash;
mod email;
mod ingest;
mod preferences;
mod reports;
mod routing;
mod smtp;
mod web;
