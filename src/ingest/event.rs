//! The internal event model every provider payload is normalized into.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::classify::Classification;
use crate::clock::Millis;
use crate::model::{DeliveryStatus, MessageKind};

/// What an event is, independent of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A customer's message to the business.
    Message,
    /// A delivery status of a message the business sent.
    Status,
    /// A message the business sent from the WhatsApp Business app (coexistence).
    Echo,
    /// A customer's marketing preference change reported by the provider.
    Preference,
    /// Anything else the provider posts (template and account updates, calls,
    /// value-level errors, unknown fields): kept, no action.
    Notice,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::Status => "status",
            EventKind::Echo => "echo",
            EventKind::Preference => "preference",
            EventKind::Notice => "notice",
        }
    }
}

/// Who the event is about, as the provider identified them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactRef {
    /// E.164, with the leading `+`.
    pub phone: Option<String>,
    /// Meta's business-scoped user id (`US.1234…`), when the provider sent one.
    pub user_id: Option<String>,
    pub name: Option<String>,
}

impl ContactRef {
    /// The contact's key: derived from the phone number when there is one,
    /// else from the user id. Deterministic, so concurrent writers agree, and
    /// opaque, so phone numbers stay out of URLs and logs.
    pub fn contact_id(&self) -> Option<String> {
        match (&self.phone, &self.user_id) {
            (Some(phone), _) => Some(contact_id_for_phone(phone)),
            (None, Some(user)) => Some(contact_id_for_user(user)),
            (None, None) => None,
        }
    }
}

pub fn contact_id_for_phone(e164: &str) -> String {
    short_hash("c", &["phone", e164])
}

pub fn contact_id_for_user(user_id: &str) -> String {
    short_hash("c", &["user", user_id])
}

/// `prefix_` + 20 hex digits of sha256 over the parts.
pub(crate) fn short_hash(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    format!("{prefix}_{}", &hex::encode(digest)[..20])
}

/// One normalized event, ready to store.
#[derive(Debug, Clone)]
pub struct NormalizedEvent {
    /// Unique per provider event: a retry carries the same key and changes nothing.
    pub dedupe_key: String,
    pub kind: EventKind,
    pub outbound: bool,
    pub provider_id: Option<String>,
    pub contact: Option<ContactRef>,
    pub occurred_at: Millis,
    pub msg_type: Option<MessageKind>,
    pub body: Option<String>,
    pub payload: Option<String>,
    pub title: Option<String>,
    pub context_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub error_code: Option<String>,
    pub error_title: Option<String>,
    pub detail: Option<serde_json::Value>,
    pub classification: Option<Classification>,
}

impl NormalizedEvent {
    pub fn new(dedupe_key: String, kind: EventKind, occurred_at: Millis) -> NormalizedEvent {
        NormalizedEvent {
            dedupe_key,
            kind,
            outbound: false,
            provider_id: None,
            contact: None,
            occurred_at,
            msg_type: None,
            body: None,
            payload: None,
            title: None,
            context_id: None,
            status: None,
            error_code: None,
            error_title: None,
            detail: None,
            classification: None,
        }
    }

    /// An inbound customer message: the only kind that is classified and routed.
    pub fn is_reply(&self) -> bool {
        self.kind == EventKind::Message && !self.outbound
    }
}

/// The result of normalizing one webhook body.
#[derive(Debug, Default)]
pub struct Normalized {
    pub events: Vec<NormalizedEvent>,
    /// Parts of the body that could not be normalized, each with its reason.
    /// Any problem keeps the whole body as a dead letter.
    pub problems: Vec<String>,
}

/// Checks a WhatsApp id as the providers send it (`wa_id`, `from`,
/// `whatsapp:+…`): already international, so only digits and length are
/// checked, and a `+` is added. Human-typed numbers go through
/// [`crate::contacts::parse_phone`] instead.
pub fn wa_id_to_e164(raw: &str) -> Option<String> {
    let digits = raw.trim().trim_start_matches('+');
    // E.164 numbers run from 7 digits (small territories) to 15.
    let ok = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

/// A Meta business-scoped user id: `CC.digits`, sometimes with more dotted parts.
pub fn looks_like_user_id(raw: &str) -> bool {
    let raw = raw.trim();
    raw.len() <= 128
        && raw.contains('.')
        && raw
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wa_ids_become_e164() {
        assert_eq!(
            wa_id_to_e164("16315551234").as_deref(),
            Some("+16315551234")
        );
        assert_eq!(
            wa_id_to_e164("+31612345678").as_deref(),
            Some("+31612345678")
        );
        assert_eq!(wa_id_to_e164("3170"), None);
        assert_eq!(wa_id_to_e164("WHATSAPP_ID"), None);
        assert_eq!(wa_id_to_e164("US.1234"), None);
    }

    #[test]
    fn user_ids_are_recognized() {
        assert!(looks_like_user_id("US.13491208655302741918"));
        assert!(looks_like_user_id("US.ENT.11815799212886844830"));
        assert!(!looks_like_user_id("foo_bar"));
        assert!(!looks_like_user_id("16315551234"));
    }

    #[test]
    fn contact_ids_are_stable_and_opaque() {
        let a = ContactRef {
            phone: Some("+16315551234".into()),
            ..ContactRef::default()
        };
        let id = a.contact_id().unwrap();
        assert_eq!(id, a.contact_id().unwrap());
        assert!(!id.contains("6315551234"));
    }
}
