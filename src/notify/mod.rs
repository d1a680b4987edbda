//! Notifications to people outside the desk. This module owns how an email
//! is queued, formatted and delivered (`email`); the durable queue itself,
//! with retries and leases, is `crate::outbox`, and what an escalation email
//! says belongs to the SLA code that sends it.

pub mod email;
