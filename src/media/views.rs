//! Media as people see it: what the timeline and the queue show of each
//! file, and the file itself for whoever may see its conversation.

use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;

use super::detect::is_inline;
use super::{FileStore, detect, human_size, links};
use crate::auth::users::User;
use crate::clock::Millis;
use crate::store::{Db, StoreResult, placeholders};

/// One file on the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct MediaView {
    pub id: String,
    /// image, audio, video, document, sticker
    pub kind: String,
    /// pending, fetching, stored, failed
    pub state: String,
    /// The type detected from the bytes, once fetched.
    pub mime: Option<String>,
    pub size: Option<String>,
    pub filename: Option<String>,
    /// Why it is not here (yet).
    pub error: Option<String>,
    pub has_thumbnail: bool,
}

impl MediaView {
    pub fn stored(&self) -> bool {
        self.state == "stored"
    }

    /// A photo or sticker shown as its thumbnail.
    pub fn shows_picture(&self) -> bool {
        self.stored() && self.has_thumbnail
    }

    /// Audio or video the browser plays in the page.
    pub fn plays(&self, what: &str) -> bool {
        self.stored()
            && self.kind == what
            && self.mime.as_deref().is_some_and(|m| {
                is_inline(m) && (m.starts_with("audio/") || m.starts_with("video/"))
            })
    }

    /// A short word for lists: `Photo`, `Voice note`, `Document`.
    pub fn label(&self) -> &'static str {
        match self.kind.as_str() {
            "image" => "Photo",
            "audio" => "Voice note or audio",
            "video" => "Video",
            "sticker" => "Sticker",
            _ => "Document",
        }
    }

    /// The name a download is saved under.
    pub fn download_name(&self) -> String {
        download_name(&self.kind, &self.id, self.filename.as_deref())
    }
}

/// The customer's file name, or one made of the kind and the id.
fn download_name(kind: &str, id: &str, filename: Option<&str>) -> String {
    match filename {
        Some(f) if !f.trim().is_empty() => f.to_string(),
        _ => format!(
            "{kind}-{}",
            id.get(id.len().saturating_sub(12)..).unwrap_or(id)
        ),
    }
}

const COLUMNS: &str =
    "id, event_key, kind, state, detected_type, size, filename, error, has_thumbnail";

fn view(r: &sqlx::any::AnyRow) -> StoreResult<MediaView> {
    let size: Option<i64> = r.try_get("size")?;
    Ok(MediaView {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        state: r.try_get("state")?,
        mime: r.try_get("detected_type")?,
        size: size.map(|s| human_size(u64::try_from(s).unwrap_or_default())),
        filename: r.try_get("filename")?,
        error: r.try_get("error")?,
        has_thumbnail: r.try_get::<i64, _>("has_thumbnail")? != 0,
    })
}

/// The files of the given events (by their dedupe keys), in order.
pub async fn for_events(db: &Db, keys: &[String]) -> StoreResult<HashMap<String, Vec<MediaView>>> {
    let mut out: HashMap<String, Vec<MediaView>> = HashMap::new();
    for chunk in keys.chunks(200) {
        let sql = format!(
            "SELECT {COLUMNS} FROM media WHERE event_key IN ({}) ORDER BY event_key, position",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for k in chunk {
            q = q.bind(k);
        }
        for r in q.fetch_all(db.reader()).await? {
            let key: String = r.try_get("event_key")?;
            out.entry(key).or_default().push(view(&r)?);
        }
    }
    Ok(out)
}

/// The latest customer file of each conversation, for the queue preview.
pub async fn latest_for_conversations(
    db: &Db,
    conversation_ids: &[String],
) -> StoreResult<HashMap<String, MediaView>> {
    let mut out = HashMap::new();
    if conversation_ids.is_empty() {
        return Ok(out);
    }
    for chunk in conversation_ids.chunks(200) {
        let sql = format!(
            "SELECT e.conversation_id AS conversation_id, m.id, m.event_key, m.kind, m.state, m.detected_type, m.size, \
                    m.filename, m.error, m.has_thumbnail \
             FROM media m JOIN events e ON e.dedupe_key = m.event_key \
             WHERE e.conversation_id IN ({}) AND e.msg_type IN ('image', 'audio', 'video', 'document', 'sticker') \
             ORDER BY e.occurred_at, m.position",
            placeholders(1, chunk.len())
        );
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for r in q.fetch_all(db.reader()).await? {
            out.insert(r.try_get::<String, _>("conversation_id")?, view(&r)?);
        }
    }
    Ok(out)
}

/// A file ready to be served.
#[derive(Debug, Clone)]
pub struct Served {
    pub bytes: Vec<u8>,
    /// Detected from these bytes.
    pub mime: String,
    /// Shown in the page (plain image, audio, video) or saved as a file.
    pub inline: bool,
    pub filename: String,
}

/// The file `id` (or its thumbnail) for `user`, if they may see the
/// conversation it belongs to. `None` both when there is no such file and
/// when it is not theirs to see: nobody learns which files exist.
pub async fn open_for(
    db: &Db,
    files: &FileStore,
    user: &User,
    id: &str,
    thumbnail: bool,
) -> StoreResult<Option<Served>> {
    let row = sqlx::query(
        "SELECT m.stored_in, m.state, m.kind, m.filename, m.id, \
                COALESCE(e.conversation_id, r.conversation_id) AS conversation_id \
         FROM media m LEFT JOIN events e ON e.dedupe_key = m.event_key \
         LEFT JOIN replies r ON r.media_id = m.id WHERE m.id = $1",
    )
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let conversation: Option<String> = r.try_get("conversation_id")?;
    let allowed = match &conversation {
        Some(c) => crate::conversations::get(db, user, c).await?.is_some(),
        // Not routed yet: only administrators.
        None => user.is_admin(),
    };
    if !allowed || r.try_get::<String, _>("state")? != "stored" {
        return Ok(None);
    }
    serve(files, &r, thumbnail).await
}

async fn serve(
    files: &FileStore,
    r: &sqlx::any::AnyRow,
    thumbnail: bool,
) -> StoreResult<Option<Served>> {
    let id: String = r.try_get("id")?;
    let stored_in: Option<String> = r.try_get("stored_in")?;
    let Some(bytes) = files
        .get(&id, stored_in.as_deref().unwrap_or("database"), thumbnail)
        .await?
    else {
        return Ok(None);
    };
    let detected = detect(&bytes);
    let kind: String = r.try_get("kind")?;
    let filename: Option<String> = r.try_get("filename")?;
    Ok(Some(Served {
        bytes,
        inline: detected.inline,
        mime: detected.mime,
        filename: download_name(&kind, &id, filename.as_deref()),
    }))
}

/// An agent's attachment for Twilio, through a signed link that has not expired.
pub async fn outbound_file(
    db: &Db,
    files: &FileStore,
    id: &str,
    expires: Millis,
    sig: &str,
    now: Millis,
) -> StoreResult<Option<Served>> {
    if !links::plausible(expires, sig, now) {
        return Ok(None);
    }
    let key = links::key(db, now).await?;
    if !links::verify(&key, id, expires, sig, now) {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT stored_in, kind, filename, id FROM media WHERE id = $1 AND direction = 'out' AND state = 'stored'",
    )
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    match row {
        Some(r) => serve(files, &r, false).await,
        None => Ok(None),
    }
}

/// A shared location.
#[derive(Debug, Clone, Serialize)]
pub struct Place {
    pub latitude: String,
    pub longitude: String,
    pub name: Option<String>,
    pub address: Option<String>,
    /// OpenStreetMap at the point (no key, no tracking script).
    pub map_url: String,
}

/// A shared contact card: a name and the numbers on it.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub name: String,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
}

