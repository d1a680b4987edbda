//! The dry run: replays the stored replies of a recent period through a
//! candidate rules set beside the active one and counts what would change.
//! It only reads: nothing is written, and past classifications stay as they
//! were decided.
//!
//! Replies are read newest first in batches with a keyset cursor on the
//! events' primary key, so a capped run covers the most recent replies and
//! no query scans the whole table; classification (a pure function) runs on
//! a blocking thread while the next batch is read.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::classify::{Classification, Reply, RuleSet};
use crate::clock::Millis;
use crate::model::{Category, MessageKind};
use crate::store::{Db, StoreResult};
use std::collections::HashMap;

/// Replies read per query.
const BATCH: usize = 5_000;

/// Changed replies a kept report lists (the page shows as many).
pub const KEPT_CHANGES: usize = 200;

/// The moves map as a list: JSON map keys must be strings.
mod moves_as_list {
    use super::Category;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(
        moves: &BTreeMap<(Category, Category), usize>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let list: Vec<(Category, Category, usize)> =
            moves.iter().map(|((a, b), n)| (*a, *b, *n)).collect();
        list.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<(Category, Category), usize>, D::Error> {
        let list = Vec::<(Category, Category, usize)>::deserialize(d)?;
        Ok(list.into_iter().map(|(a, b, n)| ((a, b), n)).collect())
    }
}

/// What to replay.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Replies received at or after this instant.
    pub since: Millis,
    /// At most this many replies, the most recent ones.
    pub cap: usize,
}

/// How far a run has got; shared with whoever shows it.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicUsize,
    total: AtomicUsize,
}

impl Progress {
    pub fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }
    /// Zero until the run has counted what it will replay.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
    pub fn percent(&self) -> usize {
        (self.done() * 100).checked_div(self.total()).unwrap_or(0)
    }
}

/// One reply whose category would change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub event_id: i64,
    pub message_id: Option<String>,
    pub text: Option<String>,
    pub received_at: Millis,
    pub from: Category,
    pub to: Category,
    pub from_rule: String,
    pub to_rule: String,
    pub from_matched: Option<String>,
    pub to_matched: Option<String>,
}

impl Change {
    /// An opt-out the candidate would no longer recognise.
    pub fn loses_opt_out(&self) -> bool {
        self.from == Category::OptOut && self.to != Category::OptOut
    }
}

/// What a dry run found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub replayed: usize,
    pub changed: usize,
    /// Whether the cap stopped the run before the start of the period.
    pub capped: bool,
    pub cap: usize,
    pub since: Millis,
    pub active_version: String,
    pub candidate_version: String,
    pub before: BTreeMap<Category, usize>,
    pub after: BTreeMap<Category, usize>,
    #[serde(with = "moves_as_list")]
    pub moves: BTreeMap<(Category, Category), usize>,
    /// Lost opt-outs first, then the most recent first.
    pub changes: Vec<Change>,
    /// Counted before `changes` was cut to what a page shows.
    #[serde(default)]
    lost: Option<usize>,
}

impl Report {
    pub fn lost_opt_outs(&self) -> usize {
        self.lost
            .unwrap_or_else(|| self.changes.iter().filter(|c| c.loses_opt_out()).count())
    }

    /// The report as a job keeps it: the counts whole, the first
    /// `KEPT_CHANGES` changed replies listed.
    pub fn for_keeping(mut self) -> Report {
        self.lost = Some(self.lost_opt_outs());
        self.changes.truncate(KEPT_CHANGES);
        self
    }

    /// The command line's `--json` form.
    pub fn to_json(&self) -> serde_json::Value {
        let moves: serde_json::Map<String, serde_json::Value> = self
            .moves
            .iter()
            .map(|((from, to), n)| (format!("{from}→{to}"), (*n).into()))
            .collect();
        let changes: Vec<serde_json::Value> = self
            .changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "message_id": c.message_id, "text": c.text,
                    "from": c.from, "to": c.to, "rule": c.to_rule,
                })
            })
            .collect();
        serde_json::json!({
            "replayed": self.replayed,
            "changed": self.changed,
            "moves": moves,
            "changes": changes,
            "lost_opt_outs": self.lost_opt_outs(),
            "capped": self.capped,
            "active_version": self.active_version,
            "candidate_version": self.candidate_version,
        })
    }

    fn merge(&mut self, part: Report) {
        self.replayed += part.replayed;
        self.changed += part.changed;
        for (k, n) in part.before {
            *self.before.entry(k).or_default() += n;
        }
        for (k, n) in part.after {
            *self.after.entry(k).or_default() += n;
        }
        for (k, n) in part.moves {
            *self.moves.entry(k).or_default() += n;
        }
        self.changes.extend(part.changes);
    }
}

