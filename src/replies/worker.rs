//! The sender: claims queued replies under a lease, hands each to its
//! channel's provider once, and records what the answer means.
//!
//! Exactly once: a reply is marked `sending` (committed) before its request
//! leaves. If the instance dies after that, the lease runs out and the reply
//! becomes `unconfirmed`: the request may have been sent, so a person
//! decides. Only an answer that says the message was not accepted (a
//! throughput limit, a temporary error, nothing listening) puts it back in
//! the queue, with backoff.

use serde_json::json;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::gate;
use super::senders::{Sender, Senders};
use crate::clock::{Millis, SharedClock};
use crate::config::Config;
use crate::ingest::event::{EventKind, NormalizedEvent};
use crate::model::{DeliveryStatus, MessageKind};
use crate::providers::{Content, Outgoing, Recipient, Sent};
use crate::sla::clock::Calendars;
use crate::store::{Backend, Db, StoreResult};

/// A claimed reply: what the provider needs.
struct Claimed {
    id: String,
    conversation_id: String,
    contact_id: String,
    channel: String,
    to_address: String,
    to_kind: String,
    from_number: String,
    kind: String,
    body: String,
    template_name: Option<String>,
    template_language: Option<String>,
    template_ref: Option<String>,
    parameters: Option<String>,
    reply_to: Option<String>,
    purpose: String,
    attempts: i64,
    media_id: Option<String>,
}

impl Claimed {
    fn outgoing(&self, attached: Option<Content>) -> Outgoing {
        let to = if self.to_kind == "user_id" {
            Recipient::UserId(self.to_address.clone())
        } else {
            Recipient::WaId(self.to_address.clone())
        };
        let content = if let Some(media) = attached {
            media
        } else if self.kind == "template" {
            Content::Template {
                name: self.template_name.clone().unwrap_or_default(),
                language: self.template_language.clone().unwrap_or_default(),
                parameters: self
                    .parameters
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok())
                    .unwrap_or_default(),
                provider_ref: self.template_ref.clone(),
            }
        } else {
            Content::Text {
                body: self.body.clone(),
            }
        };
        Outgoing {
            from: self.from_number.clone(),
            to,
            content,
            reply_to: self.reply_to.clone(),
        }
    }
}

/// Spaces the sends of each business number to the configured rate.
#[derive(Debug, Default)]
struct Pace {
    next: HashMap<String, Instant>,
}

impl Pace {
    /// How long to wait before the next send from `number`.
    fn wait(&mut self, number: &str, per_second: f64) -> Duration {
        let gap = Duration::from_secs_f64(1.0 / per_second.max(0.01));
        let now = Instant::now();
        let at = self.next.get(number).copied().unwrap_or(now).max(now);
        self.next.insert(number.to_string(), at + gap);
        at - now
    }
}

#[derive(Debug, Clone)]
pub struct Worker {
    db: Db,
    clock: SharedClock,
    senders: Arc<Senders>,
    config: Arc<Config>,
    calendars: Arc<Calendars>,
    instance: String,
    pace: Arc<Mutex<Pace>>,
    wake: Arc<tokio::sync::Notify>,
    files: crate::media::FileStore,
    /// The channels' clients with the upload timeout (attachments to Meta).
    uploads: Arc<Senders>,
}

/// Replies claimed per round.
const BATCH: i64 = 32;
/// How long an attachment's upload to Meta may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// The claim while a file is uploaded: the upload and a margin.
const UPLOAD_LEASE_MS: Millis = 330_000;

impl Worker {
    pub fn new(
        db: Db,
        clock: SharedClock,
        senders: Arc<Senders>,
        config: Arc<Config>,
        calendars: Arc<Calendars>,
        instance: String,
        wake: Arc<tokio::sync::Notify>,
    ) -> Worker {
        Worker {
            files: crate::media::FileStore::new(db.clone(), config.media.directory.clone()),
            uploads: Arc::new(Senders::with_timeout(&config, UPLOAD_TIMEOUT)),
            db,
            clock,
            senders,
            config,
            calendars,
            instance,
            pace: Arc::new(Mutex::new(Pace::default())),
            wake,
        }
    }

