//! A contact's whole timeline: messages both ways, delivery statuses and
//! errors, classifications with the words that decided them, preference
//! changes, and everything people and the system did to their conversations.

use serde::Serialize;
use sqlx::Row;

use std::collections::HashSet;

use crate::auth::users::User;
use crate::clock::Millis;
use crate::media;
use crate::preferences;
use crate::store::{Db, StoreResult, placeholders};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Inbound,
    Outbound,
    Status,
    Preference,
    Log,
}

/// One line of the timeline, ready to show.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub at: Millis,
    pub kind: ItemKind,
    pub event_id: Option<i64>,
    pub conversation_id: Option<String>,
    /// Message type, status name, log kind or preference effect.
    pub what: String,
    pub text: Option<String>,
    /// The text split around the words the rule matched.
    pub highlight: Option<(String, String, String)>,
    pub category: Option<String>,
    pub rule: Option<String>,
    pub lang: Option<String>,
    pub error: Option<String>,
    pub actor: Option<String>,
    /// Extra facts as label/value pairs (evidence, reasons).
    pub facts: Vec<(String, String)>,
    /// The files of a media message.
    pub media: Vec<media::MediaView>,
    /// A shared location.
    pub place: Option<media::Place>,
    /// Shared contact cards.
    pub cards: Vec<media::Card>,
    /// Breaks ties at the same millisecond: event ids, log ids (time-ordered UUIDs).
    #[serde(skip)]
    order: String,
}

const LIMIT: i64 = 500;

/// The newest `LIMIT` items of each source for the contact (and records of
/// the same person), oldest first, as `viewer` may see them: what belongs
/// to a conversation they may not open (another team's messages, notes and
/// actions) is shown only as "handled by another team", without content.
pub async fn timeline(db: &Db, contact_id: &str, viewer: &User) -> StoreResult<Vec<Item>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM contacts WHERE id = $1 OR (wa_user_id IS NOT NULL AND wa_user_id = (SELECT wa_user_id FROM contacts WHERE id = $1))",
    )
    .bind(contact_id)
    .fetch_all(db.reader())
    .await?;
    let ids = if ids.is_empty() {
        vec![contact_id.to_string()]
    } else {
        ids
    };
    let mut items = events(db, &ids).await?;
    items.extend(logs(db, &ids).await?);
    for e in preferences::history(db, contact_id).await? {
        let mut facts = vec![
            ("signal".to_string(), e.signal.clone()),
            ("source".to_string(), e.source.clone()),
        ];
        for (label, value) in [
            ("message", &e.evidence_message_id),
            ("status", &e.evidence_status),
            ("code", &e.evidence_code),
            ("reason", &e.reason),
        ] {
            if let Some(v) = value {
                facts.push((label.to_string(), v.clone()));
            }
        }
        items.push(Item {
            at: e.occurred_at,
            kind: ItemKind::Preference,
            event_id: None,
            conversation_id: None,
            what: format!(
                "{} {} ({})",
                e.effect.as_str().replace('_', " "),
                e.channel,
                e.purpose
            ),
            text: None,
            highlight: None,
            category: None,
            rule: None,
            lang: None,
            error: None,
            actor: e.actor.clone(),
            facts,
            media: Vec::new(),
            place: None,
            cards: Vec::new(),
            order: format!("p{}", e.id),
        });
    }
    let hidden = hidden_conversations(db, &ids, viewer).await?;
    for item in items.iter_mut().filter(|i| {
        i.conversation_id
            .as_ref()
            .is_some_and(|c| hidden.contains(c))
    }) {
        redact(item);
    }
    items.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.order.cmp(&b.order)));
    Ok(items)
}

