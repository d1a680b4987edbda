//! Sending through Twilio: `POST {api_url}/2010-04-01/Accounts/{account_sid}/Messages.json`
//! with HTTP Basic (account SID, auth token), form fields `To`, `From`
//! (`whatsapp:+…`), and `Body`, or `ContentSid` + `ContentVariables` (a JSON
//! string) for an approved template (Twilio's Messages resource and Content
//! API pages). The answer's `sid` is the message's id. Approved templates come
//! from `GET {content_url}/v1/ContentAndApprovals`.

use serde::Deserialize;
use serde_json::Value;

use crate::providers::{
    Content, ListError, ListedTemplate, Outgoing, Recipient, Sent, retry_after, transport_failure,
};
use crate::secret::Secret;

pub const DEFAULT_API_URL: &str = "https://api.twilio.com";
pub const DEFAULT_CONTENT_URL: &str = "https://content.twilio.com";

#[derive(Debug, Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub api_url: String,
    pub content_url: String,
    pub account_sid: String,
    pub auth_token: Secret,
}

/// The form fields of a send.
pub fn form(m: &Outgoing) -> Vec<(String, String)> {
    let to = match &m.to {
        Recipient::WaId(wa) => format!("whatsapp:+{}", wa.trim_start_matches('+')),
        Recipient::UserId(user) => format!("whatsapp:{user}"),
    };
    let mut fields = vec![("To".to_string(), to), ("From".to_string(), m.from.clone())];
    match &m.content {
        Content::Text { body } => fields.push(("Body".into(), body.clone())),
        Content::Media { link, caption, .. } => {
            // WhatsApp on Twilio: one file per message, the Body its caption.
            if let Some(c) = caption.as_deref().filter(|c| !c.trim().is_empty()) {
                fields.push(("Body".into(), c.to_string()));
            }
            fields.push(("MediaUrl".into(), link.clone()));
        }
        Content::Template {
            parameters,
            provider_ref,
            name,
            ..
        } => {
            // Since April 2025 a template goes by its Content SID, never in Body.
            fields.push((
                "ContentSid".into(),
                provider_ref.clone().unwrap_or_else(|| name.clone()),
            ));
            if !parameters.is_empty() {
                let vars: serde_json::Map<String, Value> = parameters
                    .iter()
                    .enumerate()
                    .map(|(i, p)| ((i + 1).to_string(), Value::String(p.clone())))
                    .collect();
                fields.push(("ContentVariables".into(), Value::Object(vars).to_string()));
            }
        }
    }
    fields
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

/// Twilio's REST error (`{"code", "message", "more_info", "status"}`).
#[derive(Deserialize)]
struct RestError {
    code: Option<i64>,
    #[serde(default)]
    message: String,
}

/// What a Twilio error code means, and whether to try again.
pub fn meaning(code: i64) -> (bool, &'static str) {
    match code {
        20429 => (true, "Twilio is receiving too many requests at once"),
        63018 => (true, "the sender reached its WhatsApp rate limit"),
        63017 => (true, "the account reached its messages-per-second limit"),
        20003 => (
            false,
            "Twilio did not accept the account SID and auth token",
        ),
        21211 => (false, "the To number is not a valid phone number"),
        21408 => (
            false,
            "sending to this country is not enabled for the account",
        ),
        21610 => (false, "the customer unsubscribed from this sender (STOP)"),
        63003 => (false, "WhatsApp does not know this recipient address"),
        63016 => (
            false,
            "outside the 24-hour window: only an approved template can be sent",
        ),
        63021 => (false, "the content is invalid or not supported"),
        11200 => (
            false,
            "Twilio could not fetch the attached file from the desk",
        ),
        12300 => (
            false,
            "the attached file's content type is not one Twilio takes",
        ),
        63019 => (false, "the attached file failed to download"),
        21602 => (false, "the message has neither text nor a file"),
        63024 => (false, "the recipient is not a valid WhatsApp user"),
        63027 => (false, "the template does not exist for this language"),
        63028 => (false, "the template variables do not match the template"),
        63032 => (
            false,
            "Meta held this marketing message back for an experiment",
        ),
        63049 => (false, "Meta chose not to deliver this marketing message"),
        _ => (false, "Twilio refused the message"),
    }
}

impl Client {
    /// Sends one message; never retries by itself.
    pub async fn send(&self, m: &Outgoing) -> Sent {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.api_url.trim_end_matches('/'),
            self.account_sid
        );
        let response = self
            .http
            .post(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(&form(m))
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return transport_failure("Twilio", &e),
        };
        let status = response.status();
        let after = retry_after(response.headers());
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return transport_failure("Twilio", &e),
        };
        if status.is_success() {
            return match serde_json::from_str::<Created>(&text) {
                Ok(c) => Sent::Accepted { provider_id: c.sid },
                Err(_) => Sent::Unknown {
                    reason: format!(
                        "Twilio answered {status} without a message sid; it may have been sent"
                    ),
                },
            };
        }
        let parsed = serde_json::from_str::<RestError>(&text).ok();
        let code = parsed.as_ref().and_then(|e| e.code);
        let (retry, words) = match code {
            Some(c) => meaning(c),
            None => (
                status.is_server_error() || status.as_u16() == 429,
                "Twilio did not accept the message",
            ),
        };
        let retry = retry || matches!(status.as_u16(), 429 | 503);
        if !retry && code.is_none() && status.is_server_error() {
            // A gateway error after the request was written: it may have arrived.
            return Sent::Unknown {
                reason: format!(
                    "Twilio answered {status} without saying why; the message may or may not have been sent"
                ),
            };
        }
        let detail = parsed.map(|e| e.message).unwrap_or_default();
        let reason = match code {
            Some(c) => format!("{words} (Twilio {c}: {detail})"),
            None => format!("{words} (HTTP {status})"),
        };
        let code = code.map(|c| c.to_string());
        if retry {
            Sent::Retry {
                code,
                reason,
                after,
            }
        } else {
            Sent::Refused { code, reason }
        }
    }

    /// The account's content templates with their WhatsApp approval.
    pub async fn templates(&self) -> Result<Vec<ListedTemplate>, ListError> {
        let mut url = format!(
            "{}/v1/ContentAndApprovals?PageSize=100",
            self.content_url.trim_end_matches('/')
        );
        let mut out = Vec::new();
        for _ in 0..100 {
            let r = self
                .http
                .get(&url)
                .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
                .send()
                .await
                .map_err(|e| {
                    ListError(format!("Twilio could not be reached: {}", e.without_url()))
                })?;
            let status = r.status();
            let page: Value = r.json().await.map_err(|e| {
                ListError(format!(
                    "Twilio's template list is not JSON: {}",
                    e.without_url()
                ))
            })?;
            if !status.is_success() {
                return Err(ListError(format!(
                    "Twilio refused the template list ({status}): {}",
                    page["message"].as_str().unwrap_or_default()
                )));
            }
            for c in page["contents"].as_array().into_iter().flatten() {
                out.push(listed(c));
            }
            match page.pointer("/meta/next_page_url").and_then(Value::as_str) {
                Some(next) => url = next.to_string(),
                None => break,
            }
        }
        Ok(out)
    }
}

