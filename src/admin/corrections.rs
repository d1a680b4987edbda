//! The corrections loop: agents' reclassifications listed per rule, each
//! rule's corrections rate, and turning a correction into an example in the
//! right rules file, through the same check and activation as an edit.

use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;

use super::rules::{self, Activated, Change, FileInfo, Kind};
use super::{AdminError, Problem};
use crate::classify::LiveRules;
use crate::clock::Millis;
use crate::model::Category;
use crate::store::Db;

/// How far back the corrections rate counts.
pub const RATE_DAYS: i64 = 30;

/// One correction with the reply it was about.
#[derive(Debug, Clone)]
pub struct Correction {
    pub id: String,
    pub event_id: i64,
    pub conversation_id: String,
    pub text: Option<String>,
    pub kind: Option<String>,
    pub payload: Option<String>,
    pub title: Option<String>,
    pub original_category: Option<String>,
    pub original_rule: Option<String>,
    pub corrected: String,
    pub note: Option<String>,
    pub actor: String,
    pub at: Millis,
    /// The rules version that took this correction in as an example.
    pub example_version: Option<String>,
}

const SELECT: &str = "SELECT c.id, c.event_id, c.conversation_id, e.body, e.msg_type, e.payload, e.title, \
       c.original_category, c.original_rule, c.corrected, c.note, c.actor, c.at, \
       (SELECT MAX(v.id) FROM rule_versions v WHERE v.correction_id = c.id) \
     FROM corrections c LEFT JOIN events e ON e.id = c.event_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Correction, sqlx::Error> {
    Ok(Correction {
        id: r.try_get(0)?,
        event_id: r.try_get(1)?,
        conversation_id: r.try_get(2)?,
        text: r.try_get(3)?,
        kind: r.try_get(4)?,
        payload: r.try_get(5)?,
        title: r.try_get(6)?,
        original_category: r.try_get(7)?,
        original_rule: r.try_get(8)?,
        corrected: r.try_get(9)?,
        note: r.try_get(10)?,
        actor: r.try_get(11)?,
        at: r.try_get(12)?,
        example_version: r.try_get(13)?,
    })
}

/// The latest corrections, newest first, optionally of one rule.
pub async fn list(db: &Db, rule: Option<&str>, limit: i64) -> Result<Vec<Correction>, AdminError> {
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE ($1 = '' OR c.original_rule = $1) ORDER BY c.at DESC, c.id DESC LIMIT $2"
    ))
    .bind(rule.unwrap_or(""))
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Correction>, AdminError> {
    let row = sqlx::query(&format!("{SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Per rule: (corrections, replies it classified) over the last [`RATE_DAYS`].
pub async fn rates(db: &Db, now: Millis) -> Result<HashMap<String, (i64, i64)>, AdminError> {
    let since = now - RATE_DAYS * 86_400_000;
    let start = super::dry_run::first_id_since(db, since).await?;
    let mut out: HashMap<String, (i64, i64)> = HashMap::new();
    let classified = sqlx::query(
        "SELECT rule_id, COUNT(*) FROM events WHERE id >= $1 AND kind = 'message' AND direction = 'in' \
         AND received_at >= $2 AND rule_id IS NOT NULL GROUP BY rule_id",
    )
    .bind(start)
    .bind(since)
    .fetch_all(db.reader())
    .await?;
    for r in classified {
        out.entry(r.try_get(0)?).or_default().1 = r.try_get(1)?;
    }
    let corrected = sqlx::query(
        "SELECT original_rule, COUNT(*) FROM corrections WHERE at >= $1 AND original_rule IS NOT NULL GROUP BY original_rule",
    )
    .bind(since)
    .fetch_all(db.reader())
    .await?;
    for r in corrected {
        out.entry(r.try_get(0)?).or_default().0 = r.try_get(1)?;
    }
    Ok(out)
}

/// The rules file an example for this correction belongs in: the file of
/// the rule that decided wrongly, so the fix lands next to it; when no rule
/// decided (the default), the first file with rules of the right category.
pub fn file_for(files: &[FileInfo], c: &Correction) -> Option<String> {
    let by_rule = c
        .original_rule
        .as_deref()
        .and_then(|rule| files.iter().find(|f| f.rules.iter().any(|r| r.id == rule)));
    by_rule
        .or_else(|| {
            files
                .iter()
                .find(|f| f.rules.iter().any(|r| r.category == c.corrected))
        })
        .map(|f| f.name.clone())
}

/// The `[[example]]` table for a correction, appended to a file's text.
pub fn example_toml(c: &Correction) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = format!(
        "\n# From a correction by {} ({} → {}).\n[[example]]\n",
        c.actor,
        c.original_category.as_deref().unwrap_or("?"),
        c.corrected
    );
    if let Some(kind) = c.kind.as_deref().filter(|k| *k != "text") {
        out.push_str(&format!("kind = {}\n", quote(kind)));
    }
    for (key, value) in [
        ("text", &c.text),
        ("payload", &c.payload),
        ("title", &c.title),
    ] {
        if let Some(v) = value {
            out.push_str(&format!("{key} = {}\n", quote(v)));
        }
    }
    out.push_str(&format!("expect = {}\n", quote(&c.corrected)));
    out
}

/// What turning a correction into an example did.
#[derive(Debug)]
pub enum ExampleOutcome {
    /// The rules already classify it as corrected: the example is active.
    Activated(Activated),
    /// The example fails (the rules still get it wrong): the editor opens
    /// with the example added, for the admin to fix the rule and activate.
    NeedsFix {
        file: String,
        text: String,
        base_sha: String,
        problems: Vec<Problem>,
    },
}

/// Adds the correction's reply as an example to the right file and
/// activates it if every example passes.
pub async fn add_example(
    db: &Db,
    live: &Arc<LiveRules>,
    lock: &tokio::sync::Mutex<()>,
    id: &str,
    actor: &str,
    now: Millis,
) -> Result<ExampleOutcome, AdminError> {
    let c = get(db, id)
        .await?
        .ok_or(AdminError::NotFound("correction"))?;
    if Category::parse(&c.corrected).is_none() {
        return Err(super::invalid("category", "unknown corrected category"));
    }
    if c.text.is_none() && c.payload.is_none() && c.title.is_none() && c.kind.is_none() {
        return Err(super::invalid(
            "correction",
            "the reply of this correction is no longer stored",
        ));
    }
    let files = rules::read_files(live.dir())?;
    let file = file_for(&files, &c).ok_or(AdminError::NotFound("rules file"))?;
    let current = files
        .iter()
        .find(|f| f.name == file)
        .ok_or(AdminError::NotFound("rules file"))?;
    let mut text = current.text.clone();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&example_toml(&c));
    let change = Change {
        file: file.clone(),
        text: text.clone(),
        base_sha: current.sha.clone(),
        actor: actor.to_string(),
        comment: format!(
            "example from {}'s correction: {} → {}",
            c.actor,
            c.original_category.as_deref().unwrap_or("?"),
            c.corrected
        ),
        kind: Kind::Example,
        restored_from: None,
        correction_id: Some(c.id.clone()),
    };
    match rules::activate(db, live, lock, change, now).await {
        Ok(done) => Ok(ExampleOutcome::Activated(done)),
        Err(AdminError::Rules(problems)) => Ok(ExampleOutcome::NeedsFix {
            file,
            text,
            base_sha: current.sha.clone(),
            problems,
        }),
        Err(e) => Err(e),
    }
}
