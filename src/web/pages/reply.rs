//! The reply box of a conversation: the window, free text or an approved
//! template with its preview, and the agent's messages moving from queued
//! to read. Whoever may see the conversation may answer it (agents of the
//! owning team, its leads, admins).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

use super::{htmx, render};
use crate::conversations::{self, Conversation};
use crate::replies::{self, Author, Reply, ReplyError, Request, Template as Tpl, canned};
use crate::web::format;
use crate::web::session::CurrentUser;
use crate::web::{AppState, WebError};

pub struct ReplyView {
    id: String,
    state: String,
    state_label: &'static str,
    text: String,
    template: Option<String>,
    author: String,
    when: String,
    error: Option<String>,
    in_flight: bool,
    unconfirmed: bool,
    /// The attached file (`/media/{id}`).
    media_id: Option<String>,
}

fn reply_view(r: Reply) -> ReplyView {
    ReplyView {
        state_label: match r.state.as_str() {
            "queued" => "queued",
            "sending" => "sending…",
            "sent" => "sent ✓",
            "delivered" => "delivered ✓✓",
            "read" => "read ✓✓",
            "failed" => "failed",
            "unconfirmed" => "unconfirmed",
            _ => "unknown",
        },
        in_flight: r.in_flight(),
        unconfirmed: r.state == "unconfirmed",
        media_id: r.media_id,
        id: r.id,
        state: r.state,
        text: r.body,
        template: r.template,
        author: r.author,
        when: format::when(r.created_at),
        error: r.error,
    }
}

pub struct TemplateOption {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "reply_box.html")]
pub struct ReplyBox {
    id: String,
    csrf: String,
    cannot: Option<String>,
    open: bool,
    window_text: String,
    key: String,
    text: String,
    error_text: Option<String>,
    error_template: Option<String>,
    error_file: Option<String>,
    message: Option<String>,
    templates: Vec<TemplateOption>,
    replies: Vec<ReplyView>,
    /// The canned responses for this team and language: name, filled text.
    canned: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "reply_row.html")]
struct ReplyRow {
    id: String,
    csrf: String,
    r: ReplyView,
}

#[derive(Template)]
#[template(path = "template_fields.html")]
struct TemplateFields {
    id: String,
    names: Vec<String>,
    values: Vec<String>,
    preview: String,
    category: String,
}

/// What the box says after a send, and what it keeps.
#[derive(Default)]
pub struct Outcome {
    text: String,
    error_text: Option<String>,
    error_template: Option<String>,
    error_file: Option<String>,
    message: Option<String>,
}

impl Outcome {
    /// Nothing to say: the reply was queued.
    fn queued(&self) -> bool {
        self.error_text.is_none()
            && self.error_template.is_none()
            && self.error_file.is_none()
            && self.message.is_none()
    }
}

fn window_text(w: replies::Window, now: i64) -> String {
    match w.closes_at {
        Some(closes) if w.open => format!(
            "Window closes in {}: free text may be sent until {}.",
            hours_minutes(closes - now),
            format::when(closes)
        ),
        Some(closes) => format!(
            "Window closed at {} — choose a template.",
            format::when(closes)
        ),
        None => "The customer has not written on this channel — choose a template.".into(),
    }
}

