//! The WhatsApp Cloud API (Meta): webhooks in (signature, normalization),
//! messages and template lists out, and what its error codes mean.

pub mod codes;
pub mod media;
pub mod send;
mod webhook;

pub use webhook::{normalize, sign, verify_signature};
