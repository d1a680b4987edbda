//! The desk's integration tests: one binary, a `TestApp` per test, every
//! storage test on SQLite and on PostgreSQL.

mod helpers;

mod api;
mod conformance;
mod crash;
mod email;
mod ingest;
mod preferences;
mod smtp;
