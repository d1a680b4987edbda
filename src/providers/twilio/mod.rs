//! Twilio's WhatsApp API: webhooks in (signature, form normalization),
//! messages and Content API templates out, and what its error codes mean.

pub mod media;
pub mod send;
mod webhook;

pub use webhook::{Params, media_kind, normalize, parse_form, sign, verify_signature};
