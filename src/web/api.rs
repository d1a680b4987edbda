//! The machine API under `/api/v1`, authenticated with API keys.

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::{AppState, WebError};
use crate::auth::apikeys::{self, ApiClient, Scope};
use crate::contacts::{self, identity::ContactKey};
use crate::ingest::query::{self, EventView};
use crate::model::{PrefChannel, Purpose};
use crate::outbound::{self, Registered, Registration};
use crate::preferences::{self, Change, Eligibility, external};
use crate::reports::conversions::{self, NewConversion, Recorded};
use crate::reports::numbers::{self, JourneysAnswer};
use crate::reports::{self, GroupBy, Period};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(list_events))
        .route("/eligibility", get(eligibility))
        .route("/suppressions", get(suppressions))
        .route("/suppressions.csv", get(suppressions_csv))
        .route("/outbound", post(register_outbound))
        .route("/preferences", post(record_preference))
        .route("/conversions", post(record_conversion))
        .route("/reports/journeys", get(report_journeys))
}

/// The scope each API route needs. Every route under `/api/v1` must be
/// listed: one that is not is refused (500, logged) rather than open.
pub const SCOPES: &[(&str, &str, Scope)] = &[
    ("GET", "/api/v1/events", Scope::Read),
    ("GET", "/api/v1/eligibility", Scope::Eligibility),
    ("GET", "/api/v1/suppressions", Scope::Eligibility),
    ("GET", "/api/v1/suppressions.csv", Scope::Eligibility),
    ("POST", "/api/v1/outbound", Scope::Outbound),
    ("POST", "/api/v1/preferences", Scope::Preferences),
    ("POST", "/api/v1/conversions", Scope::Conversions),
    ("GET", "/api/v1/reports/journeys", Scope::Read),
    ("GET", "/api/v1/conversations", Scope::Read),
    ("GET", "/api/v1/conversations/{id}/messages", Scope::Read),
    ("POST", "/api/v1/conversations/{id}/messages", Scope::Send),
    ("GET", "/api/v1/templates", Scope::Read),
];

fn scope_for(method: &axum::http::Method, path: &str) -> Option<Scope> {
    SCOPES
        .iter()
        .find(|(m, p, _)| *m == method.as_str() && *p == path)
        .map(|(_, _, s)| *s)
}

/// An API client identified by `Authorization: Bearer rdk_…`, whose key
/// has the scope the route needs.
pub struct Api(pub ApiClient);

impl FromRequestParts<AppState> for Api {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(WebError::Unauthorized("send an API key as `Authorization: Bearer rdk_…` (create one with `replydesk apikey create`)"))?;
        let client = apikeys::verify(&state.db, token.trim(), state.clock.now_ms())
            .await?
            .ok_or(WebError::Unauthorized("this API key is unknown or revoked"))?;
        let path = parts
            .extensions
            .get::<MatchedPath>()
            .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
        let Some(scope) = scope_for(&parts.method, &path) else {
            return Err(WebError::Internal(format!(
                "no API scope is decided for {} {path}; add it to web::api::SCOPES",
                parts.method
            )));
        };
        if !client.may(scope) {
            return Err(WebError::MissingScope(scope.as_str()));
        }
        Ok(Api(client))
    }
}

#[derive(Deserialize)]
struct Page {
    after: Option<i64>,
    limit: Option<i64>,
}

#[derive(Serialize)]
struct EventsPage {
    events: Vec<EventView>,
    /// Pass as `after` to get the next page; unchanged when there is nothing new.
    next: i64,
}

/// Stored events in arrival order, after a cursor.
async fn list_events(
    _: Api,
    State(state): State<AppState>,
    Query(page): Query<Page>,
) -> Result<Json<EventsPage>, WebError> {
    let after = page.after.unwrap_or(0);
    let limit = page.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(WebError::bad("limit", "limit must be between 1 and 1000"));
    }
    let events = query::list_events(&state.db, after, limit).await?;
    let next = events.last().map_or(after, |e| e.id);
    Ok(Json(EventsPage { events, next }))
}

#[derive(Deserialize)]
struct EligibilityQuery {
    contact: Option<String>,
    channel: Option<String>,
    purpose: Option<String>,
    journey: Option<String>,
}

