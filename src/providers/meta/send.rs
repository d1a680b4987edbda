//! Sending through the WhatsApp Cloud API: `POST {graph_url}/{phone_number_id}/messages`
//! with the channel's access token, and the approved templates from
//! `GET {graph_url}/{business_account_id}/message_templates`.
//!
//! Request and answer shapes follow Meta's "Sending messages", "Text
//! messages", "Contextual replies", "Template messages" and "Business-scoped
//! user IDs" pages: a customer with a wa_id is addressed by `to`, one known
//! only by a user id by `recipient`; the wamid is `messages[0].id`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::codes::{Class, meaning};
use crate::providers::{
    Content, ListError, ListedTemplate, Outgoing, Recipient, Sent, retry_after, transport_failure,
};
use crate::secret::Secret;

/// The Graph API version the desk speaks unless a channel's `graph_url` says
/// otherwise (Meta's changelog: v26.0 of July 2026 is what the WhatsApp send
/// pages use; v27.0 followed in November 2026).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com/v26.0";

/// A channel's Cloud API credentials.
#[derive(Debug, Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub graph_url: String,
    pub access_token: Secret,
    pub business_account_id: Option<String>,
}

/// The JSON body of a send.
pub fn body(m: &Outgoing) -> Value {
    let mut body = json!({ "messaging_product": "whatsapp", "recipient_type": "individual" });
    match &m.to {
        Recipient::WaId(wa) => body["to"] = json!(wa),
        Recipient::UserId(user) => body["recipient"] = json!(user),
    }
    match &m.content {
        Content::Text { body: text } => {
            body["type"] = json!("text");
            body["text"] = json!({ "preview_url": false, "body": text });
        }
        Content::Template {
            name,
            language,
            parameters,
            ..
        } => {
            body["type"] = json!("template");
            let mut template = json!({ "name": name, "language": { "code": language } });
            if !parameters.is_empty() {
                let params: Vec<Value> = parameters
                    .iter()
                    .map(|p| json!({ "type": "text", "text": p }))
                    .collect();
                template["components"] = json!([{ "type": "body", "parameters": params }]);
            }
            body["template"] = template;
        }
        Content::Media {
            kind,
            link,
            caption,
            filename,
        } => {
            let kind = kind.as_str();
            body["type"] = json!(kind);
            let mut media = json!({ "id": link });
            // Audio and stickers take no caption.
            if let Some(c) = caption.as_deref().filter(|c| !c.trim().is_empty())
                && matches!(kind, "image" | "video" | "document")
            {
                media["caption"] = json!(c);
            }
            if let Some(f) = filename.as_deref().filter(|_| kind == "document") {
                media["filename"] = json!(f);
            }
            body[kind] = media;
        }
    }
    if let Some(context) = &m.reply_to {
        body["context"] = json!({ "message_id": context });
    }
    body
}

#[derive(Deserialize)]
struct Accepted {
    messages: Vec<MessageId>,
}

#[derive(Deserialize)]
struct MessageId {
    id: String,
}

/// Meta's error object (`{"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}`).
#[derive(Deserialize)]
struct ErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    code: Option<i64>,
    #[serde(default)]
    error_data: Option<Value>,
}

impl Client {
    /// Sends one message; never retries by itself.
    pub async fn send(&self, m: &Outgoing) -> Sent {
        let url = format!(
            "{}/{}/messages",
            self.graph_url.trim_end_matches('/'),
            m.from
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(self.access_token.expose())
            .json(&body(m))
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return transport_failure("Meta", &e),
        };
        let status = response.status();
        let after = retry_after(response.headers());
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return transport_failure("Meta", &e),
        };
        if status.is_success() {
            return match serde_json::from_str::<Accepted>(&text) {
                Ok(a) if !a.messages.is_empty() => Sent::Accepted {
                    provider_id: a.messages[0].id.clone(),
                },
                _ => Sent::Unknown {
                    reason: format!(
                        "Meta answered {status} without a message id; it may have been sent"
                    ),
                },
            };
        }
        refusal(status, &text, after)
    }

    /// Every template of the business account, page by page.
    pub async fn templates(&self) -> Result<Vec<ListedTemplate>, ListError> {
        let Some(waba) = &self.business_account_id else {
            return Err(ListError(
                "the channel has no business_account_id, so its templates cannot be listed".into(),
            ));
        };
        let mut url = format!(
            "{}/{waba}/message_templates?fields=id,name,language,status,category,components&limit=100",
            self.graph_url.trim_end_matches('/')
        );
        let mut out = Vec::new();
        for _ in 0..100 {
            let page: Value = self.get_json(&url).await?;
            for t in page["data"].as_array().into_iter().flatten() {
                out.push(listed(t));
            }
            match page.pointer("/paging/next").and_then(Value::as_str) {
                Some(next) => url = next.to_string(),
                None => break,
            }
        }
        Ok(out)
    }

    async fn get_json(&self, url: &str) -> Result<Value, ListError> {
        let r = self
            .http
            .get(url)
            .bearer_auth(self.access_token.expose())
            .send()
            .await
            .map_err(|e| ListError(format!("Meta could not be reached: {}", e.without_url())))?;
        let status = r.status();
        let text = r
            .text()
            .await
            .map_err(|e| ListError(format!("Meta's answer broke off: {}", e.without_url())))?;
        if !status.is_success() {
            let why = match refusal(status, &text, None) {
                Sent::Refused { reason, .. } | Sent::Retry { reason, .. } => reason,
                other => format!("{other:?}"),
            };
            return Err(ListError(format!("Meta refused the template list: {why}")));
        }
        serde_json::from_str(&text)
            .map_err(|e| ListError(format!("Meta's template list is not JSON: {e}")))
    }
}

