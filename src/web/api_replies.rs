//! The machine API for answering customers: a contact's conversations, a
//! conversation's messages in both directions, sending (202 once stored,
//! 409 with the reason when the gate says no) and the approved templates.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::api::Api;
use super::{AppState, WebError};
use crate::clock::Millis;
use crate::contacts::identity::{self, ContactKey};
use crate::conversations::{self, Conversation};
use crate::replies::{self, Author, ReplyError, Request};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/conversations", get(list))
        .route("/conversations/{id}/messages", get(messages).post(send))
        .route("/templates", get(templates))
}

#[derive(Deserialize)]
struct ContactQuery {
    contact: Option<String>,
}

#[derive(Serialize)]
struct ConversationView {
    id: String,
    status: String,
    team: Option<String>,
    category: &'static str,
    channel: String,
    assignee: Option<String>,
    opened_at: Millis,
    last_inbound_at: Millis,
    window_closes_at: Option<Millis>,
    window_open: bool,
}

async fn view(state: &AppState, c: Conversation) -> Result<ConversationView, WebError> {
    let window = state.replies.window(&c).await?;
    Ok(ConversationView {
        window_closes_at: window.closes_at,
        window_open: window.open,
        category: c.category.as_str(),
        id: c.id,
        status: c.status,
        team: c.team,
        channel: c.channel,
        assignee: c.assignee,
        opened_at: c.opened_at,
        last_inbound_at: c.last_inbound_at,
    })
}

/// The conversations of a contact, newest first, with their windows.
async fn list(
    _: Api,
    State(state): State<AppState>,
    Query(q): Query<ContactQuery>,
) -> Result<Json<serde_json::Value>, WebError> {
    let contact = q.contact.ok_or_else(|| {
        WebError::bad(
            "contact",
            "give the contact as contact=+E164 or a WhatsApp user id",
        )
    })?;
    let key = ContactKey::parse_whatsapp(&contact).map_err(|m| WebError::bad("contact", m))?;
    let mut conn = state
        .db
        .reader()
        .acquire()
        .await
        .map_err(crate::store::StoreError::from)?;
    let id = identity::lookup(&mut conn, &key).await?;
    drop(conn);
    let mut out = Vec::new();
    for c in conversations::of_contact(&state.db, &id).await? {
        out.push(view(&state, c).await?);
    }
    Ok(Json(serde_json::json!({ "conversations": out })))
}

async fn conversation(state: &AppState, id: &str) -> Result<Conversation, WebError> {
    conversations::load(&state.db, id)
        .await?
        .ok_or(WebError::NotFound("conversation"))
}

/// Both directions, oldest first.
async fn messages(
    _: Api,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, WebError> {
    let c = conversation(&state, &id).await?;
    let messages = replies::messages(&state.db, &c.id).await?;
    Ok(Json(serde_json::json!({ "messages": messages })))
}

#[derive(Deserialize)]
struct SendBody {
    text: Option<String>,
    template: Option<TemplateBody>,
    idempotency_key: Option<String>,
    /// The customer message this answers (its provider id).
    reply_to: Option<String>,
}

#[derive(Deserialize)]
struct TemplateBody {
    name: String,
    language: String,
    #[serde(default)]
    parameters: Vec<String>,
}

/// Queues a message; 202 once it is stored, 409 when the gate refuses.
async fn send(
    Api(client): Api,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<SendBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, WebError> {
    let Json(body) = body.map_err(|e| {
        WebError::bad(
            "body",
            format!("the body is not the JSON expected: {}", e.body_text()),
        )
    })?;
    let c = conversation(&state, &id).await?;
    let request = match (body.text, body.template) {
        (Some(text), None) => Request::Text {
            body: text,
            reply_to: body.reply_to,
        },
        (None, Some(t)) => Request::Template {
            name: t.name,
            language: t.language,
            parameters: t.parameters,
        },
        _ => {
            return Err(WebError::bad(
                "text",
                "give either \"text\" or \"template\"",
            ));
        }
    };
    let author = Author {
        name: format!("api:{}", client.name),
        confirms_opt_out: false,
    };
    let key = body.idempotency_key.unwrap_or_default();
    match state.replies.queue(&c, &author, request, &key).await {
        Ok(q) => Ok((StatusCode::ACCEPTED, Json(q)).into_response()),
        Err(ReplyError::Invalid { field, message }) => Err(WebError::bad(field, message)),
        Err(ReplyError::Refused(r)) => Ok((
            StatusCode::CONFLICT,
            Json(serde_json::json!({ "error": r.explanation, "reason": r.reason, "policy": r.policy, "fallback": r.fallback })),
        )
            .into_response()),
        Err(ReplyError::CannotSend(why)) => Ok((
            StatusCode::CONFLICT,
            Json(serde_json::json!({ "error": why, "reason": "cannot_send" })),
        )
            .into_response()),
        Err(ReplyError::Store(e)) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct ChannelQuery {
    channel: Option<String>,
}

/// The approved templates, per channel.
async fn templates(
    _: Api,
    State(state): State<AppState>,
    Query(q): Query<ChannelQuery>,
) -> Result<Json<serde_json::Value>, WebError> {
    let list = replies::templates::approved(&state.db, q.channel.as_deref()).await?;
    Ok(Json(serde_json::json!({ "templates": list })))
}