/// May the sending platform message this contact on this channel for this purpose?
async fn eligibility(
    _: Api,
    State(state): State<AppState>,
    Query(q): Query<EligibilityQuery>,
) -> Result<Json<Eligibility>, WebError> {
    let contact = q.contact.ok_or_else(|| {
        WebError::bad(
            "contact",
            "give the contact as contact=+E164, a WhatsApp user id or an email address",
        )
    })?;
    let key = ContactKey::parse(&contact).map_err(|m| WebError::bad("contact", m))?;
    let channel = q.channel.as_deref().unwrap_or("whatsapp");
    let channel = PrefChannel::parse(channel)
        .ok_or_else(|| WebError::bad("channel", "expected whatsapp or email"))?;
    let purpose = q.purpose.as_deref().unwrap_or("marketing");
    let purpose = Purpose::parse(purpose)
        .ok_or_else(|| WebError::bad("purpose", "expected marketing or all"))?;
    let contact_id = contacts::lookup(&state.db, &key).await?;
    let journey = q
        .journey
        .as_deref()
        .map(str::trim)
        .filter(|j| !j.is_empty());
    Ok(Json(
        preferences::eligibility_for_contact(
            &state.db,
            &contact_id,
            key.label(),
            channel,
            purpose,
            journey,
        )
        .await?,
    ))
}

/// Records a preference event from another system.
async fn record_preference(
    Api(client): Api,
    State(state): State<AppState>,
    body: Result<Json<external::ExternalEvent>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<external::Recorded>), WebError> {
    let Json(event) = body.map_err(|e| WebError::BadRequest {
        field: None,
        message: e.body_text(),
    })?;
    let done = external::record(
        &state.db,
        &state.signals,
        &event,
        &client.name,
        state.clock.now_ms(),
    )
    .await
    .map_err(|e| match e {
        external::ExternalError::Invalid { field, message } => WebError::bad(field, message),
        external::ExternalError::Store(s) => s.into(),
    })?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(done)))
}

#[derive(Deserialize)]
struct ChangesQuery {
    since: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize)]
struct ChangesPage {
    changes: Vec<Change>,
    /// Pass as `since` for the next page.
    next: String,
}

/// Ledger changes since a cursor, for sending platforms to keep their list in step.
async fn suppressions(
    _: Api,
    State(state): State<AppState>,
    Query(q): Query<ChangesQuery>,
) -> Result<Json<ChangesPage>, WebError> {
    let since = q.since.unwrap_or_default();
    let limit = q.limit.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(WebError::bad("limit", "limit must be between 1 and 5000"));
    }
    let changes = preferences::changes_since(&state.db, &since, limit).await?;
    let next = changes.last().map_or(since, |c| c.cursor.clone());
    Ok(Json(ChangesPage { changes, next }))
}

/// The current suppression list as CSV.
async fn suppressions_csv(
    _: Api,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, WebError> {
    let rows = preferences::current_suppressions(&state.db).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "contact",
        "wa_user_id",
        "channel",
        "purpose",
        "reason",
        "since",
        "signal",
        "source",
    ];
    out.write_record(header)
        .map_err(|e| WebError::Internal(e.to_string()))?;
    for r in rows {
        let reason = serde_json::to_value(r.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        crate::csv_export::write_row(
            &mut out,
            [
                r.contact.unwrap_or_default(),
                r.wa_user_id.unwrap_or_default(),
                r.channel.to_string(),
                r.purpose.to_string(),
                reason,
                r.since.to_string(),
                r.signal,
                r.source,
            ],
        )
        .map_err(|e| WebError::Internal(e.to_string()))?;
    }
    let body = out
        .into_inner()
        .map_err(|e| WebError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"suppressions.csv\"",
            ),
        ],
        body,
    ))
}

/// Registers a message the sending platform sent.
async fn register_outbound(
    Api(client): Api,
    State(state): State<AppState>,
    body: Result<Json<Registration>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Registered>), WebError> {
    let Json(reg) = body.map_err(|e| WebError::BadRequest {
        field: None,
        message: e.body_text(),
    })?;
    let done = outbound::register(&state.db, &reg, &client.name, state.clock.now_ms())
        .await
        .map_err(|e| WebError::bad(e.field, e.message))??;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(done)))
}

/// Records a conversion; a repeat of the same `external_id` changes nothing.
async fn record_conversion(
    Api(client): Api,
    State(state): State<AppState>,
    body: Result<Json<NewConversion>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Recorded>), WebError> {
    let Json(conversion) = body.map_err(|e| WebError::BadRequest {
        field: None,
        message: e.body_text(),
    })?;
    let source = format!("api:{}", client.name);
    let done = conversions::record(
        &state.db,
        &state.config,
        &conversion,
        &source,
        state.clock.now_ms(),
    )
    .await?
    .map_err(|e| WebError::bad(e.field, e.message))?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(done)))
}

#[derive(Deserialize)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
}

/// The report by journey, for machines: the same numbers as `/reports`.
async fn report_journeys(
    _: Api,
    State(state): State<AppState>,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<JourneysAnswer>, WebError> {
    let period = Period::parse(q.from.as_deref(), q.to.as_deref(), state.clock.now_ms())
        .map_err(|e| WebError::bad(e.field, e.message))?;
    let report = reports::load(&state.db, &state.config, period, GroupBy::Journey, None).await?;
    Ok(Json(numbers::journeys(&report)))
}