    /// How long a claim lasts: longer than any request may take.
    fn lease_ms(&self) -> Millis {
        i64::try_from(self.config.sending.timeout_secs).unwrap_or(60) * 1000 + 30_000
    }

    /// Sends every reply that is due; returns how many were handed to a provider.
    pub async fn run_once(&self) -> StoreResult<usize> {
        self.give_up_on_lost_leases().await?;
        let mut total = 0;
        loop {
            let claimed = self.claim().await?;
            if claimed.is_empty() {
                return Ok(total);
            }
            total += claimed.len();
            // Different numbers in parallel, each at its own pace.
            let sends = claimed.into_iter().map(|c| self.send_one(c));
            for result in futures::future::join_all(sends).await {
                result?;
            }
        }
    }

    /// Runs until `stop`, on every wake-up and at least every `tick`.
    pub async fn run(self, stop: CancellationToken, tick: Duration) {
        loop {
            if let Err(error) = self.run_once().await {
                tracing::error!(%error, "reply sender failed a round; queued replies stay queued and are tried again");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => {},
                () = tokio::time::sleep(tick) => {},
            }
        }
    }

    /// Replies left `sending` by an instance that stopped before it knew
    /// the answer: they may have been sent, so a person decides.
    async fn give_up_on_lost_leases(&self) -> StoreResult<()> {
        let now = self.clock.now_ms();
        let lost = sqlx::query(
            "UPDATE replies SET state = 'unconfirmed', lease_owner = NULL, lease_until = NULL, updated_at = $1, \
               error = 'the desk stopped while this reply was being handed to the provider; it may or may not have been sent. Check with the customer, then send it again or leave it' \
             WHERE state = 'sending' AND lease_until < $1",
        )
        .bind(now)
        .execute(self.db.writer())
        .await?
        .rows_affected();
        if lost > 0 {
            tracing::warn!(
                replies = lost,
                "replies whose sending instance stopped are marked unconfirmed for an agent to decide"
            );
        }
        Ok(())
    }