fn listed(c: &Value) -> ListedTemplate {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let approval = c
        .pointer("/approval_requests")
        .cloned()
        .unwrap_or(Value::Null);
    let body = c["types"]
        .as_object()
        .and_then(|types| types.values().find_map(|t| t["body"].as_str()))
        .unwrap_or_default()
        .to_string();
    ListedTemplate {
        provider_id: text(&c["sid"]),
        name: approval["name"]
            .as_str()
            .map_or_else(|| text(&c["friendly_name"]), str::to_string),
        language: text(&c["language"]),
        category: text(&approval["category"]).to_lowercase(),
        status: approval["status"]
            .as_str()
            .map_or_else(|| "unsubmitted".to_string(), str::to_lowercase),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_goes_by_content_sid_with_its_variables_as_json() {
        let fields = form(&Outgoing {
            from: "whatsapp:+14155238886".into(),
            to: Recipient::WaId("5215512345678".into()),
            content: Content::Template {
                name: "order_update".into(),
                language: "es".into(),
                parameters: vec!["Ana".into()],
                provider_ref: Some("HXabc".into()),
            },
            reply_to: None,
        });
        assert_eq!(
            fields,
            vec![
                ("To".into(), "whatsapp:+5215512345678".into()),
                ("From".into(), "whatsapp:+14155238886".into()),
                ("ContentSid".into(), "HXabc".into()),
                ("ContentVariables".into(), r#"{"1":"Ana"}"#.into()),
            ]
        );
    }

    #[test]
    fn the_window_and_unsubscribes_are_permanent_and_rate_limits_are_not() {
        assert!(!meaning(63016).0);
        assert!(!meaning(21610).0);
        assert!(meaning(20429).0);
        assert!(meaning(63018).0);
    }
}
