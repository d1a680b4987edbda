//! A contact's page (their state per channel and purpose, with the deciding
//! events, so an agent can answer "why am I not getting your messages?" in
//! one look) and the review queue.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::Row;

use super::{Chrome, render};
use crate::model::{PrefChannel, Purpose};
use crate::preferences::{self, review};
use crate::store::StoreError;
use crate::web::format;
use crate::web::session::{Admin, CurrentUser};
use crate::web::{AppState, WebError};

pub struct StateRow {
    channel: &'static str,
    purpose: &'static str,
    allowed: bool,
    explanation: String,
}

pub struct LedgerRow {
    when: String,
    effect: String,
    scope: String,
    signal: String,
    source: String,
    evidence: String,
    policy: String,
}

pub struct ExclusionView {
    journey: String,
    signal: String,
    since: String,
    policy: Option<String>,
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    chrome: Chrome,
    name: String,
    phone: Option<String>,
    email: Option<String>,
    wa_user_id: Option<String>,
    states: Vec<StateRow>,
    exclusions: Vec<ExclusionView>,
    ledger: Vec<LedgerRow>,
    conversations: Vec<(String, String)>,
    id: String,
    /// Administrators may set or lift a do-not-contact here.
    is_admin: bool,
    do_not_contact: bool,
}

/// Conversations of the contact the user may open; a user who may open none
/// (and has no review of them) may not see the contact either.
async fn visible_conversations(
    state: &AppState,
    current: &CurrentUser,
    contact_id: &str,
) -> Result<Vec<(String, String)>, WebError> {
    let rows = sqlx::query("SELECT id, team, assignee, status, category, opened_at FROM conversations WHERE contact_id = $1 ORDER BY opened_at DESC LIMIT 50")
        .bind(contact_id)
        .fetch_all(state.db.reader())
        .await
        .map_err(StoreError::from)?;
    let mut out = Vec::new();
    for r in rows {
        let team: Option<String> = r.try_get(1).map_err(StoreError::from)?;
        let assignee: Option<String> = r.try_get(2).map_err(StoreError::from)?;
        if current.user.sees_team(team.as_deref())
            || assignee.as_deref() == Some(current.user.email.as_str())
        {
            let (status, category, opened): (String, String, i64) = (
                r.try_get(3).map_err(StoreError::from)?,
                r.try_get(4).map_err(StoreError::from)?,
                r.try_get(5).map_err(StoreError::from)?,
            );
            out.push((
                r.try_get(0).map_err(StoreError::from)?,
                format!("{category}, {status}, opened {}", format::when(opened)),
            ));
        }
    }
    Ok(out)
}