/// One stored reply as read for replaying.
struct Stored {
    id: i64,
    message_id: Option<String>,
    received_at: Millis,
    kind: Option<String>,
    body: Option<String>,
    payload: Option<String>,
    title: Option<String>,
    /// How ingest classified it, and with which rules version.
    category: Option<String>,
    rule_id: Option<String>,
    rules_version: Option<String>,
    span: (Option<i64>, Option<i64>),
}

/// What classification looks at, for recognising a reply seen before.
type ReplyKey<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

/// The active set's verdict on one reply.
struct Verdict {
    category: Category,
    rule: String,
    matched: Option<String>,
}

impl Stored {
    fn reply(&self) -> Reply<'_> {
        Reply {
            kind: self.kind.as_deref().and_then(MessageKind::parse),
            text: self.body.as_deref(),
            payload: self.payload.as_deref(),
            title: self.title.as_deref(),
        }
    }

    /// What ingest stored, when the active set decided it: classification is
    /// a pure function of (set, reply), so replaying it would give the same
    /// answer. Halves the work for replies since the last activation.
    fn stored_verdict(&self, active_version: &str) -> Option<Verdict> {
        if self.rules_version.as_deref() != Some(active_version) {
            return None;
        }
        let category = Category::parse(self.category.as_deref()?)?;
        // The span is in the text, or in the title when there is no text (as the engine matched).
        let non_blank = |t: &&String| !t.trim().is_empty();
        let text = self
            .body
            .as_ref()
            .filter(non_blank)
            .or(self.title.as_ref().filter(non_blank));
        let matched = match (text, self.span) {
            (Some(t), (Some(a), Some(b))) => t
                .get(usize::try_from(a).ok()?..usize::try_from(b).ok()?)
                .map(str::to_string),
            _ => None,
        };
        Some(Verdict {
            category,
            rule: self.rule_id.clone()?,
            matched,
        })
    }
}

/// Replays the period's replies through both sets.
pub async fn run(
    db: &Db,
    active: Arc<RuleSet>,
    candidate: Arc<RuleSet>,
    options: Options,
    progress: &Progress,
) -> StoreResult<Report> {
    let start = first_id_since(db, options.since).await?;
    let in_period: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE id >= $1 AND kind = 'message' AND direction = 'in' AND received_at >= $2",
    )
    .bind(start)
    .bind(options.since)
    .fetch_one(db.reader())
    .await?;
    let in_period = usize::try_from(in_period).unwrap_or(0);
    progress
        .total
        .store(in_period.min(options.cap), Ordering::Relaxed);
    let mut report = Report {
        cap: options.cap,
        since: options.since,
        capped: in_period > options.cap,
        active_version: active.version().to_string(),
        candidate_version: candidate.version().to_string(),
        ..Report::default()
    };
    let mut cursor = i64::MAX;
    let mut read = 0;
    let mut pending: Option<tokio::task::JoinHandle<Report>> = None;
    while read < options.cap {
        let want = (options.cap - read).min(BATCH);
        let batch = read_batch(db, start, cursor, options.since, want).await?;
        if let Some(part) = pending.take() {
            report.merge(part.await.map_err(join_error)?);
        }
        let Some(last) = batch.last() else { break };
        cursor = last.id;
        read += batch.len();
        let full = batch.len() == want;
        let (a, c) = (active.clone(), candidate.clone());
        pending = Some(tokio::task::spawn_blocking(move || replay(&a, &c, batch)));
        progress.done.store(read, Ordering::Relaxed);
        if !full {
            break;
        }
    }
    if let Some(part) = pending.take() {
        report.merge(part.await.map_err(join_error)?);
    }
    report
        .changes
        .sort_by_key(|c| (!c.loses_opt_out(), std::cmp::Reverse(c.event_id)));
    Ok(report)
}

fn join_error(e: tokio::task::JoinError) -> crate::store::StoreError {
    crate::store::StoreError::Query(sqlx::Error::Protocol(format!("dry run worker failed: {e}")))
}

