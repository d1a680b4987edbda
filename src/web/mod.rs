//! The HTTP edge: routes, shared state, middleware. Only this module knows
//! HTTP; handlers extract, call one domain function, and render.

mod api;
mod api_replies;
mod assets;
pub mod chart;
pub mod error;
pub mod format;
mod ops;
mod pages;
pub mod session;
mod webhooks;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath};
use axum::http::Request;
use axum::routing::get;
use std::ops::Deref;
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::classify::LiveRules;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::ingest::Ingest;
use crate::outbox::Outbox;
use crate::preferences::SignalContext;
use crate::store::Db;
pub use error::WebError;

/// Everything a handler may need, cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: SharedClock,
    pub rules: Arc<LiveRules>,
    pub signals: Arc<SignalContext>,
    pub ingest: Ingest,
    pub router: crate::routing::Router,
    pub calendars: Arc<crate::sla::clock::Calendars>,
    pub sla: Arc<crate::sla::worker::SlaWorker>,
    pub policy_files: Arc<crate::preferences::PolicyFiles>,
    pub outbox: Arc<Outbox>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub admin: crate::admin::AdminState,
    pub replies: crate::replies::Replies,
    /// This instance's reply sender (tests run it by hand).
    pub reply_worker: crate::replies::Worker,
    /// Canned responses and auto-replies, following their files.
    pub reply_files: Arc<crate::replies::ReplyFiles>,
    /// Where media files are kept.
    pub media_files: crate::media::FileStore,
    /// This instance's media fetcher (tests run it by hand).
    pub media_fetcher: crate::media::Fetcher,
}

impl AppState {
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Db {
        state.db.clone()
    }
}

/// The scope each API route needs (for the route matrix test and the docs).
pub fn api_scopes() -> &'static [(&'static str, &'static str, crate::auth::apikeys::Scope)] {
    api::SCOPES
}

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let webhooks = webhooks::routes().layer(DefaultBodyLimit::max(body_limit));
    Router::new()
        .merge(webhooks)
        .merge(pages::routes(state.clone()))
        .route("/static/{*path}", get(assets::serve))
        .nest("/api/v1", api::routes().merge(api_replies::routes()))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .with_state(state)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str);
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), route, request_id = id)
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
