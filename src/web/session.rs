//! People's requests: the session cookie, the signed-in user, CSRF checks on
//! every unsafe request, and the security headers every page carries.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::auth::sessions;
use crate::auth::users::{self, User};

pub const COOKIE: &str = "rd_session";

/// The signed-in user and their session's CSRF token.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub csrf: String,
}

/// Why a page could not be shown to this request.
#[derive(Debug)]
pub enum Denied {
    /// Not signed in: go to the login page (htmx: a client-side redirect).
    SignIn {
        htmx: bool,
        next: String,
    },
    Forbidden,
    Internal(String),
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::SignIn { htmx: true, .. } => {
                (StatusCode::UNAUTHORIZED, [("hx-redirect", "/login")]).into_response()
            }
            Denied::SignIn { htmx: false, next } => {
                let target = format!("/login?next={}", urlencode(&next));
                Redirect::to(&target).into_response()
            }
            Denied::Forbidden => super::WebError::Forbidden.into_response(),
            Denied::Internal(e) => super::WebError::Internal(e).into_response(),
        }
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)])
        .map(|e| e[2..].to_string())
        .unwrap_or_default()
}

pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    named_cookie(headers, COOKIE)
}

/// The value of the cookie `name`, if the request carries it.
pub fn named_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The sign-in form's own token, for a browser that sends no `Origin`
/// header: a cookie and a hidden field that must match (a page on another
/// site can post the form but cannot read or set the cookie).
pub const LOGIN_COOKIE: &str = "rd_login";

pub fn login_cookie(state: &AppState, value: &str) -> HeaderValue {
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let cookie = format!(
        "{LOGIN_COOKIE}={value}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=86400{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether a sign-in POST may be judged: its `Origin` was checked by
/// [`csrf_guard`]; without one, the form's token must match its cookie.
pub fn login_form_trusted(headers: &HeaderMap, field: Option<&str>) -> bool {
    if headers.contains_key(header::ORIGIN) {
        return true;
    }
    match (named_cookie(headers, LOGIN_COOKIE), field) {
        (Some(cookie), Some(field)) if !field.is_empty() => {
            bool::from(cookie.as_bytes().ct_eq(field.as_bytes()))
        }
        _ => false,
    }
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Secure behind TLS.
pub fn session_cookie(state: &AppState, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let cookie = format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Denied;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(current) = parts.extensions.get::<CurrentUser>() {
            return Ok(current.clone());
        }
        let sign_in = || Denied::SignIn {
            htmx: is_htmx(&parts.headers),
            next: parts
                .uri
                .path_and_query()
                .map_or("/queue".into(), ToString::to_string),
        };
        let Some(token) = cookie_value(&parts.headers) else {
            return Err(sign_in());
        };
        let now = state.clock.now_ms();
        let session = sessions::lookup(&state.db, &token, now)
            .await
            .map_err(|e| Denied::Internal(e.to_string()))?;
        let Some(session) = session else {
            return Err(sign_in());
        };
        let user = users::load(&state.db, &state.config, &session.user_id)
            .await
            .map_err(|e| Denied::Internal(e.to_string()))?;
        let Some(user) = user else {
            return Err(sign_in());
        };
        let current = CurrentUser {
            user,
            csrf: session.csrf,
        };
        parts.extensions.insert(current.clone());
        Ok(current)
    }
}

/// A signed-in lead or admin.
pub struct Lead(pub CurrentUser);

impl FromRequestParts<AppState> for Lead {
    type Rejection = Denied;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let current = CurrentUser::from_request_parts(parts, state).await?;
        if current.user.is_lead() {
            Ok(Lead(current))
        } else {
            Err(Denied::Forbidden)
        }
    }
}

/// A signed-in admin.
pub struct Admin(pub CurrentUser);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Denied;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let current = CurrentUser::from_request_parts(parts, state).await?;
        if current.user.is_admin() {
            Ok(Admin(current))
        } else {
            Err(Denied::Forbidden)
        }
    }
}

/// Refuses unsafe requests from another origin, and signed-in unsafe
/// requests without the session's CSRF token (form field `_csrf` or the
/// `X-CSRF-Token` header htmx sends).
pub async fn csrf_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    if !same_origin(&parts.headers) {
        return super::WebError::Forbidden.into_response();
    }
    let Some(token) = cookie_value(&parts.headers) else {
        // Not signed in: only the sign-in and setup forms accept this; they check their own token.
        return next.run(Request::from_parts(parts, body)).await;
    };
    let now = state.clock.now_ms();
    let Ok(Some(session)) = sessions::lookup(&state.db, &token, now).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    // A file upload carries its token in the header (htmx) or the form's
    // action URL, and its body goes to the handler unread.
    if is_multipart(&parts.headers) {
        let given = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                parts
                    .uri
                    .query()
                    .and_then(|q| form_field(q.as_bytes(), "_csrf"))
            });
        if !given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(session.csrf.as_bytes()))) {
            tracing::warn!(path = %parts.uri.path(), "refused an upload without a valid CSRF token");
            return (
                StatusCode::FORBIDDEN,
                "This form has expired. Reload the page and try again.",
            )
                .into_response();
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    let Ok(bytes) = to_bytes(body, 1024 * 1024).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let given = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| form_field(&bytes, "_csrf"));
    let valid = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(session.csrf.as_bytes())));
    if !valid {
        tracing::warn!(path = %parts.uri.path(), "refused a form without a valid CSRF token");
        return (
            StatusCode::FORBIDDEN,
            "This form has expired. Reload the page and try again.",
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// An `Origin` header, when present, must name the host the request came to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    origin != "null" && origin_host.eq_ignore_ascii_case(host)
}

/// Headers for every page: only the desk's own scripts and styles, no framing.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
