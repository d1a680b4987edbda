//! Group commit: one writer task takes every webhook waiting to be stored and
//! writes them in one transaction with multi-row statements, then answers
//! them all. A transaction per request tops out near 4,000 webhooks/s on
//! SQLite (see `../shared/bench-limit/RESULTS.md`); batching is what lets the
//! desk keep up with a top-tier Meta number.
//!
//! A batch that fails is retried one webhook at a time, so one bad request
//! cannot fail its neighbours.

use sqlx::{Any, Row, Transaction};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::event::{ContactRef, NormalizedEvent};
use crate::clock::Millis;
use crate::contacts::identity;
use crate::model::Provider;
use crate::preferences::{self, SignalContext};
use crate::store::{Backend, Db, StoreError, fixed_chunks, or_fail, values_rows};
use std::sync::Arc;

/// A raw webhook body as received, with what normalization found wrong.
#[derive(Debug, Clone)]
pub struct PayloadRow {
    pub id: String,
    pub provider: &'static str,
    pub channel: String,
    pub received_at: Millis,
    pub body: Vec<u8>,
    pub problem: Option<String>,
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Events stored for the first time.
    pub stored: usize,
    /// Events already stored by an earlier delivery of the same provider event.
    pub duplicates: usize,
}

struct Job {
    payload: PayloadRow,
    events: Vec<NormalizedEvent>,
    reply: oneshot::Sender<Result<WriteOutcome, StoreError>>,
}

/// The handle request handlers use to hand work to the writer.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    pending: Arc<AtomicUsize>,
}

/// Webhooks handed to the writer and not yet answered. The router reads it
/// to leave SQLite's single writer to ingest first.
pub type Pending = Arc<AtomicUsize>;

impl Writer {
    /// Starts the writer task. After `stop` it takes no new work, writes
    /// out what it was handed, and ends.
    pub fn start(
        db: Db,
        max_batch: usize,
        signals: Arc<SignalContext>,
        on_stored: impl Fn() + Send + 'static,
        stop: CancellationToken,
        pending: Pending,
    ) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(max_batch * 4);
        let handle = tokio::spawn(run(db, rx, max_batch, signals, on_stored, stop));
        (Writer { tx, pending }, handle)
    }

    /// Stores a payload and its events; returns once they are committed.
    pub async fn write(
        &self,
        payload: PayloadRow,
        events: Vec<NormalizedEvent>,
    ) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.pending.fetch_add(1, Ordering::Relaxed);
        let _done = PendingGuard(&self.pending);
        self.tx
            .send(Job {
                payload,
                events,
                reply,
            })
            .await
            .map_err(|_| StoreError::Query(sqlx::Error::PoolClosed))?;
        answer
            .await
            .map_err(|_| StoreError::Query(sqlx::Error::PoolClosed))?
    }
}

/// Counts a webhook as answered however `write` ends.
struct PendingGuard<'a>(&'a AtomicUsize);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn run(
    db: Db,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    signals: Arc<SignalContext>,
    on_stored: impl Fn(),
    stop: CancellationToken,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    let mut closing = false;
    loop {
        let n = if closing {
            rx.recv_many(&mut jobs, max_batch).await
        } else {
            tokio::select! {
                n = rx.recv_many(&mut jobs, max_batch) => n,
                () = stop.cancelled() => {
                    // Nothing new gets in; what is queued is still written.
                    rx.close();
                    closing = true;
                    continue;
                }
            }
        };
        if n == 0 {
            break;
        }
        metrics::histogram!("replydesk_ingest_batch_size").record(jobs.len() as f64);
        match write_batch(&db, &mut jobs, &signals).await {
            Ok(outcomes) => {
                for (job, outcome) in jobs.drain(..).zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::warn!(%error, batch = jobs.len(), "group commit failed; writing the batch one webhook at a time");
                for mut job in jobs.drain(..) {
                    let result = write_batch(&db, std::slice::from_mut(&mut job), &signals)
                        .await
                        .map(|mut o| o.remove(0));
                    if let Err(error) = &result {
                        tracing::error!(%error, payload = %job.payload.id, channel = %job.payload.channel,
                            "could not store a webhook; it was answered 500 so the provider will retry it");
                    }
                    let _ = job.reply.send(result);
                }
            }
        }
        on_stored();
    }
}

