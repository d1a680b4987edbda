//! Report facts: one row per registered send (what became of it) and per
//! conversation (who handled it, how fast, whether its SLA broke), and their
//! rollups per UTC day. Reports read only the rollups.
//!
//! [`refresh`] finds what changed since it last looked, from marks it keeps
//! per source (new sends, statuses, attributed replies, conversions,
//! fallback notices, conversations, SLA events), recomputes the facts of the
//! sends and conversations concerned from the source tables, and recomputes
//! the rollups of the days they fall on, all in one transaction.
//!
//! A writer takes its timestamp before it commits, so a row can become
//! visible after a later one. A time mark therefore only moves up to a
//! margin before now: rows of the last minute are looked at again by the
//! next refreshes (redoing a fact is harmless), and none is missed unless
//! its commit took longer than the margin. Event ids are handed out in
//! commit order on SQLite (one writer); on PostgreSQL the status mark lags
//! one refresh behind for the same reason. When nothing has been built yet,
//! [`refresh`] runs [`rebuild`].

use sqlx::{AnyConnection, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::ReportsError;
use super::counts::Counts;
use super::period::day_of;
use crate::clock::Millis;
use crate::config::Config;
use crate::model::{Category, Provider};
use crate::preferences::status_codes::{StatusCodes, StatusEffect};
use crate::store::{Backend, Db, StoreError, fixed_chunks, placeholders, values_rows};

/// How long a row may take from its timestamp to its commit.
const TIME_MARGIN: Millis = 60_000;
/// SLA events carry the instant of the transition, which the SLA worker
/// records on its next tick, not at once: look back further for them.
const SLA_MARGIN: Millis = 300_000;
/// Ids per `IN (…)` query.
const BATCH: usize = 500;
/// Sends or conversations per rebuild transaction.
const REBUILD_PAGE: i64 = 5_000;

/// First-response-time histogram bounds, in minutes. A percentile is
/// reported as the bound of the bucket it falls in: exact to the minute
/// under ten minutes, to the quarter hour under two hours, and so on.
pub const BUCKET_MINUTES: [i64; 36] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 30, 45, 60, 75, 90, 105, 120, 180, 240, 300, 360, 480,
    600, 720, 960, 1440, 2160, 2880, 4320, 5760, 7200, 10080, 20160, 43200,
];

/// The bucket a first-response time falls in; past the last bound, `BUCKET_MINUTES.len()`.
pub fn bucket_of(ms: Millis) -> i64 {
    let i = BUCKET_MINUTES
        .iter()
        .position(|m| ms <= m * 60_000)
        .unwrap_or(BUCKET_MINUTES.len());
    i64::try_from(i).unwrap_or(0)
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refreshed {
    pub sends: usize,
    pub conversations: usize,
    pub days: usize,
    pub rebuilt: bool,
}

/// What refreshing needs besides the database.
pub(crate) struct Ctx<'a> {
    pub codes: &'a StatusCodes,
    pub currency: &'a str,
}

/// Brings the facts and rollups up to date with everything committed.
pub async fn refresh(
    db: &Db,
    config: &Config,
    codes: &StatusCodes,
    now: Millis,
) -> Result<Refreshed, ReportsError> {
    let ctx = Ctx {
        codes,
        currency: &config.reports.currency,
    };
    let built: Option<i64> =
        sqlx::query_scalar("SELECT mark FROM report_marks WHERE source = 'built'")
            .fetch_optional(db.reader())
            .await
            .map_err(StoreError::from)?;
    if built.is_none() {
        return rebuild(db, config, codes, now, |_, _| {}).await;
    }
    let mut tx = db.writer().begin().await.map_err(StoreError::from)?;
    lock(&mut tx, now).await?;
    let marks = read_marks(&mut tx).await?;
    let changed = changes(&mut tx, &marks, db.backend(), now).await?;
    let mut days = BTreeSet::new();
    let sends: Vec<String> = changed.sends.into_iter().collect();
    for chunk in sends.chunks(BATCH) {
        let facts = send_facts(&mut tx, chunk, &ctx).await?;
        days.extend(facts.iter().map(|f| f.day));
        write_send_facts(&mut tx, db.backend(), &facts).await?;
    }
    let mut conv_days = BTreeSet::new();
    let conversations: Vec<String> = changed.conversations.into_iter().collect();
    for chunk in conversations.chunks(BATCH) {
        let facts = conversation_facts(&mut tx, chunk).await?;
        conv_days.extend(facts.iter().map(|f| f.day));
        write_conversation_facts(&mut tx, db.backend(), &facts).await?;
    }
    for day in &days {
        rollup_sends(&mut tx, Some(*day)).await?;
    }
    for day in &conv_days {
        rollup_conversations(&mut tx, Some(*day)).await?;
    }
    write_marks(&mut tx, &changed.marks, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Refreshed {
        sends: sends.len(),
        conversations: conversations.len(),
        days: days.len() + conv_days.len(),
        rebuilt: false,
    })
}

