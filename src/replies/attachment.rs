//! An agent's attachment: an image (JPEG, PNG) or a document (PDF, text,
//! Word, Excel, PowerPoint) with an optional caption. Its type is detected
//! from the bytes; it is kept as an outbound media row before the reply is
//! queued, and the sender hands it to the provider (Meta: upload, then send
//! by id; Twilio: an expiring signed link under the desk's `public_url`).

use sha2::{Digest, Sha256};
use sqlx::{Any, Transaction};

use super::ReplyError;
use crate::clock::Millis;
use crate::media::{self, FileStore, Kept};
use crate::model::{MessageKind, Provider};
use crate::store::StoreResult;

/// A file as the agent's browser sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// What WhatsApp takes as an agent's document (Meta's supported types).
const DOCUMENTS: &[&str] = &[
    "application/pdf",
    "text/plain",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

/// A caption's most characters (Meta).
pub const CAPTION_MAX: usize = 1024;

/// The kind and detected type of an upload, or why it cannot be sent.
pub fn check(upload: &Upload, provider: Provider) -> Result<(MessageKind, String), ReplyError> {
    let invalid = |message: String| ReplyError::Invalid {
        field: "file",
        message,
    };
    if upload.bytes.is_empty() {
        return Err(invalid("choose a file first".into()));
    }
    let detected = media::detect(&upload.bytes);
    let kind = match detected.mime.as_str() {
        "image/jpeg" | "image/png" => MessageKind::Image,
        m if DOCUMENTS.contains(&m) => MessageKind::Document,
        m => {
            return Err(invalid(format!(
                "this file is {m}; WhatsApp takes images (JPEG, PNG) and documents (PDF, text, Word, Excel, PowerPoint)"
            )));
        }
    };
    let max = media::max_bytes(provider, kind, false);
    let size = upload.bytes.len() as u64;
    if size > max {
        return Err(invalid(format!(
            "the file is {}; {} takes at most {} for {}",
            media::human_size(size),
            match provider {
                Provider::Meta => "WhatsApp",
                Provider::Twilio => "WhatsApp through Twilio",
            },
            media::human_size(max),
            if kind == MessageKind::Image {
                "an image"
            } else {
                "a document"
            }
        )));
    }
    Ok((kind, detected.mime))
}

/// Keeps the file's bytes (before the reply is queued) and answers its media id.
pub async fn keep(files: &FileStore, upload: &Upload, mime: &str) -> StoreResult<(String, Kept)> {
    let id = uuid::Uuid::now_v7().to_string();
    let thumbnail = if mime.starts_with("image/") {
        let image = upload.bytes.clone();
        // A decoder that panics costs the thumbnail, never the file.
        tokio::task::spawn_blocking(move || crate::media::thumbnail(&image))
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let kept = files.put(&id, upload.bytes.clone(), thumbnail).await?;
    Ok((id, kept))
}

/// The media row of a kept attachment, in the reply's transaction.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    provider: Provider,
    channel: &str,
    kind: MessageKind,
    upload: &Upload,
    mime: &str,
    kept: Kept,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO media (id, direction, provider, channel, kind, claimed_type, filename, state, detected_type, size, \
           sha256, stored_in, has_thumbnail, next_attempt_at, created_at, updated_at) \
         VALUES ($1, 'out', $2, $3, $4, $5, $6, 'stored', $5, $7, $8, $9, $10, $11, $11, $11)",
    )
    .bind(id)
    .bind(provider.as_str())
    .bind(channel)
    .bind(kind.as_str())
    .bind(mime)
    .bind(&upload.filename)
    .bind(i64::try_from(upload.bytes.len()).unwrap_or(i64::MAX))
    .bind(hex::encode(Sha256::digest(&upload.bytes)))
    .bind(kept.place)
    .bind(i64::from(kept.thumbnail))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(bytes: &[u8]) -> Upload {
        Upload {
            filename: "x".into(),
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn a_pdf_is_a_document_and_html_is_refused_whatever_its_name() {
        let (kind, mime) = check(&upload(b"%PDF-1.7\n1 0 obj"), Provider::Meta).unwrap();
        assert_eq!(
            (kind, mime.as_str()),
            (MessageKind::Document, "application/pdf")
        );
        let html = check(&upload(b"<html><script>x</script></html>"), Provider::Meta);
        assert!(matches!(
            html,
            Err(ReplyError::Invalid { field: "file", .. })
        ));
    }

    #[test]
    fn an_image_over_five_megabytes_is_refused_before_it_is_kept() {
        let mut big = vec![0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
        big.resize(5 * 1024 * 1024 + 1, 0);
        match check(&upload(&big), Provider::Meta) {
            Err(ReplyError::Invalid {
                field: "file",
                message,
            }) => assert!(message.contains("5.0 MB"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