/// `3 h 12 min`, `24 h`, `45 min`: how long the window stays open.
fn hours_minutes(ms: i64) -> String {
    let minutes = (ms.max(0) + 59_999) / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// The reply box of a conversation, as the page shows it.
pub async fn reply_box(
    state: &AppState,
    current: &CurrentUser,
    c: &Conversation,
    outcome: Outcome,
) -> Result<ReplyBox, WebError> {
    let now = state.clock.now_ms();
    let cannot = state.replies.cannot_answer(c).await?;
    let window = state.replies.window(c).await?;
    let templates = replies::templates::approved(&state.db, Some(&c.channel))
        .await?
        .into_iter()
        .map(|t: Tpl| TemplateOption {
            value: format!("{}|{}", t.name, t.language),
            label: format!("{} ({}, {})", t.name, t.language, t.category),
        })
        .collect();
    Ok(ReplyBox {
        id: c.id.clone(),
        csrf: current.csrf.clone(),
        cannot,
        open: window.open,
        window_text: window_text(window, now),
        key: uuid::Uuid::new_v4().to_string(),
        text: outcome.text,
        error_text: outcome.error_text,
        error_template: outcome.error_template,
        error_file: outcome.error_file,
        message: outcome.message,
        templates,
        replies: replies::for_conversation(&state.db, &c.id)
            .await?
            .into_iter()
            .map(reply_view)
            .collect(),
        canned: canned::for_conversation(
            &state.reply_files.canned(),
            c.team.as_deref(),
            c.lang.as_deref(),
        )
        .into_iter()
        .map(|r| {
            let text = canned::fill(&r.text, c.contact_name.as_deref(), &current.user.email);
            (r.name.clone(), text)
        })
        .collect(),
    })
}

async fn visible(
    state: &AppState,
    current: &CurrentUser,
    id: &str,
) -> Result<Conversation, WebError> {
    conversations::get(&state.db, &current.user, id)
        .await?
        .ok_or(WebError::NotFound("conversation"))
}

fn request_from(form: &HashMap<String, String>) -> Result<Request, ReplyError> {
    let Some(choice) = form.get("template").filter(|t| !t.trim().is_empty()) else {
        return Ok(Request::Text {
            body: form.get("text").cloned().unwrap_or_default(),
            reply_to: None,
        });
    };
    let (name, language) = choice.split_once('|').ok_or_else(|| ReplyError::Invalid {
        field: "template",
        message: "choose a template from the list".into(),
    })?;
    let parameters = (1..)
        .map_while(|i| form.get(&format!("p{i}")).cloned())
        .collect();
    Ok(Request::Template {
        name: name.into(),
        language: language.into(),
        parameters,
    })
}

/// Queues the agent's answer; the box shows it at once as queued.
pub async fn send(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let c = visible(&state, &current, &id).await?;
    let author = Author {
        name: current.user.email.clone(),
        confirms_opt_out: false,
    };
    let key = form.get("idempotency_key").cloned().unwrap_or_default();
    let queued = match request_from(&form) {
        Ok(request) => state.replies.queue(&c, &author, request, &key).await,
        Err(e) => Err(e),
    };
    let typed = form.get("text").cloned().unwrap_or_default();
    let outcome = outcome_of(queued, typed)?;
    answer(&state, &current, &headers, &c, outcome).await
}

/// Queues an image or a document the agent attached, with its caption.
pub async fn attach(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    mut form: axum::extract::Multipart,
) -> Result<Response, WebError> {
    let c = visible(&state, &current, &id).await?;
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut upload = None;
    let broke = |e: axum::extract::multipart::MultipartError| {
        WebError::bad(
            "file",
            format!("the upload broke off or is too large: {}", e.body_text()),
        )
    };
    while let Some(field) = form.next_field().await.map_err(broke)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let filename = field.file_name().unwrap_or("file").to_string();
            let bytes = field.bytes().await.map_err(broke)?;
            upload = Some(replies::Upload {
                filename,
                bytes: bytes.to_vec(),
            });
        } else if let Ok(text) = field.text().await {
            fields.insert(name, text);
        }
    }
    let author = Author {
        name: current.user.email.clone(),
        confirms_opt_out: false,
    };
    let key = fields.get("idempotency_key").cloned().unwrap_or_default();
    let request = Request::Attachment {
        upload: upload.unwrap_or(replies::Upload {
            filename: String::new(),
            bytes: Vec::new(),
        }),
        caption: fields.get("caption").cloned().unwrap_or_default(),
        reply_to: None,
    };
    let queued = state.replies.queue(&c, &author, request, &key).await;
    let outcome = outcome_of(queued, String::new())?;
    answer(&state, &current, &headers, &c, outcome).await
}