/// The location in a message's detail (Meta's `location` with numbers,
/// Twilio's `Latitude`/`Longitude` strings).
pub fn place(detail: &serde_json::Value) -> Option<Place> {
    let l = detail.get("location")?;
    let coordinate = |k: &str| -> Option<f64> {
        let v = l.get(k)?;
        v.as_f64().or_else(|| v.as_str()?.trim().parse().ok())
    };
    let (lat, lon) = (coordinate("latitude")?, coordinate("longitude")?);
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return None;
    }
    let text = |k: &str| {
        l.get(k)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Some(Place {
        latitude: format!("{lat:.6}"),
        longitude: format!("{lon:.6}"),
        name: text("name").or_else(|| text("label")),
        address: text("address"),
        map_url: format!(
            "https://www.openstreetmap.org/?mlat={lat:.6}&mlon={lon:.6}#map=17/{lat:.6}/{lon:.6}"
        ),
    })
}

/// The contact cards in a message's detail (Meta's `contacts` list).
pub fn cards(detail: &serde_json::Value) -> Vec<Card> {
    let list = detail.get("contacts").and_then(|v| v.as_array());
    list.into_iter()
        .flatten()
        .map(|c| {
            let values = |list: &str, key: &str| -> Vec<String> {
                c.get(list)
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.get(key).and_then(|v| v.as_str()).map(str::to_string))
                    .collect()
            };
            let name = c
                .pointer("/name/formatted_name")
                .or_else(|| c.pointer("/name/first_name"))
                .and_then(|v| v.as_str())
                .unwrap_or("(no name)")
                .to_string();
            Card {
                name,
                phones: values("phones", "phone"),
                emails: values("emails", "email"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_location_reads_numbers_or_strings_and_links_to_a_map() {
        let meta =
            place(&json!({"location": {"latitude": 38.9, "longitude": -77.03, "name": "Office"}}))
                .unwrap();
        assert_eq!(meta.latitude, "38.900000");
        assert!(meta.map_url.contains("mlat=38.900000&mlon=-77.030000"));
        let twilio =
            place(&json!({"location": {"latitude": "52.37", "longitude": "4.89", "label": "Dam"}}))
                .unwrap();
        assert_eq!(twilio.name.as_deref(), Some("Dam"));
        assert!(place(&json!({"location": {"latitude": 123.0, "longitude": 0}})).is_none());
    }

    #[test]
    fn a_contact_card_shows_its_name_and_numbers() {
        let d = json!({"contacts": [{"name": {"formatted_name": "Ana Ruiz", "first_name": "Ana"},
            "phones": [{"phone": "+1 (940) 555-1234", "wa_id": "19405551234", "type": "HOME"}],
            "emails": [{"email": "ana@example.com"}]}]});
        let c = cards(&d);
        assert_eq!(c[0].name, "Ana Ruiz");
        assert_eq!(c[0].phones, ["+1 (940) 555-1234"]);
        assert_eq!(c[0].emails, ["ana@example.com"]);
    }
}
