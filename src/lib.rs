//! replydesk: an inbound WhatsApp reply desk.
//!
//! The binary in `main.rs` only parses the command line; everything lives here
//! so that tests and benches use the same code.

pub mod classify;
pub mod model;
