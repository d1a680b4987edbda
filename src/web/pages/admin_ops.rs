//! Administration beyond the rules: settings, users, the audit log, dead
//! letters and the outbox.

use axum::Router;

use crate::web::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
