//! A stand-in for the providers' send APIs, built from their references:
//! Meta's `POST /{phone_number_id}/messages` (bearer token; the answer's
//! `messages[0].id`; errors as `{"error": {"message", "type", "code",
//! "error_data": {"details"}, "fbtrace_id"}}`) and
//! `GET /{waba_id}/message_templates`; Twilio's
//! `POST /2010-04-01/Accounts/{sid}/Messages.json` (HTTP Basic with the
//! account SID and auth token; 201 with the message's `sid`; errors as
//! `{"code", "message", "more_info", "status"}`) and the Content API's
//! `GET /v1/ContentAndApprovals`. Each request is recorded; the next
//! answers can be scripted (errors, rate limits, silence).

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const META_TOKEN: &str = "EAAG-stand-in-token";
pub const WABA: &str = "102290129340398";
pub const TWILIO_SID: &str = "AC00000000000000000000000000000001";
/// Twilio signs webhooks and takes requests with the same auth token: the
/// tests' `TWILIO_TOKEN`.
pub const TWILIO_AUTH: &str = "twilio-auth-token";

/// What the stand-in answers next.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Accept, with the next message id.
    Accept,
    /// Meta's error body with this HTTP status and code.
    MetaError {
        status: u16,
        code: i64,
        details: &'static str,
    },
    /// Twilio's error body with this HTTP status and code.
    TwilioError {
        status: u16,
        code: i64,
        message: &'static str,
    },
    /// Take the request, then say nothing for this long.
    Silence(Duration),
}

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub provider: &'static str,
    /// Meta: the phone number id of the path; Twilio: the account SID.
    pub path_id: String,
    /// Meta: the JSON body; Twilio: the form as a JSON object.
    pub body: Value,
    /// When it arrived.
    pub at: std::time::Instant,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Answer>,
    received: Vec<Received>,
    refused_auth: usize,
    next_id: u64,
}

#[derive(Clone)]
pub struct StandIn {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl StandIn {
    pub async fn start() -> StandIn {
        StandIn::start_on("127.0.0.1:0").await
    }

    /// Starts on a given address (to come back where a desk expects it).
    pub async fn start_on(addr: &str) -> StandIn {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/{id}/messages", post(meta_send))
            .route("/{id}/message_templates", get(meta_templates))
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(twilio_send),
            )
            .route("/v1/ContentAndApprovals", get(twilio_templates))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandIn {
            base: format!("http://{addr}"),
            inner,
        }
    }

    /// Answers the next requests in this order, then accepts again.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn refused_auth(&self) -> usize {
        self.inner.lock().unwrap().refused_auth
    }

    /// Channel settings that send through this stand-in.
    pub fn channel_settings(&self, config: &mut replydesk::config::Config) {
        for c in &mut config.channels {
            match c.provider {
                replydesk::model::Provider::Meta => {
                    c.access_token = Some(replydesk::secret::Secret::new(META_TOKEN));
                    c.graph_url = Some(self.base.clone());
                    c.business_account_id = Some(WABA.into());
                }
                replydesk::model::Provider::Twilio => {
                    c.account_sid = Some(TWILIO_SID.into());
                    c.api_url = Some(self.base.clone());
                    c.content_url = Some(self.base.clone());
                }
            }
        }
    }
}

/// Takes the next answer, recording the request; `None` when the auth was wrong.
fn next(inner: &Mutex<Inner>, authorized: bool, received: Received) -> Option<(Answer, u64)> {
    let mut s = inner.lock().unwrap();
    if !authorized {
        s.refused_auth += 1;
        return None;
    }
    s.received.push(received);
    s.next_id += 1;
    Some((s.script.pop_front().unwrap_or(Answer::Accept), s.next_id))
}

