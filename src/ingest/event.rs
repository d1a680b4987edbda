//! The internal event model every provider payload is normalized into.

use serde::Serialize;

use crate::classify::Classification;
use crate::clock::Millis;
use crate::contacts::identity::{id_for_phone, id_for_user, looks_like_user_id};
use crate::contacts::phone;
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
    /// Canonical E.164, with the leading `+`.
    pub phone: Option<String>,
    /// The WhatsApp id the provider used (digits), kept to address replies.
    pub wa_id: Option<String>,
    /// Meta's business-scoped user id (`US.1234…`), when the provider sent one.
    pub user_id: Option<String>,
    pub name: Option<String>,
}

impl ContactRef {
    /// A contact named by a WhatsApp address as a provider wrote it: a
    /// phone number, or else a business-scoped user id; `None` for neither.
    pub fn from_address(raw: &str, user_id: Option<String>) -> Option<ContactRef> {
        let number = phone::from_wa_id(raw);
        let user_id = user_id
            .or_else(|| {
                (number.is_none() && looks_like_user_id(raw)).then(|| raw.trim().to_string())
            })
            .filter(|u| looks_like_user_id(u));
        if number.is_none() && user_id.is_none() {
            return None;
        }
        Some(ContactRef {
            phone: number.as_ref().map(|n| n.e164.clone()),
            wa_id: number.map(|n| n.wa_id),
            user_id,
            name: None,
        })
    }

    /// The contact's key: derived from the phone number when there is one,
    /// else from the user id. Deterministic, so concurrent writers agree, and
    /// opaque, so phone numbers stay out of URLs and logs. The writer fills
    /// in the phone of a user id that a phone contact already carries.
    pub fn contact_id(&self) -> Option<String> {
        match (&self.phone, &self.user_id) {
            (Some(phone), _) => Some(id_for_phone(phone)),
            (None, Some(user)) => Some(id_for_user(user)),
            (None, None) => None,
        }
    }
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
    /// The business number the customer wrote to (Meta's `phone_number_id`,
    /// Twilio's `whatsapp:+…` To): a reply leaves from it.
    pub business_number: Option<String>,
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
            business_number: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_a_number_or_else_a_user_id() {
        let number = ContactRef::from_address("5215512345678", None).unwrap();
        assert_eq!(number.phone.as_deref(), Some("+525512345678"));
        assert_eq!(number.wa_id.as_deref(), Some("5215512345678"));
        let user = ContactRef::from_address("US.13491208655302741918", None).unwrap();
        assert_eq!(
            (user.phone, user.user_id.as_deref()),
            (None, Some("US.13491208655302741918"))
        );
        let both = ContactRef::from_address("16315551234", Some("US.1234".into())).unwrap();
        assert_eq!(both.contact_id(), Some(id_for_phone("+16315551234")));
        assert_eq!(ContactRef::from_address("WHATSAPP_ID", None), None);
    }
}
