//! The messaging providers, one module each, that both receive (webhook
//! signatures and parsing) and send (the send API, template lists, the
//! meaning of their error codes). What is common to sending lives here: the
//! message to send, and what the provider's answer means for the desk.
//!
//! The provider-neutral event model and the writer stay in `ingest`.

pub mod meta;
pub mod twilio;

use std::time::Duration;

/// Who a message goes to, as the provider addresses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// The WhatsApp id the provider sent us (digits), not a reformatted number.
    WaId(String),
    /// Meta's business-scoped user id, for a customer known only by it.
    UserId(String),
}

/// What is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text {
        body: String,
    },
    Template {
        name: String,
        language: String,
        /// Body parameters in order (`{{1}}`, `{{2}}`, …).
        parameters: Vec<String>,
        /// Twilio's Content SID (`HX…`); Meta sends templates by name.
        provider_ref: Option<String>,
    },
    /// An image or a document the agent attached.
    Media {
        kind: crate::model::MessageKind,
        /// Meta: the id the upload answered; Twilio: the signed URL it fetches.
        link: String,
        caption: Option<String>,
        filename: Option<String>,
    },
}

/// One message for a provider's send API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The business number the customer wrote to: Meta's `phone_number_id`,
    /// Twilio's `whatsapp:+…` address.
    pub from: String,
    pub to: Recipient,
    pub content: Content,
    /// The customer's message this answers (Meta `context.message_id`).
    pub reply_to: Option<String>,
}

/// What the provider's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Accepted, with the provider's id for the message (wamid, SID).
    Accepted { provider_id: String },
    /// Not accepted, and the provider says trying again later may work
    /// (throughput limits, temporary errors, 5xx, nothing listening).
    Retry {
        code: Option<String>,
        reason: String,
        after: Option<Duration>,
    },
    /// Not accepted and will not be: the reason in words.
    Refused {
        code: Option<String>,
        reason: String,
    },
    /// The request may have reached the provider (a timeout after it was
    /// written, a broken answer): nobody knows whether it was sent, so it
    /// must not be sent again without a person deciding.
    Unknown { reason: String },
}

/// The HTTP client for the providers: rustls, a short connect timeout (a
/// provider that does not answer the connection was certainly not sent
/// anything) and an overall timeout (after which the outcome is unknown).
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("replydesk/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// What a transport failure means: before the request was written it is
/// safe to try again; after, the outcome is unknown.
pub fn transport_failure(provider: &str, error: &reqwest::Error) -> Sent {
    if error.is_connect() {
        return Sent::Retry {
            code: None,
            reason: format!(
                "{provider} could not be reached ({}); nothing was sent",
                root(error)
            ),
            after: None,
        };
    }
    if error.is_builder() {
        return Sent::Refused {
            code: None,
            reason: format!(
                "the request to {provider} could not be built: {}",
                root(error)
            ),
        };
    }
    let what = if error.is_timeout() {
        "no answer in time"
    } else {
        "the answer broke off"
    };
    Sent::Unknown {
        reason: format!(
            "{what} after the message was handed to {provider} ({}); it may or may not have been sent",
            root(error)
        ),
    }
}

/// The innermost cause, which says what happened (refused, reset, …).
fn root(error: &(dyn std::error::Error + 'static)) -> String {
    let mut e: &dyn std::error::Error = error;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string()
}

/// `Retry-After` in seconds, when the provider sent one.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Why a media file could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Trying again later may work (5xx, rate limits, timeouts).
    #[error("{0}")]
    Temporary(String),
    /// The short-lived download URL is no longer valid: ask for a new one.
    #[error("the download link expired")]
    Expired,
    /// It will not work however often it is tried.
    #[error("{0}")]
    Permanent(String),
}

impl FetchError {
    /// A transport error, in words that never carry the URL (Meta's media
    /// URLs and Twilio's redirects are credentials of a kind).
    pub fn transport(provider: &str, error: reqwest::Error) -> FetchError {
        let what = if error.is_timeout() {
            "no answer in time".to_string()
        } else {
            root(&error.without_url())
        };
        FetchError::Temporary(format!("{provider} could not be read ({what})"))
    }
}

/// Reads an answer's body, refusing it as soon as it grows past `max` bytes
/// (a `Content-Length` above it is refused before reading).
pub async fn read_limited(
    provider: &str,
    mut response: reqwest::Response,
    max: u64,
) -> Result<Vec<u8>, FetchError> {
    if let Some(length) = response.content_length()
        && length > max
    {
        return Err(too_large(length, max));
    }
    let mut out = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                out.extend_from_slice(&chunk);
                if out.len() as u64 > max {
                    return Err(too_large(out.len() as u64, max));
                }
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(FetchError::transport(provider, e)),
        }
    }
}

/// A file over its type's maximum.
pub fn too_large(size: u64, max: u64) -> FetchError {
    FetchError::Permanent(format!(
        "the file is larger than WhatsApp allows for its type ({} > {}); not kept",
        crate::media::human_size(size),
        crate::media::human_size(max)
    ))
}

/// A template as a provider lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTemplate {
    /// Meta's template id or Twilio's Content SID.
    pub provider_id: String,
    pub name: String,
    pub language: String,
    /// `marketing`, `utility`, `authentication`, or what the provider said.
    pub category: String,
    /// `approved`, `pending`, `rejected`, `paused`, `disabled`, …
    pub status: String,
    /// The body text with its `{{1}}` placeholders.
    pub body: String,
}

/// Why templates could not be listed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ListError(pub String);
