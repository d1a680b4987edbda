//! The one error type at the HTTP edge. Handlers return `WebError`; it
//! becomes JSON for machines (`/api`, webhooks) and, through
//! [`html_errors`], a page or an htmx fragment for people. Server errors are
//! logged once, with the request id the user also sees.

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("you do not have access to this page")]
    Forbidden,
    /// The API key lacks the scope the route needs.
    #[error(
        "this API key lacks the scope `{0}`; create a key with `replydesk apikey create --scope {0}`"
    )]
    MissingScope(&'static str),
    /// Refused, with the reason the person or machine can act on.
    #[error("{0}")]
    ForbiddenBecause(&'static str),
    #[error("{message}")]
    BadRequest {
        field: Option<&'static str>,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(&'static str),
    /// Turned away for now (every password-hashing slot is taken); the
    /// answer says when to try again.
    #[error("{0}")]
    Busy(&'static str),
    #[error("internal error: {0}")]
    Internal(String),
}

impl WebError {
    pub fn bad(field: &'static str, message: impl Into<String>) -> WebError {
        WebError::BadRequest {
            field: Some(field),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            WebError::Forbidden | WebError::ForbiddenBecause(_) | WebError::MissingScope(_) => {
                StatusCode::FORBIDDEN
            }
            WebError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Gone(_) => StatusCode::GONE,
            WebError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for WebError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => WebError::NotFound("record"),
            StoreError::Conflict(what) => WebError::Conflict(what),
            other => WebError::Internal(other.to_string()),
        }
    }
}

/// The error as a client sees it; kept on the response so the HTML layer can
/// re-render it.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            // Details of a server error go to the log, not to the client.
            WebError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "something went wrong on our side; the error was logged with this request's id"
                    .to_string()
            }
            other => other.to_string(),
        };
        let field = match &self {
            WebError::BadRequest { field, .. } => *field,
            _ => None,
        };
        let body = ErrorBody {
            error: message,
            field,
            request_id: None,
        };
        let mut response = (status, Json(body.clone())).into_response();
        if matches!(self, WebError::Busy(_)) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response.extensions_mut().insert(body);
        response
    }
}

/// The request id assigned by the request-id layer, for error bodies.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