/// The contact's conversations that `viewer` may not open.
async fn hidden_conversations(
    db: &Db,
    ids: &[String],
    viewer: &User,
) -> StoreResult<HashSet<String>> {
    let sql = format!(
        "SELECT id, team, assignee FROM conversations WHERE contact_id IN ({})",
        placeholders(1, ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    let mut hidden = HashSet::new();
    for r in q.fetch_all(db.reader()).await? {
        let team: Option<String> = r.try_get(1)?;
        let assignee: Option<String> = r.try_get(2)?;
        if !(viewer.sees_team(team.as_deref())
            || assignee.as_deref() == Some(viewer.email.as_str()))
        {
            hidden.insert(r.try_get(0)?);
        }
    }
    Ok(hidden)
}

/// Keeps when and what kind of thing happened; drops what was said and by whom.
fn redact(item: &mut Item) {
    item.what = match item.kind {
        ItemKind::Log => "handled by another team".into(),
        _ => "message in another team's conversation".into(),
    };
    item.text = None;
    item.highlight = None;
    item.category = None;
    item.rule = None;
    item.error = None;
    item.actor = None;
    item.facts.clear();
    item.media.clear();
    item.place = None;
    item.cards.clear();
    item.conversation_id = None;
}

fn split_highlight(
    text: &str,
    start: Option<i64>,
    end: Option<i64>,
) -> Option<(String, String, String)> {
    let (s, e) = (usize::try_from(start?).ok()?, usize::try_from(end?).ok()?);
    Some((
        text.get(..s)?.to_string(),
        text.get(s..e)?.to_string(),
        text.get(e..)?.to_string(),
    ))
}

async fn events(db: &Db, ids: &[String]) -> StoreResult<Vec<Item>> {
    let sql = format!(
        "SELECT id, kind, direction, occurred_at, msg_type, body, payload, title, status, error_code, error_title, detail, \
                category, rule_id, match_start, match_end, lang, conversation_id, dedupe_key \
         FROM events WHERE contact_id IN ({}) ORDER BY occurred_at DESC, id DESC LIMIT {LIMIT}",
        placeholders(1, ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    let mut out = Vec::new();
    // Items with files, and their events' keys.
    let mut keys: Vec<(usize, String)> = Vec::new();
    for r in q.fetch_all(db.reader()).await? {
        let kind: String = r.try_get("kind")?;
        let direction: Option<String> = r.try_get("direction")?;
        let body: Option<String> = r.try_get("body")?;
        let status: Option<String> = r.try_get("status")?;
        let msg_type: Option<String> = r.try_get("msg_type")?;
        let code: Option<String> = r.try_get("error_code")?;
        let error_title: Option<String> = r.try_get("error_title")?;
        let item_kind = match (kind.as_str(), direction.as_deref()) {
            ("status", _) => ItemKind::Status,
            (_, Some("out")) => ItemKind::Outbound,
            _ => ItemKind::Inbound,
        };
        let highlight = body.as_deref().and_then(|b| {
            split_highlight(
                b,
                r.try_get("match_start").ok().flatten(),
                r.try_get("match_end").ok().flatten(),
            )
        });
        let mut facts = Vec::new();
        if let Some(p) = r.try_get::<Option<String>, _>("payload")? {
            facts.push(("payload".to_string(), p));
        }
        let detail = r
            .try_get::<Option<String>, _>("detail")?
            .and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok());
        let (place, cards) = match &detail {
            Some(d) => (media::place(d), media::cards(d)),
            None => (None, Vec::new()),
        };
        let is_media = msg_type
            .as_deref()
            .and_then(crate::model::MessageKind::parse)
            .is_some_and(crate::model::MessageKind::is_media);
        if is_media {
            keys.push((out.len(), r.try_get::<String, _>("dedupe_key")?));
        }
        let id: i64 = r.try_get("id")?;
        out.push(Item {
            at: r.try_get("occurred_at")?,
            kind: item_kind,
            event_id: Some(id),
            conversation_id: r.try_get("conversation_id")?,
            what: match item_kind {
                ItemKind::Status => status.unwrap_or_default(),
                _ => msg_type.unwrap_or_else(|| kind.clone()),
            },
            text: body,
            highlight,
            category: r.try_get("category")?,
            rule: r.try_get("rule_id")?,
            lang: r.try_get("lang")?,
            error: code.map(|c| match &error_title {
                Some(t) => format!("{c}: {t}"),
                None => c,
            }),
            actor: None,
            facts,
            media: Vec::new(),
            place,
            cards,
            order: format!("e{:020}", id),
        });
    }
    let wanted: Vec<String> = keys.iter().map(|(_, k)| k.clone()).collect();
    let mut files = media::for_events(db, &wanted).await?;
    for (index, key) in keys {
        if let (Some(item), Some(list)) = (out.get_mut(index), files.remove(&key)) {
            item.media = list;
        }
    }
    Ok(out)
}

async fn logs(db: &Db, ids: &[String]) -> StoreResult<Vec<Item>> {
    let sql = format!(
        "SELECT l.conversation_id, l.at, l.actor, l.kind, l.detail, l.id FROM conversation_log l \
         JOIN conversations c ON c.id = l.conversation_id WHERE c.contact_id IN ({}) \
         ORDER BY l.at DESC, l.id DESC LIMIT {LIMIT}",
        placeholders(1, ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    let mut out = Vec::new();
    for r in q.fetch_all(db.reader()).await? {
        let detail: Option<String> = r.try_get("detail")?;
        let detail: serde_json::Value = detail
            .and_then(|d| serde_json::from_str(&d).ok())
            .unwrap_or_default();
        let mut facts = Vec::new();
        let mut text = None;
        if let Some(map) = detail.as_object() {
            for (k, v) in map {
                let value = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                if k == "text" {
                    text = Some(value);
                } else {
                    facts.push((k.clone(), value));
                }
            }
        }
        let kind: String = r.try_get("kind")?;
        let log_id: String = r.try_get("id")?;
        out.push(Item {
            at: r.try_get("at")?,
            kind: ItemKind::Log,
            event_id: None,
            conversation_id: r.try_get("conversation_id")?,
            what: kind.replace('_', " "),
            text,
            highlight: None,
            category: None,
            rule: None,
            lang: None,
            error: None,
            actor: r.try_get("actor")?,
            facts,
            media: Vec::new(),
            place: None,
            cards: Vec::new(),
            order: format!("l{}", log_id),
        });
    }
    Ok(out)
}
