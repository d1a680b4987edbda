//! replydesk: an inbound WhatsApp reply desk.
//!
//! The binary in `main.rs` only parses the command line; everything lives here
//! so that tests and benches use the same code.

pub mod admin;
pub mod app;
pub mod auth;
pub mod classify;
pub mod clock;
pub mod config;
pub mod contacts;
pub mod conversations;
pub mod csv_export;
pub mod csv_import;
pub mod ids;
pub mod ingest;
pub mod media;
pub mod model;
pub mod notify;
pub mod outbound;
pub mod outbox;
pub mod preferences;
pub mod providers;
pub mod replies;
pub mod reports;
pub mod routing;
pub mod secret;
pub mod seed;
pub mod simulate;
pub mod sla;
pub mod store;
pub mod telemetry;
pub mod web;