async fn write_batch(
    db: &Db,
    jobs: &mut [Job],
    signals: &SignalContext,
) -> Result<Vec<WriteOutcome>, StoreError> {
    let mut tx = db.writer().begin().await?;
    let backend = db.backend();
    insert_payloads(&mut tx, backend, jobs).await?;
    let now = jobs
        .iter()
        .map(|j| j.payload.received_at)
        .max()
        .unwrap_or_default();
    fill_known_phones(&mut tx, jobs).await?;
    upsert_contacts(&mut tx, backend, jobs.iter().flat_map(|j| &j.events), now).await?;
    join_user_records(&mut tx, jobs.iter().flat_map(|j| &j.events), now).await?;
    let events: Vec<(&NormalizedEvent, &PayloadRow)> = jobs
        .iter()
        .flat_map(|j| j.events.iter().map(move |e| (e, &j.payload)))
        .collect();
    let new_keys = insert_events(&mut tx, backend, &events).await?;
    let fresh: Vec<&NormalizedEvent> = events
        .iter()
        .map(|(e, _)| *e)
        .filter(|e| new_keys.contains(e.dedupe_key.as_str()))
        .collect();
    let provider_of = |e: &NormalizedEvent| {
        events
            .iter()
            .find(|(x, _)| std::ptr::eq(*x, e))
            .and_then(|(_, p)| Provider::parse(p.provider))
            .unwrap_or(Provider::Meta)
    };
    preferences::record_from_events(&mut tx, &fresh, provider_of, now, signals).await?;
    crate::replies::apply_statuses(&mut tx, &fresh, now).await?;
    let files = events
        .iter()
        .filter(|(e, _)| new_keys.contains(e.dedupe_key.as_str()))
        .map(|(e, p)| (*e, p.provider, p.channel.as_str()));
    crate::media::record_inbound(&mut tx, files, now).await?;
    tx.commit().await?;
    Ok(jobs
        .iter()
        .map(|job| {
            let stored = job
                .events
                .iter()
                .filter(|e| new_keys.contains(e.dedupe_key.as_str()))
                .count();
            WriteOutcome {
                stored,
                duplicates: job.events.len() - stored,
            }
        })
        .collect())
}