fn listed(t: &Value) -> ListedTemplate {
    let text = |k: &str| t[k].as_str().unwrap_or_default().to_string();
    let body = t["components"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["type"]
                .as_str()
                .is_some_and(|k| k.eq_ignore_ascii_case("body"))
        })
        .and_then(|c| c["text"].as_str())
        .unwrap_or_default()
        .to_string();
    ListedTemplate {
        provider_id: text("id"),
        name: text("name"),
        language: text("language"),
        category: text("category").to_lowercase(),
        status: text("status").to_lowercase(),
        body,
    }
}

/// What a non-2xx answer means, by Meta's code (HTTP status only when the
/// body has none).
pub(super) fn refusal(
    status: reqwest::StatusCode,
    text: &str,
    after: Option<std::time::Duration>,
) -> Sent {
    let parsed = serde_json::from_str::<ErrorBody>(text)
        .ok()
        .map(|b| b.error);
    let Some(code) = parsed.as_ref().and_then(|e| e.code) else {
        return if matches!(status.as_u16(), 429 | 503) {
            Sent::Retry {
                code: None,
                reason: format!("Meta answered {status}; the message was not accepted"),
                after,
            }
        } else if status.is_server_error() {
            // A gateway error after the request was written: it may have arrived.
            Sent::Unknown {
                reason: format!(
                    "Meta answered {status} without saying why; the message may or may not have been sent"
                ),
            }
        } else {
            Sent::Refused {
                code: None,
                reason: format!(
                    "Meta answered {status}: {}",
                    text.chars().take(200).collect::<String>()
                ),
            }
        };
    };
    let (class, words) = meaning(code);
    let details = parsed
        .as_ref()
        .and_then(|e| e.error_data.as_ref())
        .and_then(|d| {
            d.get("details")
                .and_then(Value::as_str)
                .or_else(|| d.as_str())
        })
        .map(str::to_string)
        .or_else(|| parsed.as_ref().map(|e| e.message.clone()))
        .unwrap_or_default();
    let reason = if details.is_empty() {
        format!("{words} (Meta {code})")
    } else {
        format!("{words} (Meta {code}: {details})")
    };
    let code = Some(code.to_string());
    match class {
        Class::Temporary => Sent::Retry {
            code,
            reason,
            after,
        },
        Class::Permanent => Sent::Refused { code, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(to: Recipient, content: Content) -> Outgoing {
        Outgoing {
            from: "106540352242922".into(),
            to,
            content,
            reply_to: Some("wamid.IN".into()),
        }
    }

    #[test]
    fn a_text_reply_is_sent_to_the_wa_id_in_context() {
        let b = body(&outgoing(
            Recipient::WaId("5215512345678".into()),
            Content::Text {
                body: "Hola".into(),
            },
        ));
        assert_eq!(
            b,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "5215512345678",
                   "type": "text", "text": {"preview_url": false, "body": "Hola"}, "context": {"message_id": "wamid.IN"}})
        );
    }

    #[test]
    fn a_template_carries_its_language_and_body_parameters_and_a_user_id_goes_to_recipient() {
        let b = body(&outgoing(
            Recipient::UserId("US.1234".into()),
            Content::Template {
                name: "order_update".into(),
                language: "es".into(),
                parameters: vec!["Ana".into(), "A-17".into()],
                provider_ref: None,
            },
        ));
        assert_eq!(b["recipient"], "US.1234");
        assert!(b.get("to").is_none());
        assert_eq!(b["template"]["language"]["code"], "es");
        assert_eq!(
            b["template"]["components"][0]["parameters"][1]["text"],
            "A-17"
        );
    }

    #[test]
    fn error_bodies_are_read_by_their_code() {
        let limit = r#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},"fbtrace_id":"Az8"}}"#;
        assert!(
            matches!(refusal(reqwest::StatusCode::BAD_REQUEST, limit, None), Sent::Retry { code: Some(c), .. } if c == "130429")
        );
        let window = r#"{"error":{"message":"(#131047) Re-engagement message","code":131047,"error_data":"More than 24 hours have passed"}}"#;
        match refusal(reqwest::StatusCode::BAD_REQUEST, window, None) {
            Sent::Refused { code, reason } => {
                assert_eq!(code.as_deref(), Some("131047"));
                assert!(reason.contains("24 hours"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            refusal(reqwest::StatusCode::SERVICE_UNAVAILABLE, "<html>", None),
            Sent::Retry { .. }
        ));
        assert!(
            matches!(
                refusal(reqwest::StatusCode::GATEWAY_TIMEOUT, "<html>", None),
                Sent::Unknown { .. }
            ),
            "a gateway timeout may have passed the message on"
        );
    }
}
