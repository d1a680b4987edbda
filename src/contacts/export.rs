//! Subject access: everything the desk holds about a person, as JSON. Their
//! records (a phone contact and any record known only by their WhatsApp user
//! id), and every row of theirs: messages and statuses, the preference
//! ledger, conversations with their notes and actions, the desk's replies,
//! registered sends, conversions, reviews, exclusions, failures, outside
//! preferences, and the files they sent (described; the bytes stay in the
//! desk and are served on the conversation).

use serde_json::{Map, Value};
use sqlx::{Column, Row};

use super::identity;
use crate::store::{Db, StoreResult, placeholders};

/// Tables whose rows are a contact's by `contact_id`, in the order shown.
const BY_CONTACT: [&str; 10] = [
    "events",
    "preference_events",
    "conversations",
    "replies",
    "outbound_messages",
    "conversions",
    "reviews",
    "journey_exclusions",
    "delivery_failures",
    "external_preferences",
];

/// Everything about the person whose phone is `e164`; `None` when the desk
/// has never heard of them.
pub async fn export(db: &Db, e164: &str) -> StoreResult<Option<Value>> {
    let contact_id = identity::id_for_phone(e164);
    let ids = {
        let mut conn = db.reader().acquire().await?;
        identity::same_person(&mut conn, &contact_id).await?
    };
    let contacts = rows(db, "SELECT * FROM contacts WHERE id IN", &ids, "").await?;
    if contacts.is_empty() {
        return Ok(None);
    }
    let mut out = Map::new();
    out.insert("phone".into(), Value::String(e164.to_string()));
    out.insert("contacts".into(), Value::Array(contacts));
    for table in BY_CONTACT {
        let list = rows(
            db,
            &format!("SELECT * FROM {table} WHERE contact_id IN"),
            &ids,
            "",
        )
        .await?;
        out.insert(table.into(), Value::Array(list));
    }
    let conversations: Vec<String> = out["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    let log = rows(
        db,
        "SELECT * FROM conversation_log WHERE conversation_id IN",
        &conversations,
        " ORDER BY at",
    )
    .await?;
    out.insert("conversation_log".into(), Value::Array(log));
    let keys: Vec<String> = out["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["dedupe_key"].as_str().map(str::to_string))
        .collect();
    let media = rows(
        db,
        "SELECT id, event_key, kind, filename, detected_type, size, sha256, state, created_at FROM media WHERE event_key IN",
        &keys,
        "",
    )
    .await?;
    out.insert("media".into(), Value::Array(media));
    Ok(Some(Value::Object(out)))
}

/// The rows of `select … IN (ids)` as JSON objects, column by column.
async fn rows(db: &Db, select: &str, ids: &[String], tail: &str) -> StoreResult<Vec<Value>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(200) {
        let sql = format!("{select} ({}){tail}", placeholders(1, chunk.len()));
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for r in q.fetch_all(db.reader()).await? {
            let mut object = Map::new();
            for (i, column) in r.columns().iter().enumerate() {
                object.insert(column.name().to_string(), cell(&r, i));
            }
            out.push(Value::Object(object));
        }
    }
    Ok(out)
}

/// A cell as JSON, whatever its type: a number, text (JSON text parsed), or
/// null.
fn cell(r: &sqlx::any::AnyRow, i: usize) -> Value {
    if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    if let Ok(v) = r.try_get::<Option<f64>, _>(i) {
        return v.map_or(Value::Null, Value::from);
    }
    if let Ok(v) = r.try_get::<Option<String>, _>(i) {
        return match v {
            Some(text) if text.starts_with('{') || text.starts_with('[') => {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
            Some(text) => Value::String(text),
            None => Value::Null,
        };
    }
    if let Ok(v) = r.try_get::<Option<bool>, _>(i) {
        return v.map_or(Value::Null, Value::Bool);
    }
    Value::Null
}
