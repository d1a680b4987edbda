//! One conversation: the contact's timeline, the actions, and whether the
//! contact may be messaged.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

use super::{Chrome, htmx, render};
use crate::auth::users;
use crate::conversations::{
    self, Action, ActionError, Conversation, Item, ItemKind, Outcome, ResponseKind,
};
use crate::model::{Category, PrefChannel, Purpose};
use crate::preferences;
use crate::preferences::precedence::Reason;
use crate::web::format;
use crate::web::session::CurrentUser;
use crate::web::{AppState, WebError};

pub struct Header {
    id: String,
    contact_id: String,
    contact: String,
    phone: Option<String>,
    category: &'static str,
    category_label: &'static str,
    status: String,
    status_label: &'static str,
    open: bool,
    mine: bool,
    team: String,
    team_name: Option<String>,
    assignee: String,
    assignee_email: Option<String>,
    journey: Option<String>,
    sla: String,
    sla_class: &'static str,
}

pub struct ItemView {
    kind: &'static str,
    when: String,
    iso: String,
    actor: Option<String>,
    what: String,
    category: Option<String>,
    rule: Option<String>,
    lang: Option<String>,
    text: Option<String>,
    highlight: Option<(String, String, String)>,
    error: Option<String>,
    facts: Vec<(String, String)>,
    media: Vec<crate::media::MediaView>,
    place: Option<crate::media::Place>,
    cards: Vec<crate::media::Card>,
}

pub struct EligibilityRow {
    channel: &'static str,
    purpose: &'static str,
    allowed: bool,
    why: String,
}

#[derive(Default)]
pub struct FieldErrors {
    text: Option<String>,
    category: Option<String>,
    agent: Option<String>,
}

#[derive(Template)]
#[template(path = "conversation.html")]
struct Page {
    chrome: Chrome,
    c: Header,
    items: Vec<ItemView>,
    eligibility: Vec<EligibilityRow>,
    agents: Vec<String>,
    teams: Vec<String>,
    categories: Vec<(&'static str, &'static str)>,
    responses: Vec<(&'static str, &'static str)>,
    outcomes: Vec<(&'static str, &'static str)>,
    errors: FieldErrors,
    message: Option<String>,
    /// The reply box, rendered by its own template (its requests swap it alone).
    reply: String,
}

#[derive(Template)]
#[template(path = "conversation.html", block = "panel")]
struct Panel<'a> {
    chrome: &'a Chrome,
    c: &'a Header,
    items: &'a [ItemView],
    eligibility: &'a [EligibilityRow],
    agents: &'a [String],
    teams: &'a [String],
    categories: &'a [(&'static str, &'static str)],
    responses: &'a [(&'static str, &'static str)],
    outcomes: &'a [(&'static str, &'static str)],
    errors: &'a FieldErrors,
    message: &'a Option<String>,
    reply: &'a str,
}

fn header(c: &Conversation, me: &str, now: i64) -> Header {
    let (sla, sla_class) = format::sla(c.due_at, c.at_risk_at, now);
    Header {
        id: c.id.clone(),
        contact_id: c.contact_id.clone(),
        contact: c
            .contact_name
            .clone()
            .or_else(|| c.contact_phone.clone())
            .or_else(|| c.wa_user_id.clone())
            .unwrap_or_else(|| "Unknown contact".into()),
        phone: c.contact_phone.clone(),
        category: c.category.as_str(),
        category_label: c.category.label(),
        status_label: match c.status.as_str() {
            "open" => "Open",
            "resolved" => "Resolved",
            _ => "Closed by the system",
        },
        open: c.status == "open",
        status: c.status.clone(),
        mine: c.assignee.as_deref() == Some(me),
        team: c.team.clone().unwrap_or_else(|| "none".into()),
        team_name: c.team.clone(),
        assignee: c.assignee.clone().unwrap_or_else(|| "nobody".into()),
        assignee_email: c.assignee.clone(),
        journey: c.journey.clone(),
        sla,
        sla_class,
    }
}

