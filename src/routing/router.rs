//! The routing worker.

use serde_json::{Value, json};
use sqlx::{Any, AnyConnection, Row, Transaction};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::combined;
use super::table::{AgentLoad, RouteInput, next_agent, route};
use crate::clock::{Millis, SharedClock};
use crate::config::{Config, parse_duration_ms};
use crate::model::Category;
use crate::sla::clock::{Calendars, SlaClock, Target, schedule};
use crate::store::{
    Backend, Db, StoreError, StoreResult, fixed_chunks, or_fail, placeholders, values_rows,
};

/// Replies claimed for routing, with what routing them needs and never changes.
struct Batch {
    replies: Vec<Reply>,
    /// Each reply's contact to the contact its conversation is kept under.
    canonical: HashMap<String, String>,
    /// Registered messages the replies may answer.
    sent: Vec<Sent>,
}

/// A reply waiting to be routed.
#[derive(Debug, Clone)]
struct Reply {
    id: i64,
    contact_id: String,
    channel: String,
    occurred_at: Millis,
    category: Category,
    lang: Option<String>,
    body: Option<String>,
    msg_type: Option<String>,
    context_id: Option<String>,
}

#[derive(Debug, Clone)]
struct Conversation {
    id: String,
    contact_id: String,
    channel: String,
    status: String,
    category: Category,
    team: Option<String>,
    assignee: Option<String>,
    journey: Option<String>,
    outbound_id: Option<String>,
    lang: Option<String>,
    last_text: Option<String>,
    message_count: i64,
    opened_at: Millis,
    last_inbound_at: Millis,
    resolved_at: Option<Millis>,
    resolution: Option<String>,
    /// A clock to start, when routing or reopening set one.
    new_clock: Option<SlaClock>,
    is_new: bool,
    dirty: bool,
    /// What the conversation's indexed columns held when it was read.
    loaded: Option<Placement>,
}

/// The columns a reply threading into an open conversation leaves alone,
/// among them every one a conversation index covers but `updated_at` (the
/// clock's are judged by `new_clock`). When none changed, only the columns
/// threading changes are written: SQLite rewrites every index that covers
/// a column named in an `UPDATE`, changed or not, and naming all of them
/// put three and a half times as many pages in the WAL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placement {
    status: String,
    team: Option<String>,
    assignee: Option<String>,
    journey: Option<String>,
    outbound_id: Option<String>,
    resolved_at: Option<Millis>,
    resolution: Option<String>,
}

impl Conversation {
    fn placement(&self) -> Placement {
        Placement {
            status: self.status.clone(),
            team: self.team.clone(),
            assignee: self.assignee.clone(),
            journey: self.journey.clone(),
            outbound_id: self.outbound_id.clone(),
            resolved_at: self.resolved_at,
            resolution: self.resolution.clone(),
        }
    }

    /// Whether this batch only threaded replies into the open conversation.
    fn only_threaded(&self) -> bool {
        self.status == "open"
            && self.new_clock.is_none()
            && self.loaded.as_ref() == Some(&self.placement())
    }
}

struct LogRow {
    conversation_id: String,
    kind: &'static str,
    detail: Value,
}

#[derive(Debug, Clone)]
struct Sent {
    message_id: String,
    contact_id: String,
    journey: Option<String>,
    sent_at: Millis,
}

/// The routing worker: reads unrouted replies, writes conversations.
#[derive(Clone, Debug)]
pub struct Router {
    db: Db,
    clock: SharedClock,
    config: Arc<Config>,
    calendars: Arc<Calendars>,
    /// Webhooks waiting for the ingest writer; on SQLite the router lets them go first.
    ingest_pending: Option<crate::ingest::Pending>,
    wake: Arc<Notify>,
    /// Held while a batch is routed.
    turn: Arc<tokio::sync::Mutex<()>>,
    reopen_ms: Millis,
    attribution_ms: Millis,
    /// Told about every committed batch (the auto-replies listen).
    announce: Option<tokio::sync::mpsc::UnboundedSender<Vec<crate::replies::auto::Routed>>>,
}

/// Batches rolled back for a conflict that one run routes again before it
/// reports the conflict (the next run starts over).
const MAX_CONFLICTS: u64 = 20;

/// Replies routed per transaction when ingest is idle.
const BATCH: i64 = 500;
/// Replies routed per transaction while webhooks are arriving: on SQLite a
/// routing transaction holds the one writer, and 500 replies held it long
/// enough to put p99 at 2,000 webhooks/s above 40 ms; with 64 it was 15 to
/// 19 ms in most runs (see the README's load figures).
const BATCH_UNDER_LOAD: i64 = 64;

