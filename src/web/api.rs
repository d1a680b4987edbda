//! The machine API under `/api/v1`, authenticated with API keys.

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::{AppState, WebError};
use crate::auth::apikeys::{self, ApiClient};
use crate::ingest::query::{self, EventView};

pub fn routes() -> Router<AppState> {
    Router::new().route("/events", get(list_events))
}

/// An API client identified by `Authorization: Bearer rdk_…`.
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
        apikeys::verify(&state.db, token.trim(), state.clock.now_ms())
            .await?
            .map(Api)
            .ok_or(WebError::Unauthorized("this API key is unknown or revoked"))
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