    /// Takes due replies: on PostgreSQL locked and skipped by other
    /// instances, on SQLite under the one writer.
    async fn claim(&self) -> StoreResult<Vec<Claimed>> {
        let now = self.clock.now_ms();
        let lock = match self.db.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.db.writer().begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT id, conversation_id, contact_id, channel, to_address, to_kind, from_number, kind, body, \
                    template_name, template_language, template_ref, parameters, reply_to, purpose, attempts, media_id \
             FROM replies WHERE state = 'queued' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id \
             LIMIT {BATCH} {lock}"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(Claimed {
                id: r.try_get(0)?,
                conversation_id: r.try_get(1)?,
                contact_id: r.try_get(2)?,
                channel: r.try_get(3)?,
                to_address: r.try_get(4)?,
                to_kind: r.try_get(5)?,
                from_number: r.try_get(6)?,
                kind: r.try_get(7)?,
                body: r.try_get(8)?,
                template_name: r.try_get(9)?,
                template_language: r.try_get(10)?,
                template_ref: r.try_get(11)?,
                parameters: r.try_get(12)?,
                reply_to: r.try_get(13)?,
                purpose: r.try_get(14)?,
                attempts: r.try_get::<i64, _>(15)? + 1,
                media_id: r.try_get(16)?,
            });
        }
        for c in &out {
            sqlx::query(
                "UPDATE replies SET state = 'sending', attempts = $1, lease_owner = $2, lease_until = $3, updated_at = $4 \
                 WHERE id = $5 AND state = 'queued'",
            )
            .bind(c.attempts)
            .bind(&self.instance)
            .bind(now + self.lease_ms())
            .bind(now)
            .bind(&c.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn send_one(&self, c: Claimed) -> StoreResult<()> {
        let sender = match self.senders.get(&c.channel) {
            Ok(sender) => sender,
            Err(why) => {
                let refused = Sent::Refused {
                    code: None,
                    reason: why,
                };
                return self.record(&c, refused).await;
            }
        };
        let per_second = self.config.sending.rate_per_number;
        let wait = self.pace.lock().await.wait(&c.from_number, per_second);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        // The pace may have kept it waiting: the claim is renewed for the
        // request's whole time, or left to whoever took it over.
        if !self.renew(&c).await? {
            tracing::warn!(reply = %c.id, "a reply's claim ran out while it waited for its pace; it was not sent by this instance");
            return Ok(());
        }
        // Asked again right before it leaves: a STOP may have come since it
        // was queued, or the window closed while it waited.
        if let Err(refusal) = self.still_allowed(&c).await? {
            let refused = Sent::Refused {
                code: None,
                reason: format!("not sent: {}", refusal.explanation),
            };
            return self.record(&c, refused).await;
        }
        let attached = match &c.media_id {
            Some(media_id) => {
                // An upload may take minutes: the claim covers it, then the send.
                if !self.renew_for(&c, UPLOAD_LEASE_MS).await? {
                    return Ok(());
                }
                let prepared = match self.attachment(&c, sender, media_id).await {
                    Ok(prepared) => prepared,
                    // Nothing has left yet: it is safe to try again.
                    Err(e) => Err(Sent::Retry {
                        code: None,
                        reason: format!("the attached file could not be read: {e}"),
                        after: None,
                    }),
                };
                match prepared {
                    Ok(content) if self.renew(&c).await? => Some(content),
                    Ok(_) => {
                        tracing::warn!(reply = %c.id, "a reply's claim ran out while its file was uploaded; it was not sent by this instance");
                        return Ok(());
                    }
                    Err(not_yet) => return self.record(&c, not_yet).await,
                }
            }
            None => None,
        };
        let started = Instant::now();
        let sent = sender.send(&c.outgoing(attached)).await;
        metrics::histogram!("replydesk_reply_send_seconds").record(started.elapsed().as_secs_f64());
        self.record(&c, sent).await
    }

    /// The attachment as the provider takes it: Meta by the id of an upload
    /// (made once and kept, so a retry does not upload again), Twilio by an
    /// expiring signed link under the desk's `public_url`.
    async fn attachment(
        &self,
        c: &Claimed,
        sender: &Sender,
        media_id: &str,
    ) -> StoreResult<Result<Content, Sent>> {
        let row = sqlx::query(
            "SELECT kind, detected_type, filename, stored_in, provider_media_id FROM media WHERE id = $1",
        )
        .bind(media_id)
        .fetch_optional(self.db.reader())
        .await?;
        let refused = |reason: String| Ok(Err(Sent::Refused { code: None, reason }));
        let Some(r) = row else {
            return refused("the attached file is no longer kept by the desk".into());
        };
        let kind: String = r.try_get(0)?;
        let mime: Option<String> = r.try_get(1)?;
        let filename: Option<String> = r.try_get(2)?;
        let stored_in: Option<String> = r.try_get(3)?;
        let uploaded: Option<String> = r.try_get(4)?;
        let kind = MessageKind::parse(&kind).unwrap_or(MessageKind::Document);
        let link = match sender {
            Sender::Meta(sender) => match uploaded {
                Some(id) => id,
                None => {
                    let Some(bytes) = self
                        .files
                        .get(media_id, stored_in.as_deref().unwrap_or("database"), false)
                        .await?
                    else {
                        return refused("the attached file is no longer kept by the desk".into());
                    };
                    let name = filename.clone().unwrap_or_else(|| "file".into());
                    let mime = mime.unwrap_or_else(|| "application/octet-stream".into());
                    // The upload's own client: a 100 MB document outlasts a send's timeout.
                    let meta = match self.uploads.get(&c.channel) {
                        Ok(Sender::Meta(m)) => m,
                        _ => sender,
                    };
                    match meta.upload(&c.from_number, bytes, &mime, &name).await {
                        Ok(id) => {
                            sqlx::query("UPDATE media SET provider_media_id = $1 WHERE id = $2")
                                .bind(&id)
                                .bind(media_id)
                                .execute(self.db.writer())
                                .await?;
                            id
                        }
                        Err(sent) => return Ok(Err(sent)),
                    }
                }
            },
            Sender::Twilio(_) => {
                let Some(base) = self.twilio_base(&c.channel) else {
                    return refused(
                        "Twilio fetches attachments from the desk, but public_url is not set; set it to the address Twilio can reach".into(),
                    );
                };
                let now = self.clock.now_ms();
                let key = crate::media::links::key(&self.db, now).await?;
                let path =
                    crate::media::links::sign(&key, media_id, now + crate::media::links::VALID_MS);
                format!("{base}{path}")
            }
        };
        Ok(Ok(Content::Media {
            kind,
            link,
            caption: Some(c.body.clone()).filter(|b| !b.trim().is_empty()),
            filename,
        }))
    }

    /// Where Twilio reaches the desk: the origin of the channel's webhook
    /// address (Twilio already posts there), else the desk's `public_url`.
    fn twilio_base(&self, channel: &str) -> Option<String> {
        let webhook = self
            .config
            .channels
            .iter()
            .find(|c| c.name == channel)
            .and_then(|c| c.public_url.as_deref())
            .and_then(|u| reqwest::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null");
        webhook.or_else(|| {
            self.config
                .public_url
                .as_deref()
                .filter(|u| !u.is_empty())
                .map(|u| u.trim_end_matches('/').to_string())
        })
    }

    /// Extends this instance's claim on `c`; false when it is no longer ours.
    async fn renew(&self, c: &Claimed) -> StoreResult<bool> {
        self.renew_for(c, self.lease_ms()).await
    }

    async fn renew_for(&self, c: &Claimed, ms: Millis) -> StoreResult<bool> {
        let now = self.clock.now_ms();
        let renewed = sqlx::query(
            "UPDATE replies SET lease_until = $1 WHERE id = $2 AND state = 'sending' AND lease_owner = $3",
        )
        .bind(now + ms)
        .bind(&c.id)
        .bind(&self.instance)
        .execute(self.db.writer())
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// The gate's answer now for what `c` is.
    async fn still_allowed(&self, c: &Claimed) -> StoreResult<Result<(), gate::Refusal>> {
        let row = sqlx::query(
            "SELECT k.phone, k.wa_user_id, v.journey FROM conversations v \
             LEFT JOIN contacts k ON k.id = v.contact_id WHERE v.id = $1",
        )
        .bind(&c.conversation_id)
        .fetch_optional(self.db.reader())
        .await?;
        let (phone, user, journey): (Option<String>, Option<String>, Option<String>) = match &row {
            Some(r) => (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?),
            None => (None, None, None),
        };
        let label = phone.or(user).unwrap_or_default();
        let window = gate::window(&self.db, &c.contact_id, &c.channel, self.clock.now_ms()).await?;
        let ask = match (c.purpose.as_str(), c.kind.as_str()) {
            ("opt_out_confirmation", _) => gate::Ask::OptOutConfirmation,
            (_, "template") => gate::Ask::Template(gate::TemplateCategory::parse(&c.purpose)),
            _ => gate::Ask::Text,
        };
        let answer = gate::check(
            &self.db,
            &c.contact_id,
            &label,
            journey.as_deref(),
            window,
            ask,
        )
        .await?;
        Ok(answer.map(|_| ()))
    }

    async fn record(&self, c: &Claimed, sent: Sent) -> StoreResult<()> {
        let now = self.clock.now_ms();
        let mut tx = self.db.writer().begin().await?;
        let outcome = match &sent {
            Sent::Accepted { provider_id } => {
                sqlx::query(
                    "UPDATE replies SET state = 'sent', provider_message_id = $1, accepted_at = $2, error = NULL, \
                       error_code = NULL, lease_owner = NULL, lease_until = NULL, updated_at = $2 WHERE id = $3",
                )
                .bind(provider_id)
                .bind(now)
                .bind(&c.id)
                .execute(&mut *tx)
                .await?;
                self.accepted(&mut tx, c, provider_id, now).await?;
                "sent"
            }
            Sent::Retry {
                code,
                reason,
                after,
            } if c.attempts < i64::from(self.config.sending.max_attempts) => {
                let wait = after.map_or_else(
                    || backoff(c.attempts),
                    |a| i64::try_from(a.as_millis()).unwrap_or(60_000),
                );
                sqlx::query(
                    "UPDATE replies SET state = 'queued', next_attempt_at = $1, error_code = $2, error = $3, \
                       lease_owner = NULL, lease_until = NULL, updated_at = $4 WHERE id = $5",
                )
                .bind(now + wait)
                .bind(code)
                .bind(format!("not accepted yet, trying again: {reason}"))
                .bind(now)
                .bind(&c.id)
                .execute(&mut *tx)
                .await?;
                "retry"
            }
            Sent::Retry { code, reason, .. } | Sent::Refused { code, reason } => {
                let reason = if matches!(sent, Sent::Retry { .. }) {
                    format!("gave up after {} attempts: {reason}", c.attempts)
                } else {
                    reason.clone()
                };
                self.finish(&mut tx, c, "failed", code.as_deref(), &reason, now)
                    .await?;
                "failed"
            }
            Sent::Unknown { reason } => {
                self.finish(&mut tx, c, "unconfirmed", None, reason, now)
                    .await?;
                "unconfirmed"
            }
        };
        tx.commit().await?;
        metrics::counter!("replydesk_replies_sent_total", "outcome" => outcome).increment(1);
        if outcome != "sent" {
            tracing::info!(reply = %c.id, conversation = %c.conversation_id, outcome, detail = ?sent, "reply not accepted by the provider");
        }
        Ok(())
    }

    async fn finish(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        c: &Claimed,
        state: &str,
        code: Option<&str>,
        reason: &str,
        now: Millis,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE replies SET state = $1, error_code = $2, error = $3, lease_owner = NULL, lease_until = NULL, \
               updated_at = $4 WHERE id = $5",
        )
        .bind(state)
        .bind(code)
        .bind(reason)
        .bind(now)
        .bind(&c.id)
        .execute(&mut **tx)
        .await?;
        log(
            tx,
            &c.conversation_id,
            &format!("reply_{state}"),
            json!({ "reply": c.id, "code": code, "reason": reason }),
            now,
        )
        .await
    }

    /// The provider took the message: it is a registered send (so its
    /// failures reach the ledger through the status codes, as for any
    /// other), and the first response is met.
    async fn accepted(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        c: &Claimed,
        provider_id: &str,
        now: Millis,
    ) -> StoreResult<()> {
        let purpose = match c.purpose.as_str() {
            "marketing" => "marketing",
            "utility" | "authentication" => "utility",
            _ => "service",
        };
        sqlx::query(
            "INSERT INTO outbound_messages (message_id, contact_id, journey, template, purpose, sent_at, registered_at, registered_by) \
             SELECT $1, $2, journey, $3, $4, $5, $5, 'desk' FROM conversations WHERE id = $6 ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(provider_id)
        .bind(&c.contact_id)
        .bind(&c.template_name)
        .bind(purpose)
        .bind(now)
        .bind(&c.conversation_id)
        .execute(&mut **tx)
        .await?;
        crate::conversations::meet_first_response(
            tx,
            &self.config,
            &self.calendars,
            &c.conversation_id,
            now,
        )
        .await?;
        log(
            tx,
            &c.conversation_id,
            "reply_sent",
            json!({ "reply": c.id, "provider_message_id": provider_id }),
            now,
        )
        .await
    }
}

/// Minutes between attempts: 2 s, 4 s, 8 s, … at most 10 minutes.
fn backoff(attempts: i64) -> Millis {
    let exp = u32::try_from(attempts.clamp(1, 10)).unwrap_or(10);
    (1_000 * 2_i64.pow(exp)).min(600_000)
}

async fn log(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    conversation: &str,
    kind: &str,
    detail: serde_json::Value,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO conversation_log (id, conversation_id, at, actor, kind, detail) VALUES ($1, $2, $3, 'system', $4, $5)")
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(conversation)
        .bind(now)
        .bind(kind)
        .bind(detail.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves the desk's own replies forward with the provider's statuses
/// (inside the ingest transaction): delivered and read only forward, failed
/// with the code's meaning. Statuses of other messages change nothing.
pub async fn apply_statuses(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    statuses: &[&NormalizedEvent],
    now: Millis,
) -> StoreResult<()> {
    let ids: Vec<&str> = statuses
        .iter()
        .filter(|e| e.kind == EventKind::Status)
        .filter_map(|e| e.provider_id.as_deref())
        .collect();
    let ours = ours(tx, &ids).await?;
    if ours.is_empty() {
        return Ok(());
    }
    for ev in statuses.iter().filter(|e| e.kind == EventKind::Status) {
        let (Some(id), Some(status)) = (ev.provider_id.as_deref(), ev.status) else {
            continue;
        };
        if !ours.contains(id) {
            continue;
        }
        let (state, rank) = match status {
            DeliveryStatus::Sent => ("sent", 2),
            DeliveryStatus::Delivered => ("delivered", 3),
            DeliveryStatus::Read | DeliveryStatus::Played => ("read", 4),
            DeliveryStatus::Failed => ("failed", 5),
            _ => continue,
        };
        let error = ev.error_code.as_ref().map(|code| {
            let words = code
                .parse::<i64>()
                .map(|c| crate::providers::meta::codes::meaning(c).1)
                .unwrap_or("the provider could not deliver it");
            match &ev.error_title {
                Some(t) => format!("{words} ({code}: {t})"),
                None => format!("{words} ({code})"),
            }
        });
        sqlx::query(
            "UPDATE replies SET state = $1, error_code = COALESCE($2, error_code), error = COALESCE($3, error), updated_at = $4 \
             WHERE provider_message_id = $5 AND (CASE state WHEN 'sent' THEN 2 WHEN 'delivered' THEN 3 \
               WHEN 'read' THEN 4 WHEN 'failed' THEN 5 ELSE 0 END) < $6 \
               AND NOT (state IN ('delivered', 'read') AND $1 = 'failed')",
        )
        .bind(state)
        .bind(&ev.error_code)
        .bind(error)
        .bind(now)
        .bind(id)
        .bind(rank)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Which of these provider ids are the desk's own replies: one query per
/// batch, so statuses of other senders' messages cost one lookup.
async fn ours(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    ids: &[&str],
) -> StoreResult<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT provider_message_id FROM replies WHERE provider_message_id IN ({})",
            crate::store::placeholders(1, chunk.len())
        );
        let mut q = sqlx::query_scalar::<_, String>(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        assert_eq!(backoff(1), 2_000);
        assert_eq!(backoff(2), 4_000);
        assert_eq!(backoff(30), 600_000);
    }

    #[test]
    fn each_number_is_paced_on_its_own() {
        let mut pace = Pace::default();
        assert!(pace.wait("a", 10.0).is_zero());
        let second = pace.wait("a", 10.0);
        assert!(second > Duration::from_millis(50), "{second:?}");
        assert!(
            pace.wait("b", 10.0).is_zero(),
            "another number does not wait"
        );
    }
}