/// Recomputes every fact and rollup from the source tables, a page per
/// transaction so ingest keeps its turn at the SQLite writer. `progress`
/// gets (done, total) rows. Changes made meanwhile are picked up by the
/// next [`refresh`]: the marks are taken before the rebuild starts.
pub async fn rebuild(
    db: &Db,
    config: &Config,
    codes: &StatusCodes,
    now: Millis,
    mut progress: impl FnMut(u64, u64),
) -> Result<Refreshed, ReportsError> {
    let ctx = Ctx {
        codes,
        currency: &config.reports.currency,
    };
    let marks = current_marks(db, now).await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM outbound_messages) + (SELECT COUNT(*) FROM conversations)",
    )
    .fetch_one(db.reader())
    .await
    .map_err(StoreError::from)?;
    let total = u64::try_from(total).unwrap_or(0);
    let mut done = 0u64;
    let mut result = Refreshed {
        rebuilt: true,
        ..Refreshed::default()
    };
    for table in [Table::Sends, Table::Conversations] {
        let mut after = String::new();
        loop {
            let ids = page_ids(db, table, &after).await?;
            let Some(last) = ids.last() else { break };
            after.clone_from(last);
            let mut tx = db.writer().begin().await.map_err(StoreError::from)?;
            for chunk in ids.chunks(BATCH) {
                match table {
                    Table::Sends => {
                        let facts = send_facts(&mut tx, chunk, &ctx).await?;
                        write_send_facts(&mut tx, db.backend(), &facts).await?;
                    }
                    Table::Conversations => {
                        let facts = conversation_facts(&mut tx, chunk).await?;
                        write_conversation_facts(&mut tx, db.backend(), &facts).await?;
                    }
                }
            }
            tx.commit().await.map_err(StoreError::from)?;
            match table {
                Table::Sends => result.sends += ids.len(),
                Table::Conversations => result.conversations += ids.len(),
            }
            done += ids.len() as u64;
            progress(done, total);
        }
    }
    let mut tx = db.writer().begin().await.map_err(StoreError::from)?;
    lock(&mut tx, now).await?;
    rollup_sends(&mut tx, None).await?;
    rollup_conversations(&mut tx, None).await?;
    result.days = usize::try_from(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(DISTINCT day) FROM report_daily")
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?,
    )
    .unwrap_or(0);
    let mut marks = marks;
    marks.insert("built".into(), now);
    write_marks(&mut tx, &marks, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(result)
}

#[derive(Clone, Copy)]
enum Table {
    Sends,
    Conversations,
}

