//! WhatsApp Cloud API webhooks: signature check and normalization.
//!
//! Reference: Meta's "Webhooks" and "Webhooks components" pages for the
//! WhatsApp Cloud API. Every `entry[].changes[]` is read; messages, statuses,
//! `user_preferences` and `smb_message_echoes` become events, every other
//! change field becomes a notice. Unknown message types are kept with their
//! raw JSON, never rejected.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::clock::Millis;
use crate::contacts::identity::looks_like_user_id;
use crate::contacts::phone;
use crate::ids::short_hash;
use crate::ingest::event::{ContactRef, EventKind, Normalized, NormalizedEvent};
use crate::model::{DeliveryStatus, MessageKind};

/// Checks `X-Hub-Signature-256: sha256=<hex>` against HMAC-SHA256 of the raw
/// body with the app secret, in constant time.
pub fn verify_signature(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Computes the header value Meta would send, for tests and the load generator.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Normalizes a verified body. Never fails: what cannot be read is reported
/// in `problems`, and the caller keeps the body as a dead letter.
pub fn normalize(body: &[u8], received_at: Millis) -> Normalized {
    let mut out = Normalized::default();
    let root: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            out.problems.push(format!("body is not JSON: {e}"));
            return out;
        }
    };
    let object = root
        .get("object")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if object != "whatsapp_business_account" {
        out.problems.push(format!(
            "not a WhatsApp Business Account webhook: \"object\" is {:?}",
            root.get("object").cloned().unwrap_or(Value::Null)
        ));
        return out;
    }
    let Some(entries) = root.get("entry").and_then(Value::as_array) else {
        out.problems.push("no \"entry\" array".into());
        return out;
    };
    for (ei, entry) in entries.iter().enumerate() {
        let changes = entry
            .get("changes")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for (ci, change) in changes.iter().enumerate() {
            let at = format!("entry[{ei}].changes[{ci}]");
            Change {
                at: &at,
                change,
                received_at,
                out: &mut out,
            }
            .read();
        }
    }
    out
}

struct Change<'a> {
    at: &'a str,
    change: &'a Value,
    received_at: Millis,
    out: &'a mut Normalized,
}

