//! Signing in and out, the first administrator's setup link, and "away".

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};

use super::{Chrome, render, safe_next};
use crate::auth::users::{self, AccountError, Role};
use crate::auth::{passwords, sessions};
use crate::web::session::{
    CurrentUser, cookie_value, login_cookie, login_form_trusted, session_cookie,
};
use crate::web::{AppState, WebError};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    error: Option<String>,
    email: String,
    next: String,
    /// The form's token (see [`login_form_trusted`]).
    form_token: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref().unwrap_or("/queue")).to_string();
    if let Some(token) = cookie_value(&headers)
        && let Ok(Some(_)) = sessions::lookup(&state.db, &token, state.clock.now_ms()).await
    {
        return Redirect::to(&next).into_response();
    }
    let form_token = sessions::random_token();
    let cookie = login_cookie(&state, &form_token);
    (
        [(header::SET_COOKIE, cookie)],
        render(&LoginPage {
            chrome: Chrome::anonymous(),
            error: None,
            email: String::new(),
            next,
            form_token,
        }),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
    #[serde(rename = "_login")]
    form_token: Option<String>,
}

/// The client's address for throttling. `X-Forwarded-For` is believed only
/// when the connection comes from a configured trusted proxy, and then read
/// from the right: the first address that is not itself a trusted proxy is
/// the client (entries to its left are whatever the client wrote).
pub fn client_ip(headers: &HeaderMap, peer: SocketAddr, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.ip().to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !is_trusted(&client) {
                    break;
                }
            }
            // A hop the proxy did not write: stop at the last one it did.
            Err(_) => break,
        }
    }
    client
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let email = form.email.trim().to_lowercase();
    let ip = client_ip(&headers, peer, &state.config.trusted_proxies).to_string();
    let next = safe_next(form.next.as_deref().unwrap_or("/queue")).to_string();
    if !login_form_trusted(&headers, form.form_token.as_deref()) {
        tracing::warn!(ip = %ip, "sign-in refused: no Origin header and no valid form token");
        return Err(WebError::ForbiddenBecause(
            "This sign-in form has expired or came from elsewhere. Reload the sign-in page and try again.",
        ));
    }
    let form_token = form.form_token.clone().unwrap_or_default();
    let fail = |error: String| {
        render(&LoginPage {
            chrome: Chrome::anonymous(),
            error: Some(error),
            email: email.clone(),
            next: next.clone(),
            form_token: form_token.clone(),
        })
    };
    let attempt = match sessions::begin_attempt(&state.db, &email, &ip, now).await? {
        sessions::Attempt::Go { id } => id,
        sessions::Attempt::Locked { minutes } => {
            tracing::warn!(ip = %ip, "sign-in refused: too many failed attempts");
            return Ok(fail(format!(
                "Too many failed sign-ins. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            )));
        }
    };
    let account = users::credentials(&state.db, &email).await?;
    let stored = account.as_ref().and_then(|(_, hash)| hash.clone());
    let Ok(ok) = passwords::check_sign_in(form.password.clone(), stored).await else {
        sessions::withdraw(&state.db, &attempt).await?;
        return Err(WebError::Busy(
            "Too many people are signing in at this moment; try again in a second.",
        ));
    };
    let Some((user_id, _)) = account.filter(|_| ok) else {
        return Ok(fail("Email or password is wrong.".into()));
    };
    sessions::succeeded(&state.db, &email).await?;
    let token = sessions::create(&state.db, &user_id, now).await?;
    tracing::info!(user = %user_id, "signed in");
    let cookie = session_cookie(&state, &token, sessions::ABSOLUTE_MS / 1000);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response())
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if let Some(token) = cookie_value(&headers) {
        sessions::delete(&state.db, &token).await?;
    }
    Ok((
        [(header::SET_COOKIE, session_cookie(&state, "", 0))],
        Redirect::to("/login"),
    )
        .into_response())
}

const LINK_GONE: &str =
    "This link has been used or has expired. Ask an administrator for a new one.";

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Chrome,
    heading: String,
    intro: String,
    action: String,
    button: String,
    email: String,
    email_locked: bool,
    email_error: Option<String>,
    password_error: Option<String>,
}