async fn read_batch(
    db: &Db,
    start: i64,
    before: i64,
    since: Millis,
    limit: usize,
) -> StoreResult<Vec<Stored>> {
    let rows = sqlx::query(
        "SELECT id, provider_id, received_at, msg_type, body, payload, title, category, rule_id, rules_version, match_start, match_end FROM events \
         WHERE id < $1 AND id >= $2 AND kind = 'message' AND direction = 'in' AND received_at >= $3 \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(before)
    .bind(start)
    .bind(since)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Stored {
                id: r.try_get(0)?,
                message_id: r.try_get(1)?,
                received_at: r.try_get(2)?,
                kind: r.try_get(3)?,
                body: r.try_get(4)?,
                payload: r.try_get(5)?,
                title: r.try_get(6)?,
                category: r.try_get(7)?,
                rule_id: r.try_get(8)?,
                rules_version: r.try_get(9)?,
                span: (r.try_get(10)?, r.try_get(11)?),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// The first event id received at or after `since`. Ids grow in arrival
/// order (one writer commits batches in turn), so bisecting over the primary
/// key finds it in a few dozen indexed lookups instead of a table scan.
pub(crate) async fn first_id_since(db: &Db, since: Millis) -> StoreResult<i64> {
    let row = sqlx::query("SELECT MIN(id), MAX(id) FROM events")
        .fetch_one(db.reader())
        .await?;
    let (Some(mut lo), Some(max)): (Option<i64>, Option<i64>) = (row.try_get(0)?, row.try_get(1)?)
    else {
        return Ok(0);
    };
    // Invariant: ids below `lo` arrived before `since`; ids from `hi` on did not.
    let mut hi = max + 1;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let next =
            sqlx::query("SELECT id, received_at FROM events WHERE id >= $1 ORDER BY id LIMIT 1")
                .bind(mid)
                .fetch_optional(db.reader())
                .await?;
        match next {
            Some(r) if r.try_get::<i64, _>(1)? < since => lo = r.try_get::<i64, _>(0)? + 1,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// Classifies a batch with both sets, on every core; pure and synchronous.
fn replay(active: &RuleSet, candidate: &RuleSet, batch: Vec<Stored>) -> Report {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(8);
    let chunk = batch.len().div_ceil(threads).max(1);
    let mut report = Report::default();
    std::thread::scope(|scope| {
        let parts: Vec<_> = batch
            .chunks(chunk)
            .map(|rows| scope.spawn(move || replay_rows(active, candidate, rows)))
            .collect();
        for part in parts {
            // A panic in the classifier is a bug; count nothing rather than abort the run.
            if let Ok(part) = part.join() {
                report.merge(part);
            }
        }
    });
    report
}

fn replay_rows(active: &RuleSet, candidate: &RuleSet, rows: &[Stored]) -> Report {
    let mut part = Report::default();
    // Short replies repeat ("ok", "STOP", "thanks"): classify each distinct
    // reply once per chunk. Classification is pure, so this changes nothing
    // but the time.
    let mut seen_active: HashMap<ReplyKey<'_>, Classification> = HashMap::new();
    let mut seen_candidate: HashMap<ReplyKey<'_>, Classification> = HashMap::new();
    for s in rows {
        let reply = s.reply();
        let key = (
            s.kind.as_deref(),
            s.body.as_deref(),
            s.payload.as_deref(),
            s.title.as_deref(),
        );
        let old = s.stored_verdict(active.version()).unwrap_or_else(|| {
            let c = seen_active
                .entry(key)
                .or_insert_with(|| active.classify(&reply));
            Verdict {
                category: c.category,
                rule: c.rule_id.to_string(),
                matched: c.matched.clone(),
            }
        });
        let new = seen_candidate
            .entry(key)
            .or_insert_with(|| candidate.classify(&reply))
            .clone();
        part.replayed += 1;
        *part.before.entry(old.category).or_default() += 1;
        *part.after.entry(new.category).or_default() += 1;
        if old.category == new.category {
            continue;
        }
        part.changed += 1;
        *part.moves.entry((old.category, new.category)).or_default() += 1;
        part.changes.push(Change {
            event_id: s.id,
            message_id: s.message_id.clone(),
            text: s.body.clone().or_else(|| s.title.clone()),
            received_at: s.received_at,
            from: old.category,
            to: new.category,
            from_rule: old.rule,
            to_rule: new.rule_id.to_string(),
            from_matched: old.matched,
            to_matched: new.matched,
        });
    }
    part
}
