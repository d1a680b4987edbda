//! The desk's integration tests: one binary, a `TestApp` per test, every
//! storage test on SQLite and on PostgreSQL. The harness (`harness/`) reports
//! a test whose part is missing as ignored, with the reason.

// Test helpers panic on failure by design; clippy only exempts #[test] functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../harness/mod.rs"]
mod harness;
mod helpers;

mod admin;
mod api;
mod backup;
mod conformance;
mod contacts;
mod crash;
mod email;
mod ingest;
mod media;
mod policy;
mod preferences;
mod replies;
mod reports;
mod routing;
mod security;
mod sla;
mod smtp;
// Shared with the browser test and the replies bench, which use other parts of it.
#[allow(dead_code)]
mod stand_in;
mod web;

fn main() {
    harness::main()
}
