//! The files a stored webhook names, written as `pending` media rows in the
//! webhook's own transaction: once the provider has its 200, the desk owes
//! the agent the file, and the fetcher picks it up from here.

use serde_json::Value;
use sqlx::{Any, Transaction};

use crate::clock::Millis;
use crate::ingest::event::{EventKind, NormalizedEvent};
use crate::model::MessageKind;
use crate::store::StoreError;

/// One file of an inbound message.
struct Named {
    position: i64,
    kind: MessageKind,
    source: String,
    claimed_type: Option<String>,
    sha256: Option<String>,
    filename: Option<String>,
    animated: bool,
}

/// Records the files of newly stored customer messages.
pub async fn record_inbound<'a>(
    tx: &mut Transaction<'static, Any>,
    events: impl Iterator<Item = (&'a NormalizedEvent, &'a str, &'a str)>,
    now: Millis,
) -> Result<usize, StoreError> {
    let mut count = 0;
    for (e, provider, channel) in events {
        if e.kind != EventKind::Message
            || e.outbound
            || !e.msg_type.is_some_and(MessageKind::is_media)
        {
            continue;
        }
        let Some(detail) = &e.detail else { continue };
        for file in named(detail) {
            sqlx::query(
                "INSERT INTO media (id, event_key, position, direction, provider, channel, kind, source, claimed_type, \
                   claimed_sha256, filename, animated, state, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'in', $4, $5, $6, $7, $8, $9, $10, $12, 'pending', $11, $11, $11) \
                 ON CONFLICT (event_key, position) WHERE event_key IS NOT NULL DO NOTHING",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(&e.dedupe_key)
            .bind(file.position)
            .bind(provider)
            .bind(channel)
            .bind(file.kind.as_str())
            .bind(&file.source)
            .bind(&file.claimed_type)
            .bind(&file.sha256)
            .bind(&file.filename)
            .bind(now)
            .bind(i64::from(file.animated))
            .execute(&mut **tx)
            .await?;
            count += 1;
        }
    }
    if count > 0 {
        metrics::counter!("replydesk_media_pending_total").increment(count as u64);
    }
    Ok(count)
}

/// The files in a message's detail: Meta's one `{id, mime_type, sha256, …}`
/// under its type, or Twilio's `media` list of `{url, content_type}`.
fn named(detail: &Value) -> Vec<Named> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    for key in ["image", "audio", "voice", "video", "document", "sticker"] {
        if let Some(m) = detail.get(key)
            && let Some(id) = text(m, "id")
        {
            return vec![Named {
                position: 0,
                kind: MessageKind::parse(key).unwrap_or(MessageKind::Audio),
                source: id,
                claimed_type: text(m, "mime_type"),
                sha256: text(m, "sha256"),
                filename: text(m, "filename"),
                animated: m.get("animated").and_then(Value::as_bool).unwrap_or(false),
            }];
        }
    }
    let list = detail.get("media").and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, m)| {
            let claimed = text(m, "content_type");
            Some(Named {
                position: i64::try_from(i).unwrap_or_default(),
                kind: crate::providers::twilio::media_kind(claimed.as_deref().unwrap_or_default()),
                source: text(m, "url")?,
                claimed_type: claimed,
                sha256: None,
                filename: None,
                // Twilio does not say; the animated maximum is the one that holds for both.
                animated: true,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_meta_voice_note_names_its_media_id_and_hash() {
        let d = json!({"type": "audio", "audio": {"id": "1234", "mime_type": "audio/ogg; codecs=opus", "sha256": "abc", "voice": true}});
        let files = named(&d);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].source, "1234");
        assert_eq!(files[0].kind, MessageKind::Audio);
        assert_eq!(files[0].sha256.as_deref(), Some("abc"));
    }

    #[test]
    fn every_twilio_media_url_is_a_file_of_its_own_kind() {
        let d = json!({"media": [{"url": "https://api.twilio.com/a", "content_type": "image/jpeg"},
                                 {"url": "https://api.twilio.com/b", "content_type": "application/pdf"}]});
        let files = named(&d);
        assert_eq!(
            files.iter().map(|f| f.kind).collect::<Vec<_>>(),
            [MessageKind::Image, MessageKind::Document]
        );
        assert_eq!(files[1].position, 1);
    }
}