fn item_view(i: Item) -> ItemView {
    ItemView {
        kind: match i.kind {
            ItemKind::Inbound => "inbound",
            ItemKind::Outbound => "outbound",
            ItemKind::Status => "status",
            ItemKind::Preference => "preference",
            ItemKind::Log => "log",
        },
        when: format::when(i.at),
        iso: format::iso(i.at),
        actor: i.actor,
        what: match i.kind {
            ItemKind::Inbound => format!("Customer · {}", i.what),
            ItemKind::Outbound => format!("Business · {}", i.what),
            ItemKind::Status => format!("Delivery status: {}", i.what),
            ItemKind::Preference => format!("Preference: {}", i.what),
            ItemKind::Log => i.what,
        },
        category: i.category,
        rule: i.rule,
        lang: i.lang,
        text: i.text,
        highlight: i.highlight,
        error: i.error,
        facts: i.facts,
        media: i.media,
        place: i.place,
        cards: i.cards,
    }
}

fn reason_words(r: Reason) -> &'static str {
    match r {
        Reason::NoSignal => "nothing speaks against it",
        Reason::OptedIn => "the customer opted in",
        Reason::DncLifted => "do-not-contact was lifted",
        Reason::Reachable => "reachable again",
        Reason::DoNotContact => "do-not-contact is set",
        Reason::UnderReview => "held for review by the preference policy",
        Reason::ExcludedFromJourney => "excluded from this journey",
        Reason::OptedOut => "the customer opted out",
        Reason::Unreachable => "the number cannot be reached",
    }
}

async fn eligibility(state: &AppState, c: &Conversation) -> Result<Vec<EligibilityRow>, WebError> {
    let mut out = Vec::new();
    for channel in PrefChannel::ALL {
        for purpose in Purpose::ALL {
            let e = preferences::eligibility_for_contact(
                &state.db,
                &c.contact_id,
                "",
                *channel,
                *purpose,
                None,
            )
            .await?;
            let mut why = reason_words(e.reason).to_string();
            if let Some(ev) = &e.deciding_event {
                why.push_str(&format!(
                    " ({}, {})",
                    ev.signal.replace('_', " "),
                    format::when(ev.occurred_at)
                ));
            }
            out.push(EligibilityRow {
                channel: channel.as_str(),
                purpose: purpose.as_str(),
                allowed: e.allowed,
                why,
            });
        }
    }
    Ok(out)
}

async fn build(
    state: &AppState,
    current: &CurrentUser,
    id: &str,
    errors: FieldErrors,
    message: Option<String>,
    reply: super::reply::Outcome,
) -> Result<Page, WebError> {
    let now = state.clock.now_ms();
    let c = conversations::get(&state.db, &current.user, id)
        .await?
        .ok_or(WebError::NotFound("conversation"))?;
    let items = conversations::timeline(&state.db, &c.contact_id, &current.user)
        .await?
        .into_iter()
        .map(item_view)
        .collect();
    let agents = match &c.team {
        Some(t) => users::team_members(&state.db, &state.config, t).await?,
        None => Vec::new(),
    };
    Ok(Page {
        chrome: Chrome::for_user(state, current, "queue").await,
        c: header(&c, &current.user.email, now),
        items,
        eligibility: eligibility(state, &c).await?,
        agents,
        teams: state.config.teams.iter().map(|t| t.name.clone()).collect(),
        categories: Category::ALL
            .iter()
            .map(|k| (k.as_str(), k.label()))
            .collect(),
        responses: ResponseKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.label()))
            .collect(),
        outcomes: Outcome::ALL
            .iter()
            .map(|k| (k.as_str(), k.label()))
            .collect(),
        errors,
        message,
        reply: super::reply::reply_box(state, current, &c, reply)
            .await?
            .render()
            .map_err(|e| WebError::Internal(format!("template failed: {e}")))?,
    })
}

