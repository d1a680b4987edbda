//! Twilio WhatsApp webhooks: `X-Twilio-Signature` and normalization of the
//! form-encoded inbound message and status callback bodies.
//!
//! Reference: Twilio's "Webhooks security" page: the signature is
//! Base64(HMAC-SHA1(auth token, full URL + every POST parameter's name and
//! value, sorted by name)). Validators also try the URL with the default
//! port added or removed, because proxies differ on it. Status callbacks
//! carry no event time, so the receive time stands in for it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::clock::Millis;
use crate::ingest::event::{ContactRef, EventKind, Normalized, NormalizedEvent};
use crate::model::{DeliveryStatus, MessageKind};

pub type Params = Vec<(String, String)>;

/// Decodes a form body. Bad UTF-8 is replaced, never rejected.
pub fn parse_form(body: &[u8]) -> Params {
    form_urlencoded_pairs(body)
}

fn form_urlencoded_pairs(body: &[u8]) -> Params {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(body);
        serde_urlencoded::from_str::<Vec<(String, String)>>(&text).unwrap_or_default()
    })
}

/// The string Twilio signs: the URL, then each parameter name and value,
/// sorted by name and then by value.
fn signing_string(url: &str, params: &Params) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut out = String::from(url);
    for (k, v) in sorted {
        out.push_str(k);
        out.push_str(v);
    }
    out
}

fn mac(token: &str, data: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The header value Twilio would send for `url` and `params`.
pub fn sign(token: &str, url: &str, params: &Params) -> String {
    STANDARD.encode(mac(token, &signing_string(url, params)))
}

/// Verifies a request. `url` is the full URL Twilio requested (the channel's
/// public URL plus the query string). A JSON body is covered by the
/// `bodySHA256` query parameter instead of the form parameters.
pub fn verify_signature(
    token: &str,
    url: &str,
    body: &[u8],
    is_form: bool,
    header: Option<&str>,
) -> bool {
    let Some(given) = header.and_then(|h| STANDARD.decode(h.trim()).ok()) else {
        return false;
    };
    let params = if is_form {
        parse_form(body)
    } else {
        Params::new()
    };
    if !is_form && !body_hash_matches(url, body) {
        return false;
    }
    url_variants(url).iter().any(|candidate| {
        let Ok(mut m) = Hmac::<Sha1>::new_from_slice(token.as_bytes()) else {
            return false;
        };
        m.update(signing_string(candidate, &params).as_bytes());
        m.verify_slice(&given).is_ok()
    })
}

fn body_hash_matches(url: &str, body: &[u8]) -> bool {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let given = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v);
    given.is_some_and(|g| g.eq_ignore_ascii_case(&hex::encode(Sha256::digest(body))))
}

/// The URL as given, with its default port removed, and with it added.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            out.push(format!("{scheme}://{host}{tail}"));
            host
        }
        _ => authority,
    };
    out.push(format!("{scheme}://{host}:{default_port}{tail}"));
    out.dedup();
    out
}

/// Normalizes a verified form body.
pub fn normalize(params: &Params, received_at: Millis) -> Normalized {
    let mut out = Normalized::default();
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let Some(sid) = get("MessageSid")
        .or_else(|| get("SmsMessageSid"))
        .or_else(|| get("SmsSid"))
    else {
        out.problems
            .push("no MessageSid: not a Twilio message or status callback".into());
        return out;
    };
    let status = get("MessageStatus").or_else(|| get("SmsStatus"));
    match status {
        Some(s) if !s.eq_ignore_ascii_case("received") => {
            out.events.push(status_event(sid, s, &get, received_at))
        }
        _ => match message_event(sid, &get, params, received_at) {
            Ok(ev) => out.events.push(ev),
            Err(problem) => out.problems.push(problem),
        },
    }
    out
}

/// A `whatsapp:+…` address (or a user id) as the contact it names.
fn address(raw: &str) -> Option<ContactRef> {
    ContactRef::from_address(raw.strip_prefix("whatsapp:").unwrap_or(raw), None)
}

fn status_event<'a>(
    sid: &str,
    raw: &str,
    get: &impl Fn(&str) -> Option<&'a str>,
    received_at: Millis,
) -> NormalizedEvent {
    let status = match raw.to_ascii_lowercase().as_str() {
        "accepted" | "scheduled" | "queued" | "sending" => DeliveryStatus::Queued,
        "undelivered" => DeliveryStatus::Failed,
        other => DeliveryStatus::parse(other).unwrap_or(DeliveryStatus::Unknown),
    };
    let mut ev = NormalizedEvent::new(
        format!("twilio:s:{sid}:{}", raw.to_ascii_lowercase()),
        EventKind::Status,
        received_at,
    );
    ev.provider_id = Some(sid.to_string());
    ev.status = Some(status);
    ev.outbound = true;
    ev.contact = get("To").and_then(address);
    ev.error_code = get("ErrorCode").map(str::to_string);
    ev.error_title = get("ErrorMessage").map(str::to_string);
    let mut detail = Map::new();
    detail.insert("status".into(), Value::String(raw.to_string()));
    for key in ["ChannelPrefix", "EventType", "ChannelToAddress"] {
        if let Some(v) = get(key) {
            detail.insert(key.into(), Value::String(v.to_string()));
        }
    }
    ev.detail = Some(Value::Object(detail));
    ev
}