impl Router {
    pub fn new(
        db: Db,
        clock: SharedClock,
        config: Arc<Config>,
        calendars: Arc<Calendars>,
    ) -> Router {
        // Validated at start-up; the fallbacks only guard against a config built by hand.
        let reopen_ms = parse_duration_ms(&config.routing.reopen_window).unwrap_or(72 * 3_600_000);
        let attribution_ms =
            parse_duration_ms(&config.routing.attribution_window).unwrap_or(72 * 3_600_000);
        Router {
            db,
            clock,
            config,
            calendars,
            ingest_pending: None,
            wake: Arc::new(Notify::new()),
            turn: Arc::new(tokio::sync::Mutex::new(())),
            reopen_ms,
            attribution_ms,
            announce: None,
        }
    }

    /// Tells `to` about each batch of routed replies once it is committed.
    pub fn announcing(
        mut self,
        to: tokio::sync::mpsc::UnboundedSender<Vec<crate::replies::auto::Routed>>,
    ) -> Router {
        self.announce = Some(to);
        self
    }

    /// Lets waiting webhooks take SQLite's single writer before each batch.
    pub fn yielding_to(mut self, pending: crate::ingest::Pending) -> Router {
        self.ingest_pending = Some(pending);
        self
    }

    /// Waits, at most 20 ms, while webhooks wait for the writer: a provider
    /// is waiting for those answers, nobody waits for a routing decision.
    /// Returns how many replies to route in the next transaction: fewer
    /// while webhooks are arriving, so the writer is never held for long.
    async fn let_ingest_go_first(&self) -> i64 {
        let Some(pending) = self
            .ingest_pending
            .as_ref()
            .filter(|_| self.db.backend() == Backend::Sqlite)
        else {
            return BATCH;
        };
        let waiting = || pending.load(std::sync::atomic::Ordering::Relaxed) > 0;
        if !waiting() {
            return BATCH;
        }
        let deadline = std::time::Instant::now() + Duration::from_millis(20);
        while waiting() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        BATCH_UNDER_LOAD
    }