pub async fn page(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let row = sqlx::query("SELECT name, phone, email, wa_user_id FROM contacts WHERE id = $1")
        .bind(&id)
        .fetch_optional(state.db.reader())
        .await
        .map_err(StoreError::from)?
        .ok_or(WebError::NotFound("contact"))?;
    let conversations = visible_conversations(&state, &current, &id).await?;
    let reviewer = review::open_reviews(&state.db, &current.user)
        .await?
        .iter()
        .any(|r| r.contact_id == id);
    if conversations.is_empty() && !reviewer && !current.user.is_admin() {
        return Err(WebError::NotFound("contact"));
    }
    let (name, phone, email, wa_user_id): (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = (
        row.try_get(0).map_err(StoreError::from)?,
        row.try_get(1).map_err(StoreError::from)?,
        row.try_get(2).map_err(StoreError::from)?,
        row.try_get(3).map_err(StoreError::from)?,
    );
    let mut states = Vec::new();
    // Do-not-contact covers every channel and purpose: any answer shows it.
    let mut do_not_contact = false;
    for channel in PrefChannel::ALL {
        for purpose in Purpose::ALL {
            let e =
                preferences::eligibility_for_contact(&state.db, &id, "", *channel, *purpose, None)
                    .await?;
            do_not_contact |= e.reason == preferences::precedence::Reason::DoNotContact;
            states.push(StateRow {
                channel: channel.as_str(),
                purpose: purpose.as_str(),
                allowed: e.allowed,
                explanation: e.explanation,
            });
        }
    }
    let exclusions = review::active_exclusions(&state.db)
        .await?
        .into_iter()
        .filter(|x| x.contact_id == id)
        .map(|x| ExclusionView {
            journey: x.journey,
            signal: x.signal,
            since: format::when(x.created_at),
            policy: x.policy,
        })
        .collect();
    let ledger = preferences::history(&state.db, &id)
        .await?
        .into_iter()
        .rev()
        .map(|e| LedgerRow {
            when: format::when(e.occurred_at),
            effect: e.effect.as_str().replace('_', " "),
            scope: format!("{} / {}", e.channel, e.purpose),
            signal: e.signal.replace('_', " "),
            source: e
                .actor
                .map_or(e.source.clone(), |a| format!("{} ({a})", e.source)),
            evidence: [
                e.evidence_message_id,
                e.evidence_status,
                e.evidence_code,
                e.reason,
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
            policy: e.policy.unwrap_or_default(),
        })
        .collect();
    let page = ContactPage {
        chrome: Chrome::for_user(&state, &current, "queue").await,
        name: name
            .clone()
            .or(phone.clone())
            .or(email.clone())
            .or(wa_user_id.clone())
            .unwrap_or_else(|| "Unknown contact".into()),
        phone,
        email,
        wa_user_id,
        states,
        exclusions,
        ledger,
        conversations,
        do_not_contact,
        is_admin: current.user.is_admin(),
        id,
    };
    Ok(render(&page))
}

pub struct ReviewView {
    id: String,
    contact_id: String,
    contact: String,
    signal: String,
    evidence: String,
    policy: String,
    team: String,
    since: String,
}

pub struct ExclusionRowView {
    id: String,
    contact_id: String,
    contact: String,
    journey: String,
    signal: String,
    policy: String,
    since: String,
}

#[derive(Template)]
#[template(path = "reviews.html")]
struct ReviewsPage {
    chrome: Chrome,
    message: Option<String>,
    reviews: Vec<ReviewView>,
    is_admin: bool,
    exclusions: Vec<ExclusionRowView>,
}

pub async fn reviews(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Response, WebError> {
    let reviews = review::open_reviews(&state.db, &current.user)
        .await?
        .into_iter()
        .map(|r| ReviewView {
            evidence: [
                r.evidence_message_id,
                r.evidence_code.map(|c| format!("error {c}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
            id: r.id,
            contact_id: r.contact_id,
            contact: r.contact,
            signal: r.signal.replace('_', " "),
            policy: r.policy.unwrap_or_default(),
            team: r.team.unwrap_or_else(|| "(admins)".into()),
            since: format::when(r.created_at),
        })
        .collect();
    let exclusions = if current.user.is_admin() {
        review::active_exclusions(&state.db)
            .await?
            .into_iter()
            .map(|x| ExclusionRowView {
                id: x.id,
                contact_id: x.contact_id,
                contact: x.contact,
                journey: x.journey,
                signal: x.signal.replace('_', " "),
                policy: x.policy.unwrap_or_default(),
                since: format::when(x.created_at),
            })
            .collect()
    } else {
        Vec::new()
    };
    let page = ReviewsPage {
        chrome: Chrome::for_user(&state, &current, "reviews").await,
        message: None,
        reviews,
        is_admin: current.user.is_admin(),
        exclusions,
    };
    Ok(render(&page))
}

#[derive(Deserialize)]
pub struct DecideForm {
    decision: review::Decision,
    reason: String,
}

pub async fn decide(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<DecideForm>,
) -> Result<Response, WebError> {
    let reason = required_reason(&form.reason)?;
    if !review::decide(
        &state.db,
        &current.user,
        &id,
        form.decision,
        reason,
        state.clock.now_ms(),
    )
    .await?
    {
        return Err(WebError::Conflict(
            "this review was already decided, or is not one of your teams'".into(),
        ));
    }
    Ok(Redirect::to("/reviews").into_response())
}

#[derive(Deserialize)]
pub struct LiftForm {
    reason: String,
}

pub async fn lift(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Form(form): Form<LiftForm>,
) -> Result<Response, WebError> {
    let reason = required_reason(&form.reason)?;
    if !review::lift_exclusion(&state.db, &admin.user, &id, reason, state.clock.now_ms()).await? {
        return Err(WebError::Conflict(
            "this exclusion was already lifted".into(),
        ));
    }
    Ok(Redirect::to("/reviews").into_response())
}

#[derive(Deserialize)]
pub struct DoNotContactForm {
    /// `set` or `lift`.
    action: String,
    reason: String,
}

/// An administrator sets or lifts a manual do-not-contact, with a reason.
pub async fn do_not_contact(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Form(form): Form<DoNotContactForm>,
) -> Result<Response, WebError> {
    let set = match form.action.as_str() {
        "set" => true,
        "lift" => false,
        _ => return Err(WebError::bad("action", "set or lift")),
    };
    let reason = required_reason(&form.reason)?;
    let known: Option<String> = sqlx::query_scalar("SELECT id FROM contacts WHERE id = $1")
        .bind(&id)
        .fetch_optional(state.db.reader())
        .await
        .map_err(StoreError::from)?;
    if known.is_none() {
        return Err(WebError::NotFound("contact"));
    }
    if preferences::do_not_contact(&state.db, &id).await? == set {
        return Err(WebError::Conflict(if set {
            "this contact is already on do-not-contact".into()
        } else {
            "this contact is not on do-not-contact".into()
        }));
    }
    preferences::set_do_not_contact(
        &state.db,
        &id,
        set,
        &admin.user.email,
        reason,
        state.clock.now_ms(),
    )
    .await?;
    Ok(Redirect::to(&format!("/contacts/{id}")).into_response())
}

/// The reason a decision form must carry, trimmed; blank is refused at the field.
fn required_reason(reason: &str) -> Result<&str, WebError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(WebError::bad("reason", "say why, for the record"));
    }
    Ok(reason)
}