async fn insert_payloads(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    jobs: &[Job],
) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    let rows: Vec<&PayloadRow> = jobs
        .iter()
        .map(|j| &j.payload)
        .filter(|p| seen.insert(p.id.as_str()))
        .collect();
    const COLS: usize = 7;
    for chunk in fixed_chunks(&rows) {
        let sql = format!(
            "INSERT{} INTO webhook_payloads (id, provider, channel, received_at, body, event_count, problem) \
             VALUES {} ON CONFLICT (id) DO NOTHING",
            or_fail(backend),
            values_rows(backend, chunk.len(), COLS)
        );
        let mut q = sqlx::query(&sql);
        for p in chunk {
            let count = jobs
                .iter()
                .find(|j| j.payload.id == p.id)
                .map_or(0, |j| j.events.len());
            q = q
                .bind(&p.id)
                .bind(p.provider)
                .bind(&p.channel)
                .bind(p.received_at)
                .bind(p.body.clone())
                .bind(i64::try_from(count).unwrap_or(i64::MAX))
                .bind(&p.problem);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Merges what the batch says about each contact, then upserts them in id
/// order (a fixed order keeps concurrent PostgreSQL writers from deadlocking).
async fn upsert_contacts<'a>(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    events: impl Iterator<Item = &'a NormalizedEvent>,
    now: Millis,
) -> Result<(), StoreError> {
    let mut merged: BTreeMap<String, ContactRef> = BTreeMap::new();
    for contact in events.filter_map(|e| e.contact.as_ref()) {
        let Some(id) = contact.contact_id() else {
            continue;
        };
        let entry = merged.entry(id).or_default();
        entry.phone = entry.phone.take().or_else(|| contact.phone.clone());
        if contact.wa_id.is_some() {
            entry.wa_id.clone_from(&contact.wa_id);
        }
        entry.user_id = entry.user_id.take().or_else(|| contact.user_id.clone());
        if contact.name.is_some() {
            entry.name.clone_from(&contact.name);
        }
    }
    let rows: Vec<(String, ContactRef)> = merged.into_iter().collect();
    const COLS: usize = 7;
    for chunk in fixed_chunks(&rows) {
        // The WhatsApp id last seen is kept: it is what a reply is addressed to.
        let sql = format!(
            "INSERT{} INTO contacts (id, phone, wa_id, wa_user_id, name, created_at, updated_at) VALUES {} \
             ON CONFLICT (id) DO UPDATE SET \
               name = COALESCE(excluded.name, contacts.name), \
               wa_id = COALESCE(excluded.wa_id, contacts.wa_id), \
               wa_user_id = COALESCE(contacts.wa_user_id, excluded.wa_user_id), \
               updated_at = excluded.updated_at \
             WHERE (excluded.name IS NOT NULL AND contacts.name IS DISTINCT FROM excluded.name) \
                OR (excluded.wa_id IS NOT NULL AND contacts.wa_id IS DISTINCT FROM excluded.wa_id) \
                OR (contacts.wa_user_id IS NULL AND excluded.wa_user_id IS NOT NULL)",
            or_fail(backend),
            values_rows(backend, chunk.len(), COLS)
        );
        let mut q = sqlx::query(&sql);
        for (id, c) in chunk {
            q = q
                .bind(id)
                .bind(&c.phone)
                .bind(&c.wa_id)
                .bind(&c.user_id)
                .bind(&c.name)
                .bind(now)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// A customer known only by a user id whom a phone contact already carries
/// is that contact: the phone is filled in, so the event is stored under it.
async fn fill_known_phones(
    tx: &mut Transaction<'static, Any>,
    jobs: &mut [Job],
) -> Result<(), StoreError> {
    let mut users: Vec<&str> = jobs
        .iter()
        .flat_map(|j| &j.events)
        .filter_map(|e| e.contact.as_ref())
        .filter(|c| c.phone.is_none())
        .filter_map(|c| c.user_id.as_deref())
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    users.sort_unstable();
    users.dedup();
    let known: HashMap<String, String> = identity::phones_of_users(tx, &users)
        .await?
        .into_iter()
        .collect();
    for contact in jobs
        .iter_mut()
        .flat_map(|j| &mut j.events)
        .filter_map(|e| e.contact.as_mut())
        .filter(|c| c.phone.is_none())
    {
        if let Some(phone) = contact.user_id.as_ref().and_then(|u| known.get(u)) {
            contact.phone = Some(phone.clone());
        }
    }
    Ok(())
}

/// When a webhook names a phone and a user id together, a record kept until
/// now under the user id alone is joined into the phone contact.
async fn join_user_records<'a>(
    tx: &mut Transaction<'static, Any>,
    events: impl Iterator<Item = &'a NormalizedEvent>,
    now: Millis,
) -> Result<(), StoreError> {
    let mut pairs: BTreeMap<String, String> = BTreeMap::new();
    for c in events.filter_map(|e| e.contact.as_ref()) {
        if let (Some(phone), Some(user)) = (&c.phone, &c.user_id) {
            pairs.insert(identity::id_for_user(user), identity::id_for_phone(phone));
        }
    }
    if pairs.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = pairs.keys().map(String::as_str).collect();
    for from in identity::user_only_records(tx, &ids).await? {
        if let Some(into) = pairs.get(&from) {
            let joined = identity::join(tx, &from, into, now).await?;
            tracing::info!(
                from = %from, into = %into, rows = joined.rows_moved, folded = joined.conversations_folded,
                "a contact known by its WhatsApp user id turned out to have a phone number; joined into the phone contact"
            );
        }
    }
    Ok(())
}

/// Inserts events, skipping those already stored; returns the keys that are new.
async fn insert_events(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    events: &[(&NormalizedEvent, &PayloadRow)],
) -> Result<HashSet<String>, StoreError> {
    const COLS: usize = 27;
    let mut seen = HashSet::new();
    let unique: Vec<&(&NormalizedEvent, &PayloadRow)> = events
        .iter()
        .filter(|(e, _)| seen.insert(e.dedupe_key.as_str()))
        .collect();
    // SQLite has one writer, so the keys not stored before this statement
    // are exactly those it inserts: asking first (usually no rows) saves a
    // round trip per inserted row that RETURNING costs through sqlx's
    // SQLite worker. PostgreSQL instances insert concurrently and need
    // RETURNING to know which rows were theirs.
    let returning = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => "RETURNING dedupe_key",
    };
    let mut new_keys = match backend {
        Backend::Sqlite => not_stored(tx, &unique).await?,
        Backend::Postgres => HashSet::with_capacity(unique.len()),
    };
    for chunk in fixed_chunks(&unique) {
        let sql = format!(
            "INSERT{} INTO events (dedupe_key, payload_id, provider, channel, kind, direction, provider_id, \
               contact_id, occurred_at, received_at, msg_type, body, payload, title, context_id, status, \
               error_code, error_title, detail, category, rule_id, match_start, match_end, lang, rules_version, routed_at, \
               business_number) \
             VALUES {} ON CONFLICT (dedupe_key) DO NOTHING {returning}",
            or_fail(backend),
            values_rows(backend, chunk.len(), COLS)
        );
        let mut q = sqlx::query(&sql);
        for (e, p) in chunk {
            let c = e.classification.as_ref();
            let span = c.and_then(|c| c.span);
            let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            q = q
                .bind(&e.dedupe_key)
                .bind(&p.id)
                .bind(p.provider)
                .bind(&p.channel)
                .bind(e.kind.as_str())
                .bind(if e.outbound { "out" } else { "in" })
                .bind(&e.provider_id)
                .bind(e.contact.as_ref().and_then(ContactRef::contact_id))
                .bind(e.occurred_at)
                .bind(p.received_at)
                .bind(e.msg_type.map(|k| k.as_str()))
                .bind(&e.body)
                .bind(&e.payload)
                .bind(&e.title)
                .bind(&e.context_id)
                .bind(e.status.map(|s| s.as_str()))
                .bind(&e.error_code)
                .bind(&e.error_title)
                .bind(e.detail.as_ref().map(ToString::to_string))
                .bind(c.map(|c| c.category.as_str()))
                .bind(c.map(|c| c.rule_id.to_string()))
                .bind(span.map(|s| as_i64(s.0)))
                .bind(span.map(|s| as_i64(s.1)))
                .bind(c.and_then(|c| c.lang))
                .bind(c.map(|c| c.rules_version.to_string()))
                // Only customer replies wait for the router.
                .bind((!e.is_reply()).then_some(p.received_at))
                .bind(&e.business_number);
        }
        match backend {
            Backend::Sqlite => {
                q.execute(&mut **tx).await?;
            }
            Backend::Postgres => {
                for row in q.fetch_all(&mut **tx).await? {
                    new_keys.insert(row.try_get::<String, _>(0)?);
                }
            }
        }
    }
    Ok(new_keys)
}

/// The keys among `events` that are not stored yet.
async fn not_stored(
    tx: &mut Transaction<'static, Any>,
    events: &[&(&NormalizedEvent, &PayloadRow)],
) -> Result<HashSet<String>, StoreError> {
    let mut fresh: HashSet<String> = events.iter().map(|(e, _)| e.dedupe_key.clone()).collect();
    for chunk in fixed_chunks(events) {
        let sql = format!(
            "SELECT dedupe_key FROM events WHERE dedupe_key IN ({})",
            vec!["?"; chunk.len()].join(",")
        );
        let mut q = sqlx::query(&sql);
        for (e, _) in chunk {
            q = q.bind(&e.dedupe_key);
        }
        for row in q.fetch_all(&mut **tx).await? {
            fresh.remove(&row.try_get::<String, _>(0)?);
        }
    }
    Ok(fresh)
}