fn message_event<'a>(
    sid: &str,
    get: &impl Fn(&str) -> Option<&'a str>,
    params: &Params,
    received_at: Millis,
) -> Result<NormalizedEvent, String> {
    let from = get("From").unwrap_or_default();
    let Some(mut contact) = address(from) else {
        return Err(format!(
            "message {sid}: sender {from:?} is neither a phone number nor a WhatsApp user id"
        ));
    };
    if contact.user_id.is_none() {
        contact.user_id = get("ExternalUserId")
            .and_then(address)
            .and_then(|c| c.user_id);
    }
    contact.name = get("ProfileName").map(str::to_string);
    let mut ev = NormalizedEvent::new(format!("twilio:m:{sid}"), EventKind::Message, received_at);
    ev.provider_id = Some(sid.to_string());
    ev.contact = Some(contact);
    ev.business_number = get("To").map(str::to_string);
    ev.body = get("Body").map(str::to_string);
    ev.context_id = get("OriginalRepliedMessageSid").map(str::to_string);
    ev.payload = get("ButtonPayload").map(str::to_string);
    ev.title = get("ButtonText").map(str::to_string);
    let media_count: usize = get("NumMedia").and_then(|n| n.parse().ok()).unwrap_or(0);
    let mut detail = Map::new();
    let kind =
        if ev.payload.is_some() || ev.title.is_some() {
            MessageKind::Button
        } else if let (Some(lat), Some(lon)) = (get("Latitude"), get("Longitude")) {
            detail.insert("location".into(), serde_json::json!({
            "latitude": lat, "longitude": lon, "address": get("Address"), "label": get("Label"),
        }));
            ev.title = get("Label").or_else(|| get("Address")).map(str::to_string);
            MessageKind::Location
        } else if media_count > 0 {
            let media = media_list(get, media_count);
            let first_type = get("MediaContentType0").unwrap_or_default();
            detail.insert("media".into(), Value::Array(media));
            media_kind(first_type)
        } else {
            MessageKind::Text
        };
    ev.msg_type = Some(kind);
    for (key, value) in params.iter().filter(|(k, _)| k.starts_with("Referral")) {
        detail.insert(key.clone(), Value::String(value.clone()));
    }
    ev.detail = (!detail.is_empty()).then_some(Value::Object(detail));
    Ok(ev)
}

fn media_list<'a>(get: &impl Fn(&str) -> Option<&'a str>, count: usize) -> Vec<Value> {
    (0..count.min(10))
        .map(|i| {
            serde_json::json!({
                "url": get(&format!("MediaUrl{i}")),
                "content_type": get(&format!("MediaContentType{i}")),
            })
        })
        .collect()
}

/// A file's kind from its content type (WebP images are stickers).
pub fn media_kind(content_type: &str) -> MessageKind {
    match content_type.split('/').next().unwrap_or_default() {
        "image" if content_type.contains("webp") => MessageKind::Sticker,
        "image" => MessageKind::Image,
        "audio" => MessageKind::Audio,
        "video" => MessageKind::Video,
        _ => MessageKind::Document,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn url_variants_add_and_remove_default_ports() {
        let v = url_variants("https://example.com:1234/x?y=1");
        assert!(v.contains(&"https://example.com/x?y=1".to_string()));
        assert!(v.contains(&"https://example.com:443/x?y=1".to_string()));
    }

    #[test]
    fn a_signed_inbound_message_verifies_and_normalizes() {
        let p = params(&[
            ("MessageSid", "SM1"),
            ("From", "whatsapp:+31612345678"),
            ("Body", "hi"),
        ]);
        let url = "https://desk.example.com/webhooks/twilio/main";
        let sig = sign("tok", url, &p);
        let body = serde_urlencoded::to_string(&p).unwrap();
        assert!(verify_signature(
            "tok",
            url,
            body.as_bytes(),
            true,
            Some(&sig)
        ));
        assert!(!verify_signature(
            "other",
            url,
            body.as_bytes(),
            true,
            Some(&sig)
        ));
        let n = normalize(&p, 5);
        assert_eq!(n.events[0].body.as_deref(), Some("hi"));
        assert_eq!(
            n.events[0].contact.as_ref().unwrap().phone.as_deref(),
            Some("+31612345678")
        );
    }

    #[test]
    fn undelivered_is_a_failure_with_its_code() {
        let p = params(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "63024"),
        ]);
        let ev = &normalize(&p, 5).events[0];
        assert_eq!(ev.status, Some(DeliveryStatus::Failed));
        assert_eq!(ev.error_code.as_deref(), Some("63024"));
    }
}
