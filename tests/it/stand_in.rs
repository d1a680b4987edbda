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

/// A file the stand-in holds for a media id (Meta) or a MediaUrl (Twilio).
#[derive(Debug, Clone, Default)]
pub struct StoredMedia {
    pub bytes: Vec<u8>,
    pub mime: String,
    /// The hash Meta answers; the file's own when `None`.
    pub sha256: Option<String>,
    /// The size Meta answers; the file's own when `None`.
    pub file_size: Option<u64>,
    /// Download links handed out before this one have expired (404).
    pub expire_links_before: u32,
    /// Lookups still answered 500 before one succeeds.
    pub fail_lookups: u32,
}

/// A file an agent uploaded to Meta.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub phone_number_id: String,
    pub messaging_product: String,
    pub mime: String,
    pub filename: String,
    pub bytes: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Answer>,
    received: Vec<Received>,
    refused_auth: usize,
    next_id: u64,
    media: std::collections::HashMap<String, StoredMedia>,
    /// Lookups of each media id so far.
    lookups: std::collections::HashMap<String, u32>,
    uploads: Vec<Uploaded>,
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
            .route("/{id}", get(meta_media_info))
            .route("/{id}/media", post(meta_upload))
            .route("/download/{id}/{n}", get(meta_download))
            .route(
                "/2010-04-01/Accounts/{sid}/Messages/{message}/Media/{media}",
                get(twilio_media),
            )
            .route("/cdn/{media}", get(twilio_cdn))
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

    /// Holds a file under a Meta media id or a Twilio media sid.
    pub fn put_media(&self, id: &str, media: StoredMedia) {
        self.inner
            .lock()
            .unwrap()
            .media
            .insert(id.to_string(), media);
    }

    /// How often Meta was asked for a media id's download link.
    pub fn lookups(&self, id: &str) -> u32 {
        self.inner
            .lock()
            .unwrap()
            .lookups
            .get(id)
            .copied()
            .unwrap_or_default()
    }

    pub fn uploads(&self) -> Vec<Uploaded> {
        self.inner.lock().unwrap().uploads.clone()
    }

    /// The MediaUrl Twilio's webhook names for a media sid held here.
    pub fn twilio_media_url(&self, media_sid: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{TWILIO_SID}/Messages/MM00000000000000000000000000000001/Media/{media_sid}",
            self.base
        )
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

fn meta_bearer(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {META_TOKEN}"))
}

/// Meta's "Retrieve media URL": `{messaging_product, url, mime_type, sha256, file_size, id}`.
async fn meta_media_info(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !meta_bearer(&headers) {
        return meta_error(401, 190, "Invalid OAuth access token");
    }
    let mut s = inner.lock().unwrap();
    let n = {
        let n = s.lookups.entry(id.clone()).or_default();
        *n += 1;
        *n
    };
    let Some(m) = s.media.get_mut(&id) else {
        return meta_error(
            400,
            100,
            "Unsupported get request. Object with ID does not exist",
        );
    };
    if m.fail_lookups > 0 {
        m.fail_lookups -= 1;
        return meta_error(500, 2, "Service temporarily unavailable");
    }
    let digest = base64::engine::general_purpose::STANDARD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(&m.bytes));
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "url": format!("http://{}/download/{id}/{n}", headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default()),
        "mime_type": m.mime,
        "sha256": m.sha256.clone().unwrap_or(digest),
        "file_size": m.file_size.unwrap_or(m.bytes.len() as u64),
        "id": id,
    }))
    .into_response()
}

/// The short-lived download link: the bearer token again; an old link is 404.
async fn meta_download(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((id, n)): Path<(String, u32)>,
    headers: HeaderMap,
) -> Response {
    if !meta_bearer(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let s = inner.lock().unwrap();
    match s.media.get(&id) {
        Some(m) if n > m.expire_links_before => (
            [(axum::http::header::CONTENT_TYPE, m.mime.clone())],
            m.bytes.clone(),
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `POST /{phone_number_id}/media`: multipart `messaging_product`, `type`, `file`; answers `{"id"}`.
async fn meta_upload(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(phone_number_id): Path<String>,
    headers: HeaderMap,
    mut form: axum::extract::Multipart,
) -> Response {
    if !meta_bearer(&headers) {
        return meta_error(401, 190, "Invalid OAuth access token");
    }
    let mut up = Uploaded {
        phone_number_id,
        messaging_product: String::new(),
        mime: String::new(),
        filename: String::new(),
        bytes: Vec::new(),
    };
    while let Ok(Some(field)) = form.next_field().await {
        match field.name().unwrap_or_default() {
            "messaging_product" => up.messaging_product = field.text().await.unwrap(),
            "type" => up.mime = field.text().await.unwrap(),
            "file" => {
                up.filename = field.file_name().unwrap_or_default().to_string();
                up.bytes = field.bytes().await.unwrap().to_vec();
            }
            _ => {}
        }
    }
    if up.messaging_product != "whatsapp" || up.bytes.is_empty() || up.mime.is_empty() {
        return meta_error(
            400,
            100,
            "Param messaging_product, type and file are required",
        );
    }
    let mut s = inner.lock().unwrap();
    s.uploads.push(up);
    let n = s.uploads.len();
    axum::Json(json!({ "id": format!("UPLOADED{n:06}") })).into_response()
}

/// Twilio's media resource: HTTP Basic, then a redirect to a short-lived address elsewhere.
async fn twilio_media(
    Path((sid, _message, media)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if !twilio_authorized(&headers, &sid) {
        return twilio_error(401, 20003, "Authenticate");
    }
    // Another host, as Twilio's CDN is: the same port under the name `localhost`.
    let port = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit(':').next())
        .unwrap_or_default()
        .to_string();
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(
            axum::http::header::LOCATION,
            format!("http://localhost:{port}/cdn/{media}"),
        )],
    )
        .into_response()
}

/// The CDN behind Twilio's redirect: no credentials, and it must not be sent any.
async fn twilio_cdn(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(media): Path<String>,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key("authorization") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let s = inner.lock().unwrap();
    match s.media.get(&media) {
        Some(m) => (
            [(axum::http::header::CONTENT_TYPE, m.mime.clone())],
            m.bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