async fn page_ids(db: &Db, table: Table, after: &str) -> Result<Vec<String>, StoreError> {
    let sql = match table {
        Table::Sends => {
            "SELECT message_id FROM outbound_messages WHERE message_id > $1 ORDER BY message_id LIMIT $2"
        }
        Table::Conversations => "SELECT id FROM conversations WHERE id > $1 ORDER BY id LIMIT $2",
    };
    Ok(sqlx::query_scalar(sql)
        .bind(after)
        .bind(REBUILD_PAGE)
        .fetch_all(db.reader())
        .await?)
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Serializes refreshes: on PostgreSQL the row lock holds other instances
/// until this transaction ends; on SQLite the one writer already does.
async fn lock(tx: &mut Tx, now: Millis) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE report_marks SET mark = $1 WHERE source = 'lock'")
        .bind(now)
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() == 0 {
        sqlx::query("INSERT INTO report_marks (source, mark) VALUES ('lock', $1) ON CONFLICT (source) DO NOTHING")
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

type Marks = BTreeMap<String, i64>;

async fn read_marks(tx: &mut Tx) -> Result<Marks, StoreError> {
    let rows = sqlx::query("SELECT source, mark FROM report_marks")
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

async fn write_marks(tx: &mut Tx, marks: &Marks, now: Millis) -> Result<(), StoreError> {
    let mut all = marks.clone();
    all.insert("refreshed_at".into(), now);
    for (source, mark) in &all {
        sqlx::query(
            "INSERT INTO report_marks (source, mark) VALUES ($1, $2) \
             ON CONFLICT (source) DO UPDATE SET mark = excluded.mark",
        )
        .bind(source)
        .bind(mark)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The sources' current high marks, taken before a rebuild, held back by
/// the margins like a refresh's.
async fn current_marks(db: &Db, now: Millis) -> Result<Marks, StoreError> {
    let mut marks = Marks::new();
    for (source, sql) in SOURCES {
        let max: Option<i64> = sqlx::query_scalar(&format!("SELECT MAX({sql}"))
            .fetch_one(db.reader())
            .await?;
        let max = max.unwrap_or(0);
        let mark = match *source {
            "statuses" => max,
            "sla" => max.min(now - SLA_MARGIN),
            _ => max.min(now - TIME_MARGIN),
        };
        marks.insert((*source).to_string(), mark);
    }
    Ok(marks)
}

/// Each source's mark, as `MAX(` completes it.
const SOURCES: &[(&str, &str)] = &[
    ("sends", "registered_at) FROM outbound_messages"),
    ("statuses", "id) FROM events"),
    (
        "replies",
        "routed_at) FROM events WHERE kind = 'message' AND direction = 'in' AND routed_at IS NOT NULL",
    ),
    ("conversions", "recorded_at) FROM conversions"),
    (
        "fallback_created",
        "created_at) FROM outbox WHERE kind = 'fallback'",
    ),
    (
        "fallback_sent",
        "sent_at) FROM outbox WHERE kind = 'fallback'",
    ),
    ("conversations", "updated_at) FROM conversations"),
    ("sla", "at) FROM sla_events"),
];

/// What changed since the marks, and the marks to keep afterwards.
struct Changes {
    sends: BTreeSet<String>,
    conversations: BTreeSet<String>,
    marks: Marks,
}

/// Each change query returns (target id, mark value) for rows after `$1`.
const CHANGE_QUERIES: &[(&str, bool, &str)] = &[
    (
        "sends",
        true,
        "SELECT message_id, registered_at FROM outbound_messages WHERE registered_at > $1",
    ),
    (
        "statuses",
        true,
        "SELECT provider_id, id FROM events WHERE id > $1 AND kind = 'status' AND provider_id IS NOT NULL",
    ),
    (
        "replies",
        true,
        "SELECT outbound_id, routed_at FROM events WHERE kind = 'message' AND direction = 'in' \
         AND routed_at > $1 AND outbound_id IS NOT NULL",
    ),
    (
        "conversions",
        true,
        "SELECT message_id, recorded_at FROM conversions WHERE recorded_at > $1 AND message_id IS NOT NULL",
    ),
    (
        "fallback_created",
        true,
        "SELECT SUBSTR(idempotency_key, 10), created_at FROM outbox WHERE kind = 'fallback' AND created_at > $1",
    ),
    (
        "fallback_sent",
        true,
        "SELECT SUBSTR(idempotency_key, 10), sent_at FROM outbox WHERE kind = 'fallback' AND sent_at > $1",
    ),
    (
        "conversations",
        false,
        "SELECT id, updated_at FROM conversations WHERE updated_at > $1",
    ),
    (
        "sla",
        false,
        "SELECT conversation_id, at FROM sla_events WHERE at > $1",
    ),
];

async fn changes(
    tx: &mut Tx,
    marks: &Marks,
    backend: Backend,
    now: Millis,
) -> Result<Changes, StoreError> {
    let mut out = Changes {
        sends: BTreeSet::new(),
        conversations: BTreeSet::new(),
        marks: marks.clone(),
    };
    for (source, is_send, sql) in CHANGE_QUERIES {
        let mark = marks.get(*source).copied().unwrap_or(0);
        let rows = sqlx::query(sql).bind(mark).fetch_all(&mut **tx).await?;
        let mut high = mark;
        for r in rows {
            let id: String = r.try_get(0)?;
            high = high.max(r.try_get::<i64, _>(1)?);
            if *is_send {
                out.sends.insert(id);
            } else {
                out.conversations.insert(id);
            }
        }
        let next = match (*source, backend) {
            ("statuses", Backend::Sqlite) => high,
            ("statuses", Backend::Postgres) => {
                // Next time, start from what this refresh had already seen last time.
                let seen_before = marks.get("statuses_seen").copied().unwrap_or(mark);
                out.marks.insert("statuses_seen".into(), high);
                seen_before.clamp(mark, high)
            }
            ("sla", _) => mark.max(high.min(now - SLA_MARGIN)),
            _ => mark.max(high.min(now - TIME_MARGIN)),
        };
        out.marks.insert((*source).to_string(), next);
    }
    Ok(out)
}

/// One send's facts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SendFacts {
    pub message_id: String,
    pub day: Millis,
    pub sent_at: Millis,
    pub journey: String,
    pub campaign: String,
    pub template: String,
    pub channel: Option<String>,
    pub delivered_at: Option<Millis>,
    pub failed_at: Option<Millis>,
    pub counts: Counts,
    pub value: f64,
}

#[derive(Default)]
struct Outcome {
    channel: Option<String>,
    delivered_at: Option<Millis>,
    read: bool,
    /// (at, provider, code) of the earliest failure.
    failure: Option<(Millis, String, Option<String>)>,
    replies: Vec<Option<String>>,
    conversions: i64,
    value: f64,
    fallback: Option<String>,
}

fn in_list(ids: &[String]) -> String {
    placeholders(1, ids.len())
}

/// Recomputes the facts of these sends from the source tables.
async fn send_facts(
    conn: &mut AnyConnection,
    ids: &[String],
    ctx: &Ctx<'_>,
) -> Result<Vec<SendFacts>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    statuses(conn, ids, &mut outcomes).await?;
    replies(conn, ids, &mut outcomes).await?;
    conversions(conn, ids, ctx.currency, &mut outcomes).await?;
    fallbacks(conn, ids, &mut outcomes).await?;
    let sql = format!(
        "SELECT message_id, sent_at, journey, campaign, template FROM outbound_messages \
         WHERE message_id IN ({})",
        in_list(ids)
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    let mut facts = Vec::with_capacity(ids.len());
    for r in q.fetch_all(&mut *conn).await? {
        let message_id: String = r.try_get(0)?;
        let sent_at: Millis = r.try_get(1)?;
        let text = |i: usize| -> Result<String, sqlx::Error> {
            Ok(r.try_get::<Option<String>, _>(i)?.unwrap_or_default())
        };
        let outcome = outcomes.remove(&message_id).unwrap_or_default();
        facts.push(SendFacts {
            day: day_of(sent_at),
            sent_at,
            journey: text(2)?,
            campaign: text(3)?,
            template: text(4)?,
            ..facts_of(message_id, &outcome, ctx.codes)
        });
    }
    Ok(facts)
}

/// Folds a send's statuses, replies, conversions and fallback into its counters.
fn facts_of(message_id: String, o: &Outcome, codes: &StatusCodes) -> SendFacts {
    let mut c = Counts {
        sent: 1,
        ..Counts::default()
    };
    let delivered = o.delivered_at.is_some();
    c.delivered = i64::from(delivered);
    c.read = i64::from(o.read);
    let failure = o.failure.as_ref().filter(|_| !delivered);
    if let Some((_, provider, code)) = failure {
        c.failed = 1;
        match failure_class(codes, provider, code.as_deref()) {
            StatusEffect::Unreachable | StatusEffect::Blocked => c.f_unreachable = 1,
            StatusEffect::MarketingOptOut | StatusEffect::OptOut => c.f_opt_out = 1,
            StatusEffect::Content => c.f_content = 1,
            StatusEffect::Window => c.f_window = 1,
            StatusEffect::Transient => c.f_transient = 1,
            StatusEffect::Account => c.f_account = 1,
        }
    }
    for category in &o.replies {
        c.replies += 1;
        match category.as_deref().and_then(Category::parse) {
            Some(Category::OptOut) => c.r_opt_out += 1,
            Some(Category::Interest) => c.r_interest += 1,
            Some(Category::Confusion) => c.r_confusion += 1,
            Some(Category::Noise) => c.r_noise += 1,
            Some(Category::Service) | None => c.r_service += 1,
        }
    }
    let replied = c.replies > 0;
    let converted = o.conversions > 0;
    let reached = delivered || replied;
    c.replied = i64::from(replied);
    c.opted_out = i64::from(c.r_opt_out > 0);
    c.conversions = o.conversions;
    c.converted = i64::from(converted);
    c.reached = i64::from(reached);
    c.reached_converted = i64::from(reached && converted);
    c.replied_converted = i64::from(replied && converted);
    if c.failed == 1 {
        let queued = o.fallback.is_some();
        c.fallback_queued = i64::from(queued);
        c.fallback_delivered = i64::from(o.fallback.as_deref() == Some("sent"));
        c.fallback_converted = i64::from(queued && converted);
        c.failed_no_fallback = i64::from(!queued);
    }
    SendFacts {
        message_id,
        day: 0,
        sent_at: 0,
        journey: String::new(),
        campaign: String::new(),
        template: String::new(),
        channel: o.channel.clone(),
        delivered_at: o.delivered_at,
        failed_at: failure.map(|f| f.0),
        counts: c,
        value: o.value,
    }
}

/// The effect class of a failure: the code's meaning in the status-code
/// file; a failure without a code is treated like an unknown one.
fn failure_class(codes: &StatusCodes, provider: &str, code: Option<&str>) -> StatusEffect {
    match (Provider::parse(provider), code) {
        (Some(p), Some(code)) if !code.is_empty() => codes.lookup(p, code).effect,
        _ => StatusEffect::Transient,
    }
}

async fn statuses(
    conn: &mut AnyConnection,
    ids: &[String],
    out: &mut HashMap<String, Outcome>,
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT provider_id, provider, channel, status, error_code, occurred_at FROM events \
         WHERE provider_id IN ({}) AND kind = 'status'",
        in_list(ids)
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(&mut *conn).await? {
        let o = out.entry(r.try_get(0)?).or_default();
        let status: Option<String> = r.try_get(3)?;
        let at: Millis = r.try_get(5)?;
        if o.channel.is_none() {
            o.channel = r.try_get(2)?;
        }
        match status.as_deref() {
            Some("delivered" | "read" | "played") => {
                o.delivered_at = Some(o.delivered_at.map_or(at, |d| d.min(at)));
                o.read |= status.as_deref() != Some("delivered");
            }
            Some("failed") if o.failure.as_ref().is_none_or(|f| at < f.0) => {
                o.failure = Some((at, r.try_get(1)?, r.try_get(4)?));
            }
            _ => {}
        }
    }
    Ok(())
}

async fn replies(
    conn: &mut AnyConnection,
    ids: &[String],
    out: &mut HashMap<String, Outcome>,
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT outbound_id, category FROM events WHERE outbound_id IN ({}) AND kind = 'message' AND direction = 'in'",
        in_list(ids)
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(&mut *conn).await? {
        out.entry(r.try_get(0)?)
            .or_default()
            .replies
            .push(r.try_get(1)?);
    }
    Ok(())
}

async fn conversions(
    conn: &mut AnyConnection,
    ids: &[String],
    currency: &str,
    out: &mut HashMap<String, Outcome>,
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT message_id, value, currency FROM conversions WHERE message_id IN ({})",
        in_list(ids)
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    for r in q.fetch_all(&mut *conn).await? {
        let o = out.entry(r.try_get(0)?).or_default();
        o.conversions += 1;
        let value: Option<f64> = r.try_get(1)?;
        let their: Option<String> = r.try_get(2)?;
        // Values in another currency are counted, not added: the desk does
        // not convert money.
        if their.as_deref().is_none_or(|c| c == currency) {
            o.value += value.unwrap_or(0.0);
        }
    }
    Ok(())
}

async fn fallbacks(
    conn: &mut AnyConnection,
    ids: &[String],
    out: &mut HashMap<String, Outcome>,
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT idempotency_key, state FROM outbox WHERE idempotency_key IN ({})",
        in_list(ids)
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(format!("fallback:{id}"));
    }
    for r in q.fetch_all(&mut *conn).await? {
        let key: String = r.try_get(0)?;
        let id = key.trim_start_matches("fallback:").to_string();
        out.entry(id).or_default().fallback = Some(r.try_get(1)?);
    }
    Ok(())
}

const SEND_KEYS: [&str; 9] = [
    "message_id",
    "day",
    "sent_at",
    "journey",
    "campaign",
    "template",
    "channel",
    "delivered_at",
    "failed_at",
];

async fn write_send_facts(
    tx: &mut Tx,
    backend: Backend,
    facts: &[SendFacts],
) -> Result<(), StoreError> {
    let columns: Vec<&str> = SEND_KEYS
        .iter()
        .chain(Counts::NAMES)
        .copied()
        .chain(["conversion_value"])
        .collect();
    let updates: Vec<String> = columns[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    for chunk in fixed_chunks(facts) {
        let sql = format!(
            "INSERT INTO report_sends ({}) VALUES {} ON CONFLICT (message_id) DO UPDATE SET {}",
            columns.join(", "),
            values_rows(backend, chunk.len(), columns.len()),
            updates.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for f in chunk {
            q = q
                .bind(&f.message_id)
                .bind(f.day)
                .bind(f.sent_at)
                .bind(&f.journey)
                .bind(&f.campaign)
                .bind(&f.template)
                .bind(&f.channel)
                .bind(f.delivered_at)
                .bind(f.failed_at);
            for v in f.counts.values() {
                q = q.bind(v);
            }
            q = q.bind(f.value);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Recomputes the send rollup of one day, or of every day.
async fn rollup_sends(tx: &mut Tx, day: Option<Millis>) -> Result<(), StoreError> {
    let sums: Vec<String> = Counts::NAMES
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect();
    let filter = if day.is_some() { "WHERE day = $1" } else { "" };
    let delete = format!("DELETE FROM report_daily {filter}");
    let insert = format!(
        "INSERT INTO report_daily (day, journey, campaign, template, {}, conversion_value) \
         SELECT day, journey, campaign, template, {}, CAST(SUM(conversion_value) AS DOUBLE PRECISION) \
         FROM report_sends {filter} GROUP BY day, journey, campaign, template",
        Counts::NAMES.join(", "),
        sums.join(", ")
    );
    for sql in [delete, insert] {
        let mut q = sqlx::query(&sql);
        if let Some(d) = day {
            q = q.bind(d);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// One conversation's facts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConversationFacts {
    pub id: String,
    pub day: Millis,
    pub journey: String,
    pub campaign: String,
    pub template: String,
    pub team: String,
    pub routed: i64,
    pub responded: i64,
    pub breached: i64,
    pub response_ms: Option<Millis>,
}

async fn conversation_facts(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<ConversationFacts>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT DISTINCT conversation_id FROM sla_events WHERE conversation_id IN ({}) AND kind = 'breached'",
        in_list(ids)
    );
    let mut q = sqlx::query_scalar::<_, String>(&sql);
    for id in ids {
        q = q.bind(id);
    }
    let breached: HashSet<String> = q.fetch_all(&mut *conn).await?.into_iter().collect();
    let sql = format!(
        "SELECT c.id, c.opened_at, c.journey, o.campaign, o.template, c.team, c.first_response_at \
         FROM conversations c LEFT JOIN outbound_messages o ON o.message_id = c.outbound_id \
         WHERE c.id IN ({})",
        in_list(ids)
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    let mut out = Vec::with_capacity(ids.len());
    for r in q.fetch_all(&mut *conn).await? {
        let text = |i: usize| -> Result<String, sqlx::Error> {
            Ok(r.try_get::<Option<String>, _>(i)?.unwrap_or_default())
        };
        let id: String = r.try_get(0)?;
        let opened_at: Millis = r.try_get(1)?;
        let first: Option<Millis> = r.try_get(6)?;
        let team = text(5)?;
        out.push(ConversationFacts {
            day: day_of(opened_at),
            journey: text(2)?,
            campaign: text(3)?,
            template: text(4)?,
            routed: i64::from(!team.is_empty()),
            team,
            responded: i64::from(first.is_some()),
            breached: i64::from(breached.contains(&id)),
            response_ms: first.map(|f| (f - opened_at).max(0)),
            id,
        });
    }
    Ok(out)
}

async fn write_conversation_facts(
    tx: &mut Tx,
    backend: Backend,
    facts: &[ConversationFacts],
) -> Result<(), StoreError> {
    const COLUMNS: [&str; 11] = [
        "conversation_id",
        "day",
        "journey",
        "campaign",
        "template",
        "team",
        "routed",
        "responded",
        "breached",
        "response_ms",
        "bucket",
    ];
    let updates: Vec<String> = COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    for chunk in fixed_chunks(facts) {
        let sql = format!(
            "INSERT INTO report_conversations ({}) VALUES {} ON CONFLICT (conversation_id) DO UPDATE SET {}",
            COLUMNS.join(", "),
            values_rows(backend, chunk.len(), COLUMNS.len()),
            updates.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for f in chunk {
            q = q
                .bind(&f.id)
                .bind(f.day)
                .bind(&f.journey)
                .bind(&f.campaign)
                .bind(&f.template)
                .bind(&f.team)
                .bind(f.routed)
                .bind(f.responded)
                .bind(f.breached)
                .bind(f.response_ms)
                .bind(f.response_ms.map(bucket_of));
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// The histogram columns of the conversation rollup: `h00`…`h36`, one per
/// bucket of [`BUCKET_MINUTES`] and one for longer.
pub fn histogram_columns() -> Vec<String> {
    (0..=BUCKET_MINUTES.len())
        .map(|k| format!("h{k:02}"))
        .collect()
}

/// Recomputes the conversation rollup of one day, or of every day.
async fn rollup_conversations(tx: &mut Tx, day: Option<Millis>) -> Result<(), StoreError> {
    let columns = histogram_columns();
    let buckets: Vec<String> = (0..columns.len())
        .map(|k| format!("CAST(SUM(CASE WHEN bucket = {k} THEN 1 ELSE 0 END) AS BIGINT)"))
        .collect();
    let filter = if day.is_some() { "WHERE day = $1" } else { "" };
    let delete = format!("DELETE FROM report_conversations_daily {filter}");
    let insert = format!(
        "INSERT INTO report_conversations_daily (day, journey, campaign, template, team, opened, routed, responded, \
           breached, {}) \
         SELECT day, journey, campaign, template, team, COUNT(*), CAST(SUM(routed) AS BIGINT), \
                CAST(SUM(responded) AS BIGINT), CAST(SUM(breached) AS BIGINT), {} \
         FROM report_conversations {filter} GROUP BY day, journey, campaign, template, team",
        columns.join(", "),
        buckets.join(", ")
    );
    for sql in [delete, insert] {
        let mut q = sqlx::query(&sql);
        if let Some(d) = day {
            q = q.bind(d);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_times_fall_in_the_bucket_of_their_bound() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(60_000), 0);
        assert_eq!(bucket_of(60_001), 1);
        assert_eq!(bucket_of(10 * 60_000), 9);
        assert_eq!(bucket_of(2 * 3_600_000), 18);
        assert_eq!(bucket_of(40 * 86_400_000), 36);
    }

    #[test]
    fn a_failure_after_delivery_does_not_count_as_failed() {
        let codes = StatusCodes::default();
        let o = Outcome {
            delivered_at: Some(5),
            failure: Some((9, "meta".into(), Some("131026".into()))),
            ..Outcome::default()
        };
        let f = facts_of("m".into(), &o, &codes);
        assert_eq!((f.counts.delivered, f.counts.failed), (1, 0));
    }

    #[test]
    fn a_reply_shows_the_message_arrived() {
        let codes = StatusCodes::default();
        let o = Outcome {
            replies: vec![Some("interest".into()), Some("opt_out".into())],
            conversions: 1,
            ..Outcome::default()
        };
        let c = facts_of("m".into(), &o, &codes).counts;
        assert_eq!(
            (
                c.delivered,
                c.reached,
                c.replies,
                c.replied,
                c.opted_out,
                c.replied_converted
            ),
            (0, 1, 2, 1, 1, 1)
        );
    }
}
