//! Media through the Cloud API. A customer's file is fetched in two steps:
//! `GET {graph_url}/{media_id}` answers a short-lived `url` (with
//! `mime_type`, `sha256` and `file_size`), and that URL is read with the
//! same bearer token before it expires. An agent's file is uploaded with
//! `POST {graph_url}/{phone_number_id}/media` (multipart: `messaging_product`,
//! `type`, `file`) and sent by the `id` the upload answers.

use serde::Deserialize;

use super::send::Client;
use crate::providers::{FetchError, Sent, read_limited, transport_failure};

/// What Meta says about a media id.
#[derive(Debug, Clone, Deserialize)]
pub struct MediaInfo {
    pub url: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// Meta sends it as a number; some examples show a string.
    #[serde(default, deserialize_with = "number_or_string")]
    pub file_size: Option<u64>,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

#[derive(Deserialize)]
struct Uploaded {
    id: String,
}

impl Client {
    /// The download URL and facts of a customer's media id.
    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, FetchError> {
        let url = format!("{}/{media_id}", self.graph_url.trim_end_matches('/'));
        let response = self
            .http
            .get(url)
            .bearer_auth(self.access_token.expose())
            .send()
            .await
            .map_err(|e| FetchError::transport("Meta", e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| FetchError::transport("Meta", e))?;
        if !status.is_success() {
            return Err(lookup_error(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| {
            FetchError::Permanent(format!(
                "Meta's answer about the media is not as documented: {e}"
            ))
        })
    }

    /// Reads the file behind a URL from [`Client::media_info`], at most `max` bytes.
    pub async fn download(&self, url: &str, max: u64) -> Result<Vec<u8>, FetchError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(self.access_token.expose())
            .send()
            .await
            .map_err(|e| FetchError::transport("Meta", e))?;
        let status = response.status();
        match status.as_u16() {
            200..=299 => read_limited("Meta", response, max).await,
            // The link lives about five minutes: a new one is asked for.
            401 | 403 | 404 | 410 => Err(FetchError::Expired),
            429 | 500..=599 => Err(FetchError::Temporary(format!(
                "Meta's media server answered {status}"
            ))),
            _ => Err(FetchError::Permanent(format!(
                "Meta's media server answered {status}"
            ))),
        }
    }

    /// Uploads an agent's file for `phone_number_id`; answers its media id.
    /// Nothing reaches the customer yet, so any failure may be tried again.
    pub async fn upload(
        &self,
        phone_number_id: &str,
        bytes: Vec<u8>,
        mime: &str,
        filename: &str,
    ) -> Result<String, Sent> {
        let url = format!(
            "{}/{phone_number_id}/media",
            self.graph_url.trim_end_matches('/')
        );
        let part = match reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str(mime)
        {
            Ok(p) => p,
            Err(_) => {
                return Err(Sent::Refused {
                    code: None,
                    reason: format!("{mime:?} is not a media type Meta takes"),
                });
            }
        };
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.to_string())
            .part("file", part);
        let response = self
            .http
            .post(url)
            .bearer_auth(self.access_token.expose())
            .multipart(form)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return Err(uploading(transport_failure("Meta", &e))),
        };
        let status = response.status();
        let after = crate::providers::retry_after(response.headers());
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Err(uploading(transport_failure("Meta", &e))),
        };
        if status.is_success()
            && let Ok(u) = serde_json::from_str::<Uploaded>(&text)
        {
            return Ok(u.id);
        }
        Err(uploading(super::send::refusal(status, &text, after)))
    }
}

/// An upload that may or may not have arrived sent nothing to the customer:
/// it is tried again rather than left for a person.
fn uploading(sent: Sent) -> Sent {
    match sent {
        Sent::Unknown { reason } => Sent::Retry {
            code: None,
            reason: format!("the upload of the file did not finish: {reason}"),
            after: None,
        },
        Sent::Retry {
            code,
            reason,
            after,
        } => Sent::Retry {
            code,
            reason: format!("the file could not be uploaded yet: {reason}"),
            after,
        },
        Sent::Refused { code, reason } => Sent::Refused {
            code,
            reason: format!("Meta refused the file: {reason}"),
        },
        accepted @ Sent::Accepted { .. } => accepted,
    }
}

/// What a failed media lookup means.
fn lookup_error(status: reqwest::StatusCode, text: &str) -> FetchError {
    let code = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.pointer("/error/code").and_then(serde_json::Value::as_i64));
    let message = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    if matches!(status.as_u16(), 429 | 500..=599)
        || matches!(code, Some(1 | 2 | 4 | 80007 | 130429 | 131016))
    {
        return FetchError::Temporary(format!(
            "Meta answered {status} for the media id; trying again"
        ));
    }
    let why = match code {
        Some(190) => "the channel's access token was refused (Meta 190); renew it in the settings"
            .to_string(),
        Some(100) => {
            format!("Meta does not know this media id or it was deleted (Meta 100: {message})")
        }
        Some(c) => format!("Meta refused the media lookup (Meta {c}: {message})"),
        None => format!("Meta answered {status} for the media id"),
    };
    FetchError::Permanent(why)
}