fn setup_view(token: &str, purpose: &str, email: Option<String>) -> SetupPage {
    let first = purpose == "first_admin";
    SetupPage {
        chrome: Chrome::anonymous(),
        heading: if first {
            "Create the first administrator".into()
        } else {
            "Choose your password".into()
        },
        intro: if first {
            "No administrator exists yet. The account you create here can add everyone else.".into()
        } else {
            "This link works once. Choose a password to finish setting up your account.".into()
        },
        action: format!("/setup/{token}"),
        button: if first {
            "Create administrator".into()
        } else {
            "Set password".into()
        },
        email_locked: email.is_some(),
        email: email.unwrap_or_default(),
        email_error: None,
        password_error: None,
    }
}

pub async fn setup_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    match sessions::peek_link(&state.db, &token, state.clock.now_ms()).await? {
        Some((purpose, email)) => Ok(render(&setup_view(&token, &purpose, email))),
        None => Err(WebError::Gone(LINK_GONE)),
    }
}

#[derive(Deserialize)]
pub struct SetupForm {
    email: Option<String>,
    password: String,
    confirm: String,
}

pub async fn setup(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<SetupForm>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let Some((purpose, fixed_email)) = sessions::peek_link(&state.db, &token, now).await? else {
        return Err(WebError::Gone(LINK_GONE));
    };
    let mut view = setup_view(&token, &purpose, fixed_email.clone());
    let email = fixed_email.clone().or(form.email).unwrap_or_default();
    view.email.clone_from(&email);
    if let Err(e) = users::normalize_email(&email) {
        view.email_error = Some(e.to_string());
        return Ok(render(&view));
    }
    if let Err(e) = users::check_password_strength(&form.password) {
        view.password_error = Some(e.to_string());
        return Ok(render(&view));
    }
    if form.password != form.confirm {
        view.password_error = Some("the two passwords are not the same".into());
        return Ok(render(&view));
    }
    let hash = passwords::hash_password(form.password)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    if !sessions::use_link(&state.db, &token, now).await? {
        return Err(WebError::Gone(LINK_GONE));
    }
    let user_id = match purpose.as_str() {
        "first_admin" => {
            match users::create(&state.db, &email, Role::Admin, &[], Some(&hash), now).await {
                Ok(id) => id,
                Err(AccountError::Exists) => {
                    view.email_error = Some("an account with this email already exists".into());
                    return Ok(render(&view));
                }
                Err(e) => return Err(WebError::Internal(e.to_string())),
            }
        }
        _ => {
            let (id, _) = users::credentials(&state.db, &email)
                .await?
                .ok_or(WebError::NotFound("account"))?;
            users::set_password_hash(&state.db, &id, &hash, now).await?;
            sessions::delete_for_user(&state.db, &id).await?;
            id
        }
    };
    tracing::info!(user = %user_id, purpose = %purpose, "account set up through a one-time link");
    let session = sessions::create(&state.db, &user_id, now).await?;
    Ok((
        [(
            header::SET_COOKIE,
            session_cookie(&state, &session, sessions::ABSOLUTE_MS / 1000),
        )],
        Redirect::to("/queue"),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct AwayForm {
    away: String,
}

/// Agents mark themselves away; round-robin skips them.
pub async fn set_away(
    State(state): State<AppState>,
    current: CurrentUser,
    headers: HeaderMap,
    Form(form): Form<AwayForm>,
) -> Result<Response, WebError> {
    let away = form.away == "1";
    users::set_away(&state.db, &current.user.email, away, state.clock.now_ms()).await?;
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.find("://")
                .and_then(|i| r[i + 3..].find('/').map(|j| r[i + 3 + j..].to_string()))
        })
        .unwrap_or_else(|| "/queue".into());
    Ok(Redirect::to(safe_next(&back)).into_response())
}
