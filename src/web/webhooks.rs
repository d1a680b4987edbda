//! Provider webhooks: Meta's handshake and deliveries, Twilio's deliveries.
//! Verify over the raw body, then hand the bytes to ingest; answer only once
//! they are committed.

use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use std::time::Instant;
use subtle::ConstantTimeEq;

use super::{AppState, WebError};
use crate::config::ChannelConfig;
use crate::ingest::{Accepted, IngestError};
use crate::model::Provider;
use crate::providers::{meta, twilio};
use crate::secret::Secret;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/webhooks/meta/{channel}",
            get(meta_handshake).post(meta_receive),
        )
        .route("/webhooks/twilio/{channel}", post(twilio_receive))
}

fn channel<'a>(
    state: &'a AppState,
    name: &str,
    provider: Provider,
) -> Result<&'a ChannelConfig, WebError> {
    state
        .config
        .channel(name)
        .filter(|c| c.provider == provider)
        .ok_or(WebError::NotFound("channel"))
}

fn reject(provider: Provider, reason: &'static str) -> WebError {
    metrics::counter!("replydesk_webhooks_rejected_total", "provider" => provider.as_str(), "reason" => reason).increment(1);
    WebError::Unauthorized(
        "the webhook signature is missing or does not match this channel's secret",
    )
}

fn received(provider: Provider) {
    metrics::counter!("replydesk_webhooks_received_total", "provider" => provider.as_str())
        .increment(1);
}

fn took(provider: Provider, start: Instant) {
    metrics::histogram!("replydesk_webhook_duration_seconds", "provider" => provider.as_str())
        .record(start.elapsed().as_secs_f64());
}

impl From<IngestError> for WebError {
    fn from(error: IngestError) -> Self {
        WebError::Internal(error.to_string())
    }
}

#[derive(Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's subscription check: echo the challenge when the token matches.
async fn meta_handshake(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<Handshake>,
) -> Result<String, WebError> {
    let channel = channel(&state, &name, Provider::Meta)?;
    // Constant time, like the signatures: the token is a shared secret.
    let token_ok = match (&q.verify_token, &channel.verify_token) {
        (Some(given), Some(ours)) => bool::from(given.as_bytes().ct_eq(ours.expose().as_bytes())),
        _ => false,
    };
    match (q.mode.as_deref(), token_ok, q.challenge) {
        (Some("subscribe"), true, Some(challenge)) => Ok(challenge),
        _ => Err(WebError::Forbidden),
    }
}

async fn meta_receive(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Accepted>, WebError> {
    let start = Instant::now();
    let channel = channel(&state, &name, Provider::Meta)?;
    received(Provider::Meta);
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !meta::verify_signature(
        channel.app_secret.as_ref().map_or("", Secret::expose),
        &body,
        signature,
    ) {
        return Err(reject(
            Provider::Meta,
            if signature.is_some() {
                "bad_signature"
            } else {
                "unsigned"
            },
        ));
    }
    let accepted = state.ingest.accept_meta(&channel.name, body).await?;
    took(Provider::Meta, start);
    Ok(Json(accepted))
}

async fn twilio_receive(
    State(state): State<AppState>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, WebError> {
    let start = Instant::now();
    let channel = channel(&state, &name, Provider::Twilio)?;
    received(Provider::Twilio);
    let base = channel.public_url.as_deref().unwrap_or_default();
    let url = match uri.query() {
        Some(q) if !base.contains('?') => format!("{base}?{q}"),
        _ => base.to_string(),
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    if !twilio::verify_signature(
        channel.auth_token.as_ref().map_or("", Secret::expose),
        &url,
        &body,
        is_form,
        signature,
    ) {
        return Err(reject(
            Provider::Twilio,
            if signature.is_some() {
                "bad_signature"
            } else {
                "unsigned"
            },
        ));
    }
    state.ingest.accept_twilio(&channel.name, body).await?;
    took(Provider::Twilio, start);
    // An empty TwiML answer: Twilio sends no reply message.
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    ))
}