pub async fn page(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    // A conversation folded into another is read where its messages went.
    if let Some(c) = conversations::get(&state.db, &current.user, &id).await?
        && let Some(into) = c.merged_into
    {
        return Ok(Redirect::to(&format!("/conversations/{into}")).into_response());
    }
    Ok(render(
        &build(
            &state,
            &current,
            &id,
            FieldErrors::default(),
            None,
            Default::default(),
        )
        .await?,
    ))
}

/// The whole page with what a reply sent without htmx came to (a browser
/// without scripts posts the form and must see the refusal too).
pub async fn with_reply_outcome(
    state: &AppState,
    current: &CurrentUser,
    id: &str,
    outcome: super::reply::Outcome,
) -> Result<Response, WebError> {
    Ok(render(
        &build(state, current, id, FieldErrors::default(), None, outcome).await?,
    ))
}

fn field(form: &HashMap<String, String>, name: &str) -> Option<String> {
    form.get(name).cloned()
}

fn parse_action(name: &str, form: &HashMap<String, String>) -> Result<Action, ActionError> {
    let bad = |field: &'static str, message: &str| ActionError::Invalid {
        field,
        message: message.to_string(),
    };
    let parse = |field: &'static str| -> Result<String, ActionError> {
        field_value(form, field).ok_or_else(|| bad(field, "choose a value"))
    };
    Ok(match name {
        "claim" => Action::Claim,
        "assign" => Action::Assign {
            agent: field(form, "agent"),
            team: field(form, "team"),
        },
        "reclassify" => Action::Reclassify {
            category: Category::parse(&parse("category")?)
                .ok_or_else(|| bad("category", "unknown category"))?,
            note: field(form, "note"),
        },
        "note" => Action::Note {
            text: field(form, "text").unwrap_or_default(),
        },
        "respond" => Action::Respond {
            kind: serde_json::from_value(serde_json::Value::String(parse("kind")?))
                .map_err(|_| bad("kind", "unknown response"))?,
            note: field(form, "note"),
        },
        "resolve" => Action::Resolve {
            outcome: serde_json::from_value(serde_json::Value::String(parse("outcome")?))
                .map_err(|_| bad("outcome", "unknown outcome"))?,
            note: field(form, "note"),
        },
        "reopen" => Action::Reopen,
        _ => return Err(ActionError::NotFound),
    })
}

fn field_value(form: &HashMap<String, String>, name: &str) -> Option<String> {
    form.get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Claim, assign, reclassify, note, respond, resolve, reopen.
pub async fn act(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let result = match parse_action(&name, &form) {
        Ok(action) => {
            conversations::apply(
                &state.db,
                &state.config,
                &state.calendars,
                &current.user,
                &id,
                action,
                now,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let (errors, message) = match result {
        Ok(()) => (
            FieldErrors::default(),
            Some(format!("Done: {}.", name.replace('_', " "))),
        ),
        Err(ActionError::NotFound) => return Err(WebError::NotFound("conversation")),
        Err(ActionError::Store(e)) => return Err(e.into()),
        Err(ActionError::Conflict(m)) => (FieldErrors::default(), Some(m)),
        Err(ActionError::Invalid { field, message }) => {
            let mut errors = FieldErrors::default();
            match field {
                "text" | "note" => errors.text = Some(message),
                "category" => errors.category = Some(message),
                "agent" | "team" => errors.agent = Some(message),
                _ => return Ok((axum::http::StatusCode::BAD_REQUEST, message).into_response()),
            }
            (errors, None)
        }
    };
    if !htmx(&headers) {
        return Ok(Redirect::to(&format!("/conversations/{id}")).into_response());
    }
    let p = build(&state, &current, &id, errors, message, Default::default()).await?;
    let panel = Panel {
        chrome: &p.chrome,
        c: &p.c,
        items: &p.items,
        eligibility: &p.eligibility,
        agents: &p.agents,
        teams: &p.teams,
        categories: &p.categories,
        responses: &p.responses,
        outcomes: &p.outcomes,
        errors: &p.errors,
        message: &p.message,
        reply: &p.reply,
    };
    Ok(render(&panel))
}
