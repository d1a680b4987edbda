//! Ingest: receives provider webhooks, normalizes them into events,
//! classifies customer replies and stores everything durably before the
//! provider gets its 200.
//!
//! Owns the provider-neutral event model and the group commit writer; the
//! providers' formats and signatures live in `providers`. Does not know
//! HTTP: the web layer hands it verified bytes.

pub mod event;
pub mod query;
mod writer;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::classify::{LiveRules, Reply};
use crate::clock::{Millis, SharedClock};
use crate::model::Provider;
use crate::preferences::SignalContext;
use crate::providers::{meta, twilio};
use crate::store::{Db, StoreError};
use event::Normalized;
use writer::{PayloadRow, Writer};
pub use writer::{Pending, WriteOutcome};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("could not store the webhook: {0}")]
    Store(#[from] StoreError),
}

/// How the writer runs: its batch size, when it stops taking work, and the
/// count of webhooks waiting for it.
#[derive(Debug, Clone, Default)]
pub struct WriterOptions {
    pub max_batch: usize,
    pub stop: tokio_util::sync::CancellationToken,
    pub pending: Pending,
}

/// What happened to an accepted webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Accepted {
    pub stored: usize,
    pub duplicates: usize,
    /// The body, or part of it, could not be normalized and was kept as a dead letter.
    pub dead_letter: bool,
}

/// The ingest service: normalize, classify, hand to the writer.
#[derive(Debug, Clone)]
pub struct Ingest {
    writer: Writer,
    rules: Arc<LiveRules>,
    clock: SharedClock,
}

impl Ingest {
    /// Starts the group-commit writer. `on_stored` runs after each commit
    /// (the router uses it to wake up).
    pub fn start(
        db: Db,
        rules: Arc<LiveRules>,
        clock: SharedClock,
        signals: Arc<SignalContext>,
        on_stored: impl Fn() + Send + 'static,
        options: WriterOptions,
    ) -> (Ingest, tokio::task::JoinHandle<()>) {
        let (writer, handle) = Writer::start(
            db,
            options.max_batch,
            signals,
            on_stored,
            options.stop,
            options.pending,
        );
        (
            Ingest {
                writer,
                rules,
                clock,
            },
            handle,
        )
    }

    /// Stores a verified Meta body.
    pub async fn accept_meta(&self, channel: &str, body: Bytes) -> Result<Accepted, IngestError> {
        let received_at = self.clock.now_ms();
        let normalized = meta::normalize(&body, received_at);
        self.store(Provider::Meta, channel, body, normalized, received_at)
            .await
    }

    /// Stores a verified Twilio form body.
    pub async fn accept_twilio(&self, channel: &str, body: Bytes) -> Result<Accepted, IngestError> {
        let received_at = self.clock.now_ms();
        let normalized = twilio::normalize(&twilio::parse_form(&body), received_at);
        self.store(Provider::Twilio, channel, body, normalized, received_at)
            .await
    }

    async fn store(
        &self,
        provider: Provider,
        channel: &str,
        body: Bytes,
        mut normalized: Normalized,
        received_at: Millis,
    ) -> Result<Accepted, IngestError> {
        self.classify(&mut normalized);
        let dead_letter = !normalized.problems.is_empty();
        if dead_letter {
            metrics::counter!("replydesk_webhooks_dead_lettered_total", "provider" => provider.as_str()).increment(1);
            tracing::warn!(
                provider = provider.as_str(),
                channel,
                problems = normalized.problems.len(),
                "webhook verified but not fully understood; kept as a dead letter for an administrator"
            );
        }
        let payload = PayloadRow {
            id: payload_id(provider, channel, &body),
            provider: provider.as_str(),
            channel: channel.to_string(),
            received_at,
            body: body.to_vec(),
            problem: dead_letter.then(|| normalized.problems.join("\n")),
        };
        let outcome = self.writer.write(payload, normalized.events).await?;
        metrics::counter!("replydesk_events_stored_total", "provider" => provider.as_str())
            .increment(outcome.stored as u64);
        metrics::counter!("replydesk_events_duplicate_total", "provider" => provider.as_str())
            .increment(outcome.duplicates as u64);
        Ok(Accepted {
            stored: outcome.stored,
            duplicates: outcome.duplicates,
            dead_letter,
        })
    }

    fn classify(&self, normalized: &mut Normalized) {
        let rules = self.rules.current();
        for ev in normalized.events.iter_mut().filter(|e| e.is_reply()) {
            let reply = Reply {
                kind: ev.msg_type,
                text: ev.body.as_deref(),
                payload: ev.payload.as_deref(),
                title: ev.title.as_deref(),
            };
            ev.classification = Some(rules.classify(&reply));
        }
    }
}

/// A webhook body's id: the same bytes on the same channel are the same row,
/// so a provider retry stores nothing new.
fn payload_id(provider: Provider, channel: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(provider.as_str().as_bytes());
    h.update([0]);
    h.update(channel.as_bytes());
    h.update([0]);
    h.update(body);
    format!("p_{}", &hex::encode(h.finalize())[..32])
}