impl Change<'_> {
    fn read(&mut self) {
        let field = self
            .change
            .get("field")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(value) = self.change.get("value").and_then(Value::as_object) else {
            self.out
                .problems
                .push(format!("{}: no \"value\" object", self.at));
            return;
        };
        let contacts = value
            .get("contacts")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut recognized = false;
        if let Some(messages) = value.get("messages").and_then(Value::as_array) {
            recognized = true;
            for (i, m) in messages.iter().enumerate() {
                self.message(m, contacts, false, &format!("{}.messages[{i}]", self.at));
            }
        }
        if let Some(echoes) = value.get("message_echoes").and_then(Value::as_array) {
            recognized = true;
            for (i, m) in echoes.iter().enumerate() {
                self.message(
                    m,
                    contacts,
                    true,
                    &format!("{}.message_echoes[{i}]", self.at),
                );
            }
        }
        if let Some(statuses) = value.get("statuses").and_then(Value::as_array) {
            recognized = true;
            for (i, s) in statuses.iter().enumerate() {
                self.status(s, &format!("{}.statuses[{i}]", self.at));
            }
        }
        if let Some(prefs) = value.get("user_preferences").and_then(Value::as_array) {
            recognized = true;
            for (i, p) in prefs.iter().enumerate() {
                self.preference(p, contacts, &format!("{}.user_preferences[{i}]", self.at));
            }
        }
        if !recognized
            || field != "messages" && field != "smb_message_echoes" && field != "user_preferences"
        {
            self.notice(field, value);
        }
    }

    fn message(&mut self, m: &Value, contacts: &[Value], echo: bool, at: &str) {
        let occurred_at = timestamp(m).unwrap_or(self.received_at);
        let id = str_of(m, "id");
        let Some(contact) = sender(m, contacts, echo) else {
            let who = if echo { "recipient" } else { "sender" };
            self.out.problems.push(format!(
                "{at}: {who} {:?} is neither a phone number nor a WhatsApp user id",
                str_of(m, if echo { "to" } else { "from" }).unwrap_or_default()
            ));
            return;
        };
        let key = match &id {
            Some(id) => format!("meta:m:{id}"),
            None => format!("meta:m:{}", short_hash("h", &[&m.to_string()])),
        };
        let kind = if echo {
            EventKind::Echo
        } else {
            EventKind::Message
        };
        let mut ev = NormalizedEvent::new(key, kind, occurred_at);
        ev.outbound = echo;
        ev.provider_id = id;
        ev.contact = Some(contact);
        ev.business_number = self
            .change
            .pointer("/value/metadata/phone_number_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        ev.context_id = m
            .pointer("/context/id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut detail = Map::new();
        fill_content(&mut ev, m, &mut detail);
        for key in ["referral", "context", "errors", "group_id"] {
            if let Some(v) = m.get(key) {
                detail.insert(key.into(), v.clone());
            }
        }
        if let Some(error) = m
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            ev.error_code = error.get("code").map(code_string);
            ev.error_title = str_of(error, "title");
        }
        ev.detail = (!detail.is_empty()).then_some(Value::Object(detail));
        self.out.events.push(ev);
    }

    fn status(&mut self, s: &Value, at: &str) {
        let Some(id) = str_of(s, "id") else {
            self.out
                .problems
                .push(format!("{at}: status without a message \"id\""));
            return;
        };
        let raw_status = str_of(s, "status").unwrap_or_default();
        let status = DeliveryStatus::parse(&raw_status).unwrap_or(DeliveryStatus::Unknown);
        let mut ev = NormalizedEvent::new(
            format!("meta:s:{id}:{raw_status}"),
            EventKind::Status,
            timestamp(s).unwrap_or(self.received_at),
        );
        ev.provider_id = Some(id);
        ev.status = Some(status);
        ev.outbound = true;
        let user_id = str_of(s, "recipient_user_id").filter(|u| looks_like_user_id(u));
        ev.contact = match str_of(s, "recipient_id") {
            Some(raw) => ContactRef::from_address(&raw, user_id),
            None => user_id.and_then(|u| ContactRef::from_address(&u, None)),
        };
        if let Some(error) = s
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            ev.error_code = error.get("code").map(code_string);
            ev.error_title = str_of(error, "title").or_else(|| str_of(error, "message"));
        }
        let mut detail = Map::new();
        if status == DeliveryStatus::Unknown {
            detail.insert("status".into(), Value::String(raw_status));
        }
        for key in [
            "errors",
            "conversation",
            "pricing",
            "biz_opaque_callback_data",
            "recipient_id",
            "recipient_type",
        ] {
            if let Some(v) = s.get(key) {
                detail.insert(key.into(), v.clone());
            }
        }
        ev.detail = (!detail.is_empty()).then_some(Value::Object(detail));
        self.out.events.push(ev);
    }

    fn preference(&mut self, p: &Value, contacts: &[Value], at: &str) {
        // Some deliveries name the customer only in the change's `contacts` block.
        let only_contact = (contacts.len() == 1).then(|| &contacts[0]);
        let field =
            |key: &str| str_of(p, key).or_else(|| only_contact.and_then(|c| str_of(c, key)));
        let number = field("wa_id").and_then(|w| phone::from_wa_id(&w));
        let phone = number.as_ref().map(|n| n.e164.clone());
        let user_id = field("user_id").filter(|u| looks_like_user_id(u));
        if phone.is_none() && user_id.is_none() {
            self.out.problems.push(format!(
                "{at}: preference change without a valid wa_id or user_id"
            ));
            return;
        }
        let name = contacts
            .iter()
            .find(|c| {
                phone.is_some()
                    && str_of(c, "wa_id")
                        .and_then(|w| phone::from_wa_id(&w))
                        .map(|n| n.e164)
                        == phone
            })
            .and_then(|c| {
                c.pointer("/profile/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        let value = str_of(p, "value").unwrap_or_default();
        let category = str_of(p, "category").unwrap_or_default();
        let occurred_at = timestamp(p).unwrap_or(self.received_at);
        let who = phone
            .clone()
            .or_else(|| user_id.clone())
            .unwrap_or_default();
        let mut ev = NormalizedEvent::new(
            format!("meta:p:{who}:{category}:{value}:{occurred_at}"),
            EventKind::Preference,
            occurred_at,
        );
        ev.contact = Some(ContactRef {
            phone,
            wa_id: number.map(|n| n.wa_id),
            user_id,
            name,
        });
        ev.payload = Some(value);
        ev.title = Some(category);
        ev.body = str_of(p, "detail");
        ev.detail = Some(p.clone());
        self.out.events.push(ev);
    }

    fn notice(&mut self, field: &str, value: &Map<String, Value>) {
        let raw = Value::Object(value.clone());
        let mut ev = NormalizedEvent::new(
            format!("meta:n:{}", short_hash("h", &[field, &raw.to_string()])),
            EventKind::Notice,
            timestamp(&raw).unwrap_or(self.received_at),
        );
        ev.title = Some(if field.is_empty() {
            "unknown".into()
        } else {
            field.into()
        });
        if let Some(error) = value
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            ev.error_code = error.get("code").map(code_string);
            ev.error_title = str_of(error, "title");
        }
        ev.body = str_of(&raw, "event").or_else(|| str_of(&raw, "message_template_name"));
        ev.detail = Some(raw);
        self.out.events.push(ev);
    }
}

/// Who sent an inbound message (or received an echo), from the message and
/// the change's `contacts` list.
fn sender(m: &Value, contacts: &[Value], echo: bool) -> Option<ContactRef> {
    let (addr, user_key) = if echo {
        ("to", "to_user_id")
    } else {
        ("from", "from_user_id")
    };
    let raw = str_of(m, addr);
    let user_id = str_of(m, user_key)
        .or_else(|| raw.clone().filter(|r| looks_like_user_id(r)))
        .filter(|u| looks_like_user_id(u));
    let profile = contacts.iter().find(|c| {
        let wa = str_of(c, "wa_id");
        let uid = str_of(c, "user_id");
        (raw.is_some() && wa == raw) || (user_id.is_some() && uid == user_id)
    });
    let user_id = user_id.or_else(|| {
        profile
            .and_then(|c| str_of(c, "user_id"))
            .filter(|u| looks_like_user_id(u))
    });
    let mut contact = match &raw {
        Some(raw) => ContactRef::from_address(raw, user_id)?,
        None => ContactRef::from_address(&user_id?, None)?,
    };
    contact.name = if echo {
        None
    } else {
        profile
            .and_then(|c| c.pointer("/profile/name"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Some(contact)
}

/// Fills type, text, payload and title from the typed part of a message.
fn fill_content(ev: &mut NormalizedEvent, m: &Value, detail: &mut Map<String, Value>) {
    let raw_type = str_of(m, "type").unwrap_or_default();
    let part = m.get(raw_type.as_str());
    let text_at = |p: &str| m.pointer(p).and_then(Value::as_str).map(str::to_string);
    let kind = match raw_type.as_str() {
        "text" => {
            ev.body = text_at("/text/body");
            MessageKind::Text
        }
        "button" => {
            ev.payload = text_at("/button/payload");
            ev.title = text_at("/button/text");
            ev.body.clone_from(&ev.title);
            MessageKind::Button
        }
        "interactive" => {
            interactive(ev, m, detail);
            MessageKind::Interactive
        }
        "reaction" => {
            ev.body = text_at("/reaction/emoji").filter(|e| !e.is_empty());
            ev.context_id = text_at("/reaction/message_id").or(ev.context_id.take());
            MessageKind::Reaction
        }
        "image" | "audio" | "video" | "document" | "sticker" | "voice" => {
            ev.body = part.and_then(|p| str_of(p, "caption"));
            ev.title = part.and_then(|p| str_of(p, "filename"));
            MessageKind::parse(&raw_type).unwrap_or(MessageKind::Audio)
        }
        "location" => {
            ev.title = part.and_then(|p| str_of(p, "name").or_else(|| str_of(p, "address")));
            MessageKind::Location
        }
        "contacts" => MessageKind::Contacts,
        "order" => {
            ev.body = text_at("/order/text");
            MessageKind::Order
        }
        "system" => {
            ev.body = text_at("/system/body");
            MessageKind::System
        }
        "edit" => {
            // The customer edited an earlier message: classify the new text.
            ev.context_id = text_at("/edit/original_message_id");
            ev.body =
                text_at("/edit/message/text/body").or_else(|| text_at("/edit/message/caption"));
            m.pointer("/edit/message/type")
                .and_then(Value::as_str)
                .and_then(MessageKind::parse)
                .unwrap_or(MessageKind::Text)
        }
        "unsupported" => MessageKind::Unsupported,
        _ => MessageKind::Unknown,
    };
    ev.msg_type = Some(kind);
    if !matches!(kind, MessageKind::Text | MessageKind::Button) {
        detail.insert("type".into(), Value::String(raw_type.clone()));
        if kind == MessageKind::Unknown {
            detail.insert("message".into(), m.clone());
        } else if let Some(p) = part {
            detail.insert(raw_type, p.clone());
        }
    }
}

fn interactive(ev: &mut NormalizedEvent, m: &Value, detail: &mut Map<String, Value>) {
    let sub = m
        .pointer("/interactive/type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let reply = m.pointer(&format!("/interactive/{sub}"));
    ev.payload = reply.and_then(|r| str_of(r, "id"));
    ev.title = reply.and_then(|r| str_of(r, "title"));
    ev.body = ev
        .title
        .clone()
        .or_else(|| reply.and_then(|r| str_of(r, "body")));
    if sub == "nfm_reply" {
        // Flow replies carry their answers as a JSON string.
        if let Some(raw) = reply
            .and_then(|r| r.get("response_json"))
            .and_then(Value::as_str)
        {
            let parsed =
                serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
            detail.insert("response".into(), parsed);
        }
    }
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn code_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Meta sends Unix seconds, as a string or a number.
fn timestamp(v: &Value) -> Option<Millis> {
    let secs: i64 = match v.get("timestamp")? {
        Value::String(s) => s.trim().parse().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    (0..=32_503_680_000).contains(&secs).then_some(secs * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let header = sign("s3cret", b"{}");
        assert!(verify_signature("s3cret", b"{}", Some(&header)));
        assert!(!verify_signature("other", b"{}", Some(&header)));
        assert!(!verify_signature("s3cret", b"{ }", Some(&header)));
        assert!(!verify_signature("s3cret", b"{}", None));
        assert!(!verify_signature("s3cret", b"{}", Some("sha256=zz")));
    }

    #[test]
    fn a_body_that_is_not_json_is_a_problem_not_a_panic() {
        let n = normalize(b"not json", 0);
        assert!(n.events.is_empty());
        assert!(n.problems[0].contains("not JSON"));
    }
}