async fn meta_send(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {META_TOKEN}"));
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return meta_error(400, 100, "the body is not JSON");
    };
    let to = json
        .get("to")
        .or_else(|| json.get("recipient"))
        .cloned()
        .unwrap_or(Value::Null);
    let Some((answer, n)) = next(
        &inner,
        authorized,
        Received {
            provider: "meta",
            path_id: id,
            body: json,
            at: std::time::Instant::now(),
        },
    ) else {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"message": "Invalid OAuth access token - Cannot parse access token",
                "type": "OAuthException", "code": 190, "fbtrace_id": "AbCdEf"}})),
        )
            .into_response();
    };
    match answer {
        Answer::Accept => axum::Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": to, "wa_id": to }],
            "messages": [{ "id": format!("wamid.STANDIN{n:06}") }]
        }))
        .into_response(),
        Answer::MetaError {
            status,
            code,
            details,
        } => meta_error(status, code, details),
        Answer::Silence(d) => {
            tokio::time::sleep(d).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Answer::TwilioError { .. } => panic!("a Twilio answer scripted for a Meta request"),
    }
}

fn meta_error(status: u16, code: i64, details: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"error": {
            "message": format!("(#{code}) {details}"),
            "type": "OAuthException",
            "code": code,
            "error_data": { "messaging_product": "whatsapp", "details": details },
            "fbtrace_id": "AbCdEf"
        }})),
    )
        .into_response()
}

async fn meta_templates(headers: HeaderMap, Path(waba): Path<String>) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {META_TOKEN}"))
        || waba != WABA
    {
        return meta_error(401, 190, "Invalid OAuth access token");
    }
    axum::Json(json!({
        "data": [
            { "name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "594425479261596",
              "components": [{ "type": "BODY", "text": "Hello {{1}}, your order {{2}} is on its way." }] },
            { "name": "spring_offer", "language": "en_US", "status": "APPROVED", "category": "MARKETING", "id": "594425479261597",
              "components": [{ "type": "HEADER", "format": "TEXT", "text": "Offer" }, { "type": "BODY", "text": "Hi {{1}}, 20% off this week." }] },
            { "name": "draft_one", "language": "en_US", "status": "PENDING", "category": "MARKETING", "id": "594425479261598",
              "components": [{ "type": "BODY", "text": "Not yet" }] }
        ],
        "paging": { "cursors": { "before": "MAZDZD", "after": "MjQZD" } }
    }))
    .into_response()
}

fn twilio_authorized(headers: &HeaderMap, sid: &str) -> bool {
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_AUTH}"))
    );
    sid == TWILIO_SID
        && headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(want.as_str())
}

async fn twilio_send(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let authorized = twilio_authorized(&headers, &sid);
    let body: serde_json::Map<String, Value> = form
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let Some((answer, n)) = next(
        &inner,
        authorized,
        Received {
            provider: "twilio",
            path_id: sid,
            body: Value::Object(body.clone()),
            at: std::time::Instant::now(),
        },
    ) else {
        return twilio_error(401, 20003, "Authenticate");
    };
    match answer {
        Answer::Accept => (
            StatusCode::CREATED,
            axum::Json(json!({
                "account_sid": TWILIO_SID, "api_version": "2010-04-01", "body": body.get("Body"),
                "from": body.get("From"), "to": body.get("To"), "status": "queued", "direction": "outbound-api",
                "sid": format!("SM{n:032}"), "error_code": null, "error_message": null, "num_media": "0"
            })),
        )
            .into_response(),
        Answer::TwilioError { status, code, message } => twilio_error(status, code, message),
        Answer::Silence(d) => {
            tokio::time::sleep(d).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Answer::MetaError { .. } => panic!("a Meta answer scripted for a Twilio request"),
    }
}

fn twilio_error(status: u16, code: i64, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({ "code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status })),
    )
        .into_response()
}

async fn twilio_templates(headers: HeaderMap) -> Response {
    if !twilio_authorized(&headers, TWILIO_SID) {
        return twilio_error(401, 20003, "Authenticate");
    }
    axum::Json(json!({
        "contents": [{
            "sid": "HX1234567890abcdef1234567890abcdef", "friendly_name": "order_update", "language": "en",
            "types": { "twilio/text": { "body": "Hello {{1}}, your order {{2}} is on its way." } },
            "approval_requests": { "name": "order_update", "category": "UTILITY", "status": "approved", "rejection_reason": "" }
        }],
        "meta": { "page": 0, "page_size": 100, "first_page_url": "", "previous_page_url": null, "next_page_url": null, "key": "contents" }
    }))
    .into_response()
}