/// What the box says after a send was asked for.
fn outcome_of(
    queued: Result<replies::Queued, ReplyError>,
    typed: String,
) -> Result<Outcome, WebError> {
    Ok(match queued {
        Ok(_) => Outcome::default(),
        Err(ReplyError::Store(e)) => return Err(e.into()),
        Err(ReplyError::Invalid {
            field: "text",
            message,
        }) => Outcome {
            text: typed,
            error_text: Some(message),
            ..Outcome::default()
        },
        Err(ReplyError::Invalid {
            field: "file" | "caption",
            message,
        }) => Outcome {
            text: typed,
            error_file: Some(message),
            ..Outcome::default()
        },
        Err(ReplyError::Invalid { message, .. }) => Outcome {
            text: typed,
            error_template: Some(message),
            ..Outcome::default()
        },
        Err(ReplyError::Refused(r)) => Outcome {
            text: typed,
            message: Some(format!("Not sent: {}", r.explanation)),
            ..Outcome::default()
        },
        Err(ReplyError::CannotSend(why)) => Outcome {
            text: typed,
            message: Some(format!("Not sent: {why}")),
            ..Outcome::default()
        },
    })
}

/// The box again (htmx) or the page (a plain form).
async fn answer(
    state: &AppState,
    current: &CurrentUser,
    headers: &HeaderMap,
    c: &Conversation,
    outcome: Outcome,
) -> Result<Response, WebError> {
    if !htmx(headers) {
        if outcome.queued() {
            return Ok(Redirect::to(&format!("/conversations/{}", c.id)).into_response());
        }
        return super::conversation::with_reply_outcome(state, current, &c.id, outcome).await;
    }
    Ok(render(&reply_box(state, current, c, outcome).await?))
}

/// One of the agent's messages, for the box to follow it to "read".
pub async fn row(
    State(state): State<AppState>,
    current: CurrentUser,
    Path((id, reply)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let c = visible(&state, &current, &id).await?;
    let r = replies::get(&state.db, &c.id, &reply)
        .await?
        .ok_or(WebError::NotFound("reply"))?;
    Ok(render(&ReplyRow {
        id: c.id,
        csrf: current.csrf,
        r: reply_view(r),
    }))
}

/// A person decided to send an unconfirmed message again.
pub async fn send_again(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path((id, reply)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let c = visible(&state, &current, &id).await?;
    if !state
        .replies
        .send_again(&c, &reply, &current.user.email)
        .await?
    {
        return Err(WebError::Conflict(
            "only an unconfirmed message can be sent again: a failed one was refused by the provider, and the reason says what must change first".into(),
        ));
    }
    if !htmx(&headers) {
        return Ok(Redirect::to(&format!("/conversations/{id}")).into_response());
    }
    let message = Some("Queued again.".to_string());
    Ok(render(
        &reply_box(
            &state,
            &current,
            &c,
            Outcome {
                message,
                ..Outcome::default()
            },
        )
        .await?,
    ))
}

/// The parameter fields and the rendered preview of a chosen template.
pub async fn template_fields(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let c = visible(&state, &current, &id).await?;
    let Some((name, language)) = q.get("template").and_then(|t| t.split_once('|')) else {
        return Ok(render(&TemplateFields {
            id: c.id,
            names: Vec::new(),
            values: Vec::new(),
            preview: String::new(),
            category: String::new(),
        }));
    };
    let t = replies::templates::find(&state.db, &c.channel, name, language)
        .await?
        .ok_or(WebError::NotFound("template"))?;
    let values: Vec<String> = (1..=t.parameter_count())
        .map(|i| q.get(&format!("p{i}")).cloned().unwrap_or_default())
        .collect();
    let shown: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if v.trim().is_empty() {
                format!("{{{{{}}}}}", i + 1)
            } else {
                v.clone()
            }
        })
        .collect();
    Ok(render(&TemplateFields {
        id: c.id,
        names: (1..=values.len()).map(|i| format!("p{i}")).collect(),
        preview: t.render(&shown),
        category: t.category.clone(),
        values,
    }))
}