    /// Wakes the worker; called by ingest after each commit.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Routes every waiting reply; returns how many were routed.
    pub async fn run_once(&self) -> StoreResult<usize> {
        let mut total = 0;
        let mut conflicts = 0;
        loop {
            match self.route_batch().await {
                Ok((n, limit)) => {
                    total += n;
                    if n < usize::try_from(limit).unwrap_or(usize::MAX) {
                        return Ok(total);
                    }
                }
                // Another writer got to one of these contacts first (an open
                // conversation opened, a reply moved to a joined contact):
                // the batch was rolled back; routing it again sees what won.
                Err(StoreError::Conflict(why)) if conflicts < MAX_CONFLICTS => {
                    conflicts += 1;
                    tracing::debug!(%why, conflicts, "routing batch rolled back; routing it again");
                    metrics::counter!("replydesk_routing_conflicts_total").increment(1);
                    tokio::time::sleep(Duration::from_millis(2 * conflicts)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Runs until `stop`, on every wake-up and at least every `tick`.
    pub async fn run(self, stop: CancellationToken, tick: Duration) {
        loop {
            if let Err(error) = self.run_once().await {
                tracing::error!(%error, "router could not route replies; they stay waiting and will be retried");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => {},
                () = tokio::time::sleep(tick) => {},
            }
        }
    }

    /// Routes up to one transaction's worth of replies; returns how many
    /// it routed and how many it could have.
    async fn route_batch(&self) -> StoreResult<(usize, i64)> {
        let limit = self.let_ingest_go_first().await;
        // One batch at a time per desk: on SQLite the replies are claimed
        // outside the write transaction, so two batches must not overlap.
        let _turn = self.turn.lock().await;
        let Some((
            Batch {
                replies,
                canonical,
                sent,
            },
            mut tx,
        )) = self.claim_batch(limit).await?
        else {
            return Ok((0, limit));
        };
        // Read after the claim: a reply is never routed with a clock
        // reading older than its arrival.
        let now = self.clock.now_ms();
        let held = std::time::Instant::now();
        if self.db.backend() == Backend::Postgres {
            lock_contacts(&mut tx, &canonical).await?;
        }
        let mut work = Work::new(self, now);
        work.conversations = self.conversations_for(&mut tx, &canonical, now).await?;
        for reply in &replies {
            let contact = canonical
                .get(&reply.contact_id)
                .cloned()
                .unwrap_or_else(|| reply.contact_id.clone());
            let attributed = attribute(reply, &contact, &sent, self.attribution_ms);
            work.apply(&mut tx, reply, contact, attributed).await?;
        }
        let routed = self
            .announce
            .as_ref()
            .map(|_| routed(&replies, &work.events));
        work.write(&mut tx).await?;
        tx.commit().await?;
        if let (Some(to), Some(routed)) = (&self.announce, routed)
            && !routed.is_empty()
        {
            // Nobody listening (the desk is stopping) loses only auto-replies.
            let _ = to.send(routed);
        }
        // How long routing kept SQLite's one writer (and the webhooks behind it).
        metrics::histogram!("replydesk_routing_hold_seconds").record(held.elapsed().as_secs_f64());
        metrics::counter!("replydesk_replies_routed_total").increment(replies.len() as u64);
        Ok((replies.len(), limit))
    }

    /// Takes the next replies to route, with what routing them needs to
    /// know and never changes: which contact each threads under and the
    /// messages they may answer. Returns the open write transaction, or
    /// `None` when nothing waits.
    ///
    /// On SQLite that is read beside the single writer, so webhooks wait
    /// only while routing reads the conversations it will update and
    /// writes. Reading it a moment before the write changes nothing a
    /// later routing run would not also see. On PostgreSQL the replies are
    /// claimed inside the transaction, locked against other instances.
    async fn claim_batch(
        &self,
        limit: i64,
    ) -> StoreResult<Option<(Batch, Transaction<'static, Any>)>> {
        if self.db.backend() == Backend::Sqlite {
            let mut conn = self.db.reader().acquire().await?;
            let Some(batch) = self.read_batch(&mut conn, limit).await? else {
                return Ok(None);
            };
            drop(conn);
            return Ok(Some((batch, self.db.writer().begin().await?)));
        }
        let mut tx = self.db.writer().begin().await?;
        match self.read_batch(&mut tx, limit).await? {
            Some(batch) => Ok(Some((batch, tx))),
            None => {
                tx.rollback().await?;
                Ok(None)
            }
        }
    }

    /// The oldest unrouted replies, the contacts they thread under and the
    /// messages they may answer; `None` when nothing waits.
    async fn read_batch(&self, conn: &mut AnyConnection, limit: i64) -> StoreResult<Option<Batch>> {
        let replies = claim(conn, self.db.backend(), limit).await?;
        if replies.is_empty() {
            return Ok(None);
        }
        let canonical = canonical_contacts(conn, &replies).await?;
        let sent = self.outbound_for(conn, &replies, &canonical).await?;
        Ok(Some(Batch {
            replies,
            canonical,
            sent,
        }))
    }

    /// Registered outbound messages the batch's replies may answer.
    async fn outbound_for(
        &self,
        conn: &mut AnyConnection,
        replies: &[Reply],
        canonical: &HashMap<String, String>,
    ) -> StoreResult<Vec<Sent>> {
        let mut contacts: Vec<&str> = replies.iter().map(|r| r.contact_id.as_str()).collect();
        contacts.extend(canonical.values().map(String::as_str));
        contacts.sort_unstable();
        contacts.dedup();
        let quoted: Vec<&str> = replies
            .iter()
            .filter_map(|r| r.context_id.as_deref())
            .collect();
        let earliest =
            replies.iter().map(|r| r.occurred_at).min().unwrap_or(0) - self.attribution_ms;
        let mut sql = format!(
            "SELECT message_id, contact_id, journey, sent_at FROM outbound_messages \
             WHERE (contact_id IN ({}) AND sent_at >= ${})",
            placeholders(1, contacts.len()),
            contacts.len() + 1
        );
        if !quoted.is_empty() {
            sql.push_str(&format!(
                " OR message_id IN ({})",
                placeholders(contacts.len() + 2, quoted.len())
            ));
        }
        let mut q = sqlx::query(&sql);
        for c in &contacts {
            q = q.bind(*c);
        }
        q = q.bind(earliest);
        for m in &quoted {
            q = q.bind(*m);
        }
        let rows = q.fetch_all(&mut *conn).await?;
        rows.iter()
            .map(|r| {
                Ok(Sent {
                    message_id: r.try_get(0)?,
                    contact_id: r.try_get(1)?,
                    journey: r.try_get(2)?,
                    sent_at: r.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Open conversations, and recently finished ones that a reply may reopen.
    async fn conversations_for(
        &self,
        tx: &mut Transaction<'static, Any>,
        canonical: &HashMap<String, String>,
        now: Millis,
    ) -> StoreResult<HashMap<(String, String), Conversation>> {
        let mut contacts: Vec<&str> = canonical.values().map(String::as_str).collect();
        contacts.sort_unstable();
        contacts.dedup();
        let sql = format!(
            "SELECT id, contact_id, channel, status, category, team, assignee, journey, outbound_id, lang, last_text, \
                    message_count, opened_at, last_inbound_at, resolved_at, resolution \
             FROM conversations WHERE contact_id IN ({}) AND (status = 'open' OR updated_at >= ${}) \
             ORDER BY opened_at",
            placeholders(1, contacts.len()),
            contacts.len() + 1
        );
        let mut q = sqlx::query(&sql);
        for c in &contacts {
            q = q.bind(*c);
        }
        let rows = q.bind(now - self.reopen_ms).fetch_all(&mut **tx).await?;
        let mut out: HashMap<(String, String), Conversation> = HashMap::new();
        for r in rows {
            let category: String = r.try_get("category")?;
            let mut c = Conversation {
                id: r.try_get("id")?,
                contact_id: r.try_get("contact_id")?,
                channel: r.try_get("channel")?,
                status: r.try_get("status")?,
                category: Category::parse(&category).unwrap_or(Category::Service),
                team: r.try_get("team")?,
                assignee: r.try_get("assignee")?,
                journey: r.try_get("journey")?,
                outbound_id: r.try_get("outbound_id")?,
                lang: r.try_get("lang")?,
                last_text: r.try_get("last_text")?,
                message_count: r.try_get("message_count")?,
                opened_at: r.try_get("opened_at")?,
                last_inbound_at: r.try_get("last_inbound_at")?,
                resolved_at: r.try_get("resolved_at")?,
                resolution: r.try_get("resolution")?,
                new_clock: None,
                is_new: false,
                dirty: false,
                loaded: None,
            };
            c.loaded = Some(c.placement());
            // An open conversation wins over a finished one; else the latest.
            let key = (c.contact_id.clone(), c.channel.clone());
            let keep_existing = out
                .get(&key)
                .is_some_and(|old| old.status == "open" && c.status != "open");
            if !keep_existing {
                out.insert(key, c);
            }
        }
        Ok(out)
    }
}

/// On PostgreSQL, takes a lock per contact of the batch for the rest of the
/// transaction, always in the same order, so that two instances routing
/// replies of one contact take turns: the second reads the conversation the
/// first opened instead of opening another beside it. (The unique index on
/// open conversations refuses the second anyway; this spares the rollback.)
/// What each routed reply became, for those who act on it after the commit.
fn routed(
    replies: &[Reply],
    events: &[(i64, String, Option<String>, String)],
) -> Vec<crate::replies::auto::Routed> {
    let by_id: HashMap<i64, &Reply> = replies.iter().map(|r| (r.id, r)).collect();
    events
        .iter()
        .filter_map(|(id, conversation, _, _)| {
            let r = by_id.get(id)?;
            Some(crate::replies::auto::Routed {
                event_id: *id,
                conversation_id: conversation.clone(),
                category: r.category,
                lang: r.lang.clone(),
                body: r.body.clone(),
                occurred_at: r.occurred_at,
            })
        })
        .collect()
}

async fn lock_contacts(
    tx: &mut Transaction<'static, Any>,
    canonical: &HashMap<String, String>,
) -> StoreResult<()> {
    let mut contacts: Vec<&str> = canonical.values().map(String::as_str).collect();
    contacts.sort_unstable();
    contacts.dedup();
    let rows: Vec<String> = (1..=contacts.len()).map(|i| format!("(${i})")).collect();
    // The sorted subquery fixes the order in which the locks are taken.
    let sql = format!(
        "SELECT COUNT(pg_advisory_xact_lock(k)) FROM \
           (SELECT hashtextextended(v, 0) AS k FROM (VALUES {}) AS t(v) ORDER BY k OFFSET 0) AS sorted",
        rows.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for c in &contacts {
        q = q.bind(*c);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Takes the oldest unrouted replies. On PostgreSQL the rows are locked and
/// skipped by other instances; on SQLite, where one desk owns the file, the
/// router's turn is the lock.
async fn claim(conn: &mut AnyConnection, backend: Backend, limit: i64) -> StoreResult<Vec<Reply>> {
    let lock = match backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT id, contact_id, channel, occurred_at, category, lang, body, msg_type, context_id \
         FROM events WHERE routed_at IS NULL ORDER BY id LIMIT {limit} {lock}"
    );
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let category: Option<String> = r.try_get("category")?;
        out.push(Reply {
            id: r.try_get("id")?,
            contact_id: r
                .try_get::<Option<String>, _>("contact_id")?
                .unwrap_or_default(),
            channel: r.try_get("channel")?,
            occurred_at: r.try_get("occurred_at")?,
            category: category
                .as_deref()
                .and_then(Category::parse)
                .unwrap_or(Category::Service),
            lang: r.try_get("lang")?,
            body: r.try_get("body")?,
            msg_type: r.try_get("msg_type")?,
            context_id: r.try_get("context_id")?,
        });
    }
    Ok(out)
}

/// Maps each contact known only by its WhatsApp user id to the contact with
/// a phone number that shares it, so both thread into one conversation.
async fn canonical_contacts(
    conn: &mut AnyConnection,
    replies: &[Reply],
) -> StoreResult<HashMap<String, String>> {
    let mut ids: Vec<&str> = replies.iter().map(|r| r.contact_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let sql = format!(
        "SELECT c.id, p.id FROM contacts c LEFT JOIN contacts p \
           ON p.wa_user_id = c.wa_user_id AND p.phone IS NOT NULL AND c.phone IS NULL \
         WHERE c.id IN ({})",
        placeholders(1, ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(*id);
    }
    let mut out: HashMap<String, String> = ids
        .iter()
        .map(|i| ((*i).to_string(), (*i).to_string()))
        .collect();
    for r in q.fetch_all(&mut *conn).await? {
        let id: String = r.try_get(0)?;
        if let Some(phone_contact) = r.try_get::<Option<String>, _>(1)? {
            out.insert(id, phone_contact);
        }
    }
    Ok(out)
}

/// The registered message a reply answers: the one it quotes, else the
/// latest one sent to the contact within the window before it.
fn attribute<'a>(
    reply: &Reply,
    contact: &str,
    sent: &'a [Sent],
    window: Millis,
) -> Option<&'a Sent> {
    if let Some(quoted) = reply
        .context_id
        .as_deref()
        .and_then(|c| sent.iter().find(|s| s.message_id == c))
    {
        return Some(quoted);
    }
    sent.iter()
        .filter(|s| {
            (s.contact_id == contact || s.contact_id == reply.contact_id)
                && s.sent_at <= reply.occurred_at
                && reply.occurred_at - s.sent_at <= window
        })
        .max_by_key(|s| s.sent_at)
}

fn first_line(text: Option<&str>, msg_type: Option<&str>) -> Option<String> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(
            t.lines()
                .next()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect(),
        ),
        None => msg_type.map(|t| format!("[{t}]")),
    }
}

/// One batch's changes, applied in memory and written at the end.
struct Work<'r> {
    router: &'r Router,
    now: Millis,
    conversations: HashMap<(String, String), Conversation>,
    logs: Vec<LogRow>,
    /// (event id, conversation id, outbound id, the contact it was claimed under)
    events: Vec<(i64, String, Option<String>, String)>,
    loads: HashMap<String, (Vec<AgentLoad>, Option<String>)>,
}

impl<'r> Work<'r> {
    fn new(router: &'r Router, now: Millis) -> Work<'r> {
        Work {
            router,
            now,
            conversations: HashMap::new(),
            logs: Vec::new(),
            events: Vec::new(),
            loads: HashMap::new(),
        }
    }

    fn log(&mut self, conversation_id: &str, kind: &'static str, detail: Value) {
        self.logs.push(LogRow {
            conversation_id: conversation_id.to_string(),
            kind,
            detail,
        });
    }

    async fn apply(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        reply: &Reply,
        contact: String,
        sent: Option<&Sent>,
    ) -> StoreResult<()> {
        let key = (contact.clone(), reply.channel.clone());
        let existing = self.conversations.get(&key).map(|c| c.status.clone());
        let category = reply.category;
        let conversation_id = match existing.as_deref() {
            Some("open") => self.thread(&key, reply),
            Some(_) if !matches!(category, Category::Noise | Category::OptOut) => {
                let id = self.thread(&key, reply);
                self.reopen(tx, &key, reply).await?;
                id
            }
            Some(_) => self.thread(&key, reply),
            None => self.open(tx, key.clone(), reply, sent).await?,
        };
        if category == Category::OptOut {
            self.system_handles_opt_out(&key);
        }
        self.events.push((
            reply.id,
            conversation_id,
            sent.map(|s| s.message_id.clone()),
            reply.contact_id.clone(),
        ));
        Ok(())
    }

    /// Adds the reply to the conversation; returns its id.
    fn thread(&mut self, key: &(String, String), reply: &Reply) -> String {
        let Some(c) = self.conversations.get_mut(key) else {
            return String::new();
        };
        let before = c.category;
        c.category = combined(c.category, reply.category);
        c.message_count += 1;
        c.last_inbound_at = c.last_inbound_at.max(reply.occurred_at);
        c.last_text =
            first_line(reply.body.as_deref(), reply.msg_type.as_deref()).or(c.last_text.take());
        c.lang = reply.lang.clone().or(c.lang.take());
        c.dirty = true;
        let (id, after) = (c.id.clone(), c.category);
        if before != after {
            self.log(
                &id,
                "recategorized",
                json!({ "from": before, "to": after, "event": reply.id }),
            );
        }
        id
    }

    async fn reopen(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        key: &(String, String),
        reply: &Reply,
    ) -> StoreResult<()> {
        let Some(c) = self.conversations.get_mut(key) else {
            return Ok(());
        };
        let was = c.status.clone();
        c.status = "open".into();
        c.category = reply.category;
        c.resolved_at = None;
        c.resolution = None;
        let id = c.id.clone();
        let needs_team = c.team.is_none();
        self.log(&id, "reopened", json!({ "was": was, "reason": "a new reply arrived within the reopen window", "event": reply.id }));
        if needs_team {
            self.route_and_assign(tx, key, reply).await?;
        } else if let Some(c) = self.conversations.get_mut(key) {
            c.new_clock = Some(schedule(
                &self.router.config,
                &self.router.calendars,
                c.team.as_deref(),
                c.category,
                Target::FirstResponse,
                reply.occurred_at,
            ));
        }
        Ok(())
    }

    async fn open(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        key: (String, String),
        reply: &Reply,
        sent: Option<&Sent>,
    ) -> StoreResult<String> {
        let id = uuid::Uuid::now_v7().to_string();
        let quiet = matches!(reply.category, Category::Noise | Category::OptOut);
        let c = Conversation {
            id: id.clone(),
            contact_id: key.0.clone(),
            channel: key.1.clone(),
            status: if quiet {
                "closed".into()
            } else {
                "open".into()
            },
            category: reply.category,
            team: None,
            assignee: None,
            journey: sent.and_then(|s| s.journey.clone()),
            outbound_id: sent.map(|s| s.message_id.clone()),
            lang: reply.lang.clone(),
            last_text: first_line(reply.body.as_deref(), reply.msg_type.as_deref()),
            message_count: 1,
            opened_at: reply.occurred_at,
            last_inbound_at: reply.occurred_at,
            resolved_at: quiet.then_some(self.now),
            resolution: (reply.category == Category::Noise).then(|| "noise".to_string()),
            new_clock: None,
            is_new: true,
            dirty: true,
            loaded: None,
        };
        self.conversations.insert(key.clone(), c);
        self.log(&id, "opened", json!({ "event": reply.id, "category": reply.category, "journey": sent.and_then(|s| s.journey.clone()) }));
        if reply.category == Category::Noise {
            self.log(
                &id,
                "auto_closed",
                json!({ "reason": "noise closes itself; reopen it if it needs a person" }),
            );
        } else if reply.category != Category::OptOut {
            self.route_and_assign(tx, &key, reply).await?;
        }
        Ok(id)
    }

    /// Opt-outs are applied by the preferences ledger at ingest; the
    /// conversation is closed by the system and the fact logged.
    fn system_handles_opt_out(&mut self, key: &(String, String)) {
        let now = self.now;
        let Some(c) = self.conversations.get_mut(key) else {
            return;
        };
        if c.status == "closed" && c.resolution.as_deref() == Some("opted_out") {
            return;
        }
        c.status = "closed".into();
        c.resolution = Some("opted_out".into());
        c.resolved_at = Some(now);
        c.dirty = true;
        let id = c.id.clone();
        self.log(&id, "system_handled", json!({ "reason": "the customer opted out; suppression was applied when the reply arrived" }));
    }

    async fn route_and_assign(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        key: &(String, String),
        reply: &Reply,
    ) -> StoreResult<()> {
        let config = self.router.config.clone();
        let Some(c) = self.conversations.get(key) else {
            return Ok(());
        };
        let decision = route(
            &config,
            RouteInput {
                category: c.category,
                channel: &c.channel,
                lang: reply.lang.as_deref(),
                journey: c.journey.as_deref(),
            },
        );
        let id = c.id.clone();
        self.log(
            &id,
            "routed",
            json!({ "team": decision.team, "reason": decision.reason }),
        );
        if decision.team.is_none() {
            metrics::counter!("replydesk_replies_unrouted_total").increment(1);
        }
        let assignee = match decision.team.as_deref().and_then(|t| config.team(t)) {
            Some(team) => {
                let team = team.clone();
                self.ensure_loads(tx, &team).await?;
                let (loads, last) = self.loads.get(&team.name).cloned().unwrap_or_default();
                let pick = next_agent(&team, &loads, last.as_deref());
                if let Some(agent) = &pick {
                    if let Some((loads, last)) = self.loads.get_mut(&team.name) {
                        match loads.iter_mut().find(|l| &l.email == agent) {
                            Some(l) => l.open += 1,
                            None => loads.push(AgentLoad {
                                email: agent.clone(),
                                open: 1,
                                away: false,
                            }),
                        }
                        *last = Some(agent.clone());
                    }
                    self.log(&id, "assigned", json!({ "to": agent, "by": "round_robin" }));
                } else if team.assignment == crate::config::Assignment::RoundRobin {
                    self.log(&id, "unassigned", json!({ "reason": "every agent is away or at capacity; waiting in the team queue" }));
                }
                pick
            }
            None => None,
        };
        if let Some(c) = self.conversations.get_mut(key) {
            c.new_clock = Some(schedule(
                &config,
                &self.router.calendars,
                decision.team.as_deref(),
                c.category,
                Target::FirstResponse,
                reply.occurred_at.max(c.opened_at),
            ));
            c.team = decision.team;
            c.assignee = assignee;
            c.dirty = true;
        }
        Ok(())
    }

    /// Loads the team's agents' open counts, away flags and round-robin cursor once per batch.
    async fn ensure_loads(
        &mut self,
        tx: &mut Transaction<'static, Any>,
        team: &crate::config::TeamConfig,
    ) -> StoreResult<()> {
        if self.loads.contains_key(&team.name) {
            return Ok(());
        }
        let mut loads: Vec<AgentLoad> = Vec::new();
        // Only members can be picked, so only theirs are counted, through
        // the assignee index: a team's queue may be long, a member's share is short.
        if !team.members.is_empty() {
            let n = team.members.len();
            let sql = format!(
                "SELECT assignee, COUNT(*) FROM conversations \
                 WHERE assignee IN ({}) AND status = 'open' AND team = ${} GROUP BY assignee",
                placeholders(1, n),
                n + 1
            );
            let mut q = sqlx::query(&sql);
            for member in &team.members {
                q = q.bind(member);
            }
            for r in q.bind(&team.name).fetch_all(&mut **tx).await? {
                let open: i64 = r.try_get(1)?;
                loads.push(AgentLoad {
                    email: r.try_get(0)?,
                    open: u32::try_from(open).unwrap_or(u32::MAX),
                    away: false,
                });
            }
        }
        let away: Vec<String> =
            sqlx::query_scalar("SELECT email FROM agent_presence WHERE away = 1")
                .fetch_all(&mut **tx)
                .await?;
        for email in away {
            match loads.iter_mut().find(|l| l.email == email) {
                Some(l) => l.away = true,
                None => loads.push(AgentLoad {
                    email,
                    open: 0,
                    away: true,
                }),
            }
        }
        let last: Option<String> =
            sqlx::query_scalar("SELECT last_assignee FROM team_cursor WHERE team = $1")
                .bind(&team.name)
                .fetch_optional(&mut **tx)
                .await?
                .flatten();
        self.loads.insert(team.name.clone(), (loads, last));
        Ok(())
    }

    /// Writes the batch with a handful of multi-row statements, whatever its size.
    async fn write(self, tx: &mut Transaction<'static, Any>) -> StoreResult<()> {
        let backend = self.router.db.backend();
        let now = self.now;
        let dirty: Vec<&Conversation> = self.conversations.values().filter(|c| c.dirty).collect();
        let (new, old): (Vec<&Conversation>, Vec<&Conversation>) =
            dirty.into_iter().partition(|c| c.is_new);
        let (threaded, moved): (Vec<&Conversation>, Vec<&Conversation>) =
            old.into_iter().partition(|c| c.only_threaded());
        insert_conversations(tx, backend, &new, now).await?;
        update_conversations(tx, backend, &moved, now).await?;
        update_threaded(tx, backend, &threaded, now).await?;
        insert_logs(tx, backend, &self.logs, now).await?;
        for (team, (_, last)) in &self.loads {
            if let Some(last) = last {
                sqlx::query("INSERT INTO team_cursor (team, last_assignee) VALUES ($1, $2) ON CONFLICT (team) DO UPDATE SET last_assignee = excluded.last_assignee")
                    .bind(team).bind(last).execute(&mut **tx).await?;
            }
        }
        mark_routed(tx, backend, &self.events, now).await
    }
}

/// sla_target, at_risk_at, due_at, level2_at, next_check_at.
type ClockColumns = (
    Option<&'static str>,
    Option<Millis>,
    Option<Millis>,
    Option<Millis>,
    Option<Millis>,
);

/// The clock columns a conversation is written with: a new clock, none for
/// a conversation that is not open, else `None` to leave them as they are.
fn clock_columns(c: &Conversation) -> Option<ClockColumns> {
    if c.status != "open" {
        return Some((None, None, None, None, None));
    }
    c.new_clock.map(|k| {
        (
            Some(k.target.as_str()),
            Some(k.at_risk_at),
            Some(k.due_at),
            Some(k.level2_at),
            k.next_check(None),
        )
    })
}

const CONV_COLS: usize = 22;

fn bind_conversation<'q>(
    q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    c: &'q Conversation,
    now: Millis,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    let clock = clock_columns(c);
    let (target, at_risk, due, level2, next) = clock.unwrap_or_default();
    q.bind(&c.id)
        .bind(&c.contact_id)
        .bind(&c.channel)
        .bind(&c.status)
        .bind(c.category.as_str())
        .bind(&c.team)
        .bind(&c.assignee)
        .bind(&c.journey)
        .bind(&c.outbound_id)
        .bind(&c.lang)
        .bind(&c.last_text)
        .bind(c.message_count)
        .bind(c.opened_at)
        .bind(c.last_inbound_at)
        .bind(c.resolved_at)
        .bind(&c.resolution)
        .bind(now)
        .bind(i64::from(clock.is_some()))
        .bind(target)
        .bind(at_risk)
        .bind(due)
        .bind(level2)
        .bind(next)
}

async fn insert_conversations(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    rows: &[&Conversation],
    now: Millis,
) -> StoreResult<()> {
    for chunk in fixed_chunks(rows) {
        // The set-clock flag (column 18) only matters for updates; inserts take the clock as given.
        let sql = format!(
            "INSERT{} INTO conversations (id, contact_id, channel, status, category, team, assignee, journey, outbound_id, lang, \
               last_text, message_count, opened_at, last_inbound_at, resolved_at, resolution, updated_at, \
               sla_target, at_risk_at, due_at, level2_at, next_check_at) \
             SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9, column10, column11, \
                    column12, column13, column14, column15, column16, column17, column19, column20, column21, column22, column23 \
             FROM (VALUES {}) AS v",
            or_fail(backend),
            values_rows(backend, chunk.len(), CONV_COLS + 1)
        );
        let mut q = sqlx::query(&sql);
        for c in chunk {
            q = bind_conversation(q, c, now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn update_conversations(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    rows: &[&Conversation],
    now: Millis,
) -> StoreResult<()> {
    for chunk in fixed_chunks(rows) {
        let sql = format!(
            "UPDATE{} conversations SET contact_id = v.column2, channel = v.column3, status = v.column4, category = v.column5, \
               team = v.column6, assignee = v.column7, journey = v.column8, outbound_id = v.column9, lang = v.column10, \
               last_text = v.column11, message_count = v.column12, opened_at = v.column13, last_inbound_at = v.column14, \
               resolved_at = v.column15, resolution = v.column16, updated_at = v.column17, \
               sla_target = CASE WHEN v.column18 = 1 THEN v.column19 ELSE conversations.sla_target END, \
               at_risk_at = CASE WHEN v.column18 = 1 THEN v.column20 ELSE conversations.at_risk_at END, \
               due_at = CASE WHEN v.column18 = 1 THEN v.column21 ELSE conversations.due_at END, \
               level2_at = CASE WHEN v.column18 = 1 THEN v.column22 ELSE conversations.level2_at END, \
               next_check_at = CASE WHEN v.column18 = 1 THEN v.column23 ELSE conversations.next_check_at END \
             FROM (VALUES {}) AS v WHERE conversations.id = v.column1",
            or_fail(backend),
            values_rows(backend, chunk.len(), CONV_COLS + 1)
        );
        let mut q = sqlx::query(&sql);
        for c in chunk {
            q = bind_conversation(q, c, now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Writes what threading replies changes, and nothing an index covers but `updated_at`.
async fn update_threaded(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    rows: &[&Conversation],
    now: Millis,
) -> StoreResult<()> {
    for chunk in fixed_chunks(rows) {
        let sql = format!(
            "UPDATE{} conversations SET category = v.column2, lang = v.column3, last_text = v.column4, \
               message_count = v.column5, last_inbound_at = v.column6, updated_at = v.column7 \
             FROM (VALUES {}) AS v WHERE conversations.id = v.column1",
            or_fail(backend),
            values_rows(backend, chunk.len(), 7)
        );
        let mut q = sqlx::query(&sql);
        for c in chunk {
            q = q
                .bind(&c.id)
                .bind(c.category.as_str())
                .bind(&c.lang)
                .bind(&c.last_text)
                .bind(c.message_count)
                .bind(c.last_inbound_at)
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_logs(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    logs: &[LogRow],
    now: Millis,
) -> StoreResult<()> {
    for chunk in fixed_chunks(logs) {
        let sql = format!(
            "INSERT{} INTO conversation_log (id, conversation_id, at, actor, kind, detail) VALUES {}",
            or_fail(backend),
            values_rows(backend, chunk.len(), 6)
        );
        let mut q = sqlx::query(&sql);
        for log in chunk {
            q = q
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(&log.conversation_id)
                .bind(now)
                .bind("system")
                .bind(log.kind)
                .bind(log.detail.to_string());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Marks the batch routed: one multi-row statement per chunk. A reply
/// already routed means another router took the same batch; the whole
/// batch is then rolled back rather than threaded twice.
async fn mark_routed(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    events: &[(i64, String, Option<String>, String)],
    now: Millis,
) -> StoreResult<()> {
    for chunk in fixed_chunks(events) {
        let sql = format!(
            "UPDATE{} events SET routed_at = v.column2, conversation_id = v.column3, outbound_id = v.column4 \
             FROM (VALUES {}) AS v WHERE events.id = v.column1 AND events.routed_at IS NULL \
               AND events.contact_id IS NOT DISTINCT FROM v.column5",
            or_fail(backend),
            values_rows(backend, chunk.len(), 5)
        );
        let mut q = sqlx::query(&sql);
        for (id, conversation, outbound, contact) in chunk {
            q = q
                .bind(*id)
                .bind(now)
                .bind(conversation)
                .bind(outbound)
                .bind((!contact.is_empty()).then_some(contact));
        }
        let marked = q.execute(&mut **tx).await?.rows_affected();
        if marked != chunk.len() as u64 {
            return Err(StoreError::Conflict(format!(
                "{} of {} replies were routed by another router, or moved to a joined contact, meanwhile; the batch was rolled back and will be retried",
                chunk.len() as u64 - marked,
                chunk.len()
            )));
        }
    }
    Ok(())
}
