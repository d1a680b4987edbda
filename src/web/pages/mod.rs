//! Pages for people: sign-in, the queue, a conversation, the team view.
//! Server-rendered with askama; htmx requests get a block of the same
//! template instead of the whole page.

mod account;
mod admin;
mod admin_ops;
mod breaches;
mod contacts;
mod conversation;
mod media;
mod queue;
mod reply;
mod reports;
mod team;

use askama::Template;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::AppState;
use super::error::{ErrorBody, request_id};
use super::session::{CurrentUser, csrf_guard, is_htmx, security_headers};
use crate::auth::users;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        .route("/login", get(account::login_page).post(account::login))
        .route("/logout", post(account::logout))
        .route(
            "/setup/{token}",
            get(account::setup_page).post(account::setup),
        )
        .route("/me/away", post(account::set_away))
        .route("/queue", get(queue::page))
        .route("/queue/rows", get(queue::rows))
        .route("/conversations/{id}", get(conversation::page))
        .route("/conversations/{id}/{action}", post(conversation::act))
        .route("/conversations/{id}/reply", post(reply::send))
        .route(
            "/conversations/{id}/attachment",
            // Meta's largest document, and the form's other fields.
            post(reply::attach).layer(axum::extract::DefaultBodyLimit::max(101 * 1024 * 1024)),
        )
        .route("/conversations/{id}/template", get(reply::template_fields))
        .route("/conversations/{id}/replies/{reply}", get(reply::row))
        .route(
            "/conversations/{id}/replies/{reply}/again",
            post(reply::send_again),
        )
        .route("/media/{id}", get(media::file))
        .route("/media/{id}/thumb", get(media::thumbnail))
        .route("/media/out/{id}", get(media::outbound))
        .route("/team", get(team::page))
        .route("/breaches", get(breaches::page))
        .route("/contacts/{id}", get(contacts::page))
        .route(
            "/contacts/{id}/do-not-contact",
            post(contacts::do_not_contact),
        )
        .route("/reviews", get(contacts::reviews))
        .route("/reviews/{id}", post(contacts::decide))
        .route("/exclusions/{id}/lift", post(contacts::lift))
        .route("/breaches/{id}/ack", post(breaches::acknowledge))
        .merge(admin_routes())
        .route("/reports", get(reports::page))
        .route("/reports.csv", get(reports::csv))
        .route("/reports/attention", get(reports::attention))
        .route(
            "/reports/alerts/{id}/acknowledge",
            post(reports::acknowledge),
        )
        .layer(middleware::from_fn(html_errors))
        .layer(middleware::from_fn_with_state(state, csrf_guard))
        .layer(middleware::from_fn(security_headers))
}

/// Administration: every handler takes the `Admin` extractor.
fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin::index))
        .route("/admin/rules", get(admin::rules_page))
        .route("/admin/rules/{file}", get(admin::editor))
        .route("/admin/rules/{file}/check", post(admin::check))
        .route("/admin/rules/{file}/dry-run", post(admin::dry_run))
        .route("/admin/rules/{file}/activate", post(admin::activate))
        .route("/admin/rules/{file}/history", get(admin::history))
        .route("/admin/rules/versions/{id}/restore", post(admin::restore))
        .route("/admin/dry-runs/{id}", get(admin::dry_run_status))
        .route("/admin/corrections", get(admin::corrections_page))
        .route(
            "/admin/corrections/{id}/example",
            post(admin::correction_to_example),
        )
        .merge(admin_ops::routes())
}

/// Files changed on disk that do not check: the desk runs on the last good
/// version, and administrators are told on every page until they fix it.
fn broken_files(state: &AppState) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = state.rules.last_error() {
        let first = e.0.first().map(ToString::to_string).unwrap_or_default();
        out.push(format!(
            "A rules file changed on disk does not compile ({first}; {} problem(s) in all, see Admin → Rules). New replies are still classified with the last good rules.",
            e.0.len()
        ));
    }
    let policy = state
        .policy_files
        .last_error
        .lock()
        .ok()
        .and_then(|e| e.clone());
    if let Some(e) = policy {
        out.push(format!(
            "rules/status_codes.toml or rules/preference_policy.toml changed on disk and does not check: {e}. The desk keeps the last good status codes and policy until the file is fixed."
        ));
    }
    out
}

/// What every page's frame needs.
pub struct Chrome {
    pub user: Option<UserChip>,
    pub csrf: String,
    pub nav: &'static str,
    pub banners: Vec<String>,
}

pub struct UserChip {
    pub name: String,
    pub role: &'static str,
    pub is_lead: bool,
    pub away: bool,
}

impl Chrome {
    pub fn anonymous() -> Chrome {
        Chrome {
            user: None,
            csrf: String::new(),
            nav: "",
            banners: Vec::new(),
        }
    }

    pub async fn for_user(state: &AppState, current: &CurrentUser, nav: &'static str) -> Chrome {
        let u = &current.user;
        let away = users::is_away(&state.db, &u.email).await.unwrap_or(false);
        let mut banners = Vec::new();
        if u.is_admin() && !crate::notify::email::email_is_delivered(state.config.smtp.as_ref()) {
            banners.push(format!(
                "Email is not being delivered: no [smtp] is configured, so escalations are written to {} instead.",
                crate::notify::email::outbox_dir(&state.config.data_dir).display()
            ));
        }
        if u.is_admin() {
            banners.extend(broken_files(state));
        }
        if u.teams.is_empty() && !u.is_admin() {
            banners.push("You are not in any team yet, so your queue is empty. Ask an administrator to add you to a team.".into());
        }
        Chrome {
            user: Some(UserChip {
                name: u.display_name().to_string(),
                role: u.role.as_str(),
                is_lead: u.is_lead(),
                away,
            }),
            csrf: current.csrf.clone(),
            nav,
            banners,
        }
    }
}

/// Renders a template, or a plain 500 if the template itself fails.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => super::WebError::Internal(format!("template failed: {e}")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    title: String,
    message: String,
    request_id: Option<String>,
}

/// Turns JSON errors from handlers into pages for people (htmx requests get
/// the message as text, which the page shows in its status line).
async fn html_errors(request: Request, next: Next) -> Response {
    let htmx = is_htmx(request.headers());
    let id = request_id(request.headers());
    let response = next.run(request).await;
    let Some(body) = response.extensions().get::<ErrorBody>().cloned() else {
        return response;
    };
    let status = response.status();
    // Headers that tell the client what to do next survive the re-render.
    let keep = response.headers().get(header::RETRY_AFTER).cloned();
    let mut page = if htmx {
        (status, body.error).into_response()
    } else {
        error_page(status, body.error, id)
    };
    if let Some(v) = keep {
        page.headers_mut().insert(header::RETRY_AFTER, v);
    }
    page
}

fn error_page(status: StatusCode, message: String, id: Option<String>) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::GONE => "Link no longer valid",
        StatusCode::BAD_REQUEST => "Something in the request was wrong",
        _ => "Something went wrong",
    };
    let page = ErrorPage {
        chrome: Chrome::anonymous(),
        title: title.into(),
        message,
        request_id: id,
    };
    (status, render(&page)).into_response()
}

/// Where to go after signing in: a path on this site, nothing else. No
/// scheme, no `//` or `/\\` (another host to a browser), no backslash, no
/// control character or space (browsers drop tabs and line breaks, which
/// turned `/\t/evil.example` into `//evil.example`), nothing outside
/// printable ASCII (it could not go in a `Location` header). Anything else
/// goes to the queue.
pub fn safe_next(next: &str) -> &str {
    let b = next.as_bytes();
    let printable = b.iter().all(|c| c.is_ascii_graphic());
    let one_slash = b.first() == Some(&b'/') && !matches!(b.get(1), Some(b'/' | b'\\'));
    if printable && one_slash && !next.contains('\\') {
        next
    } else {
        "/queue"
    }
}

pub fn htmx(headers: &HeaderMap) -> bool {
    is_htmx(headers)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_a_path_on_this_site_or_the_queue() {
        for ok in ["/queue", "/conversations/abc?x=1#top", "/reports?by=team"] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\r/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/caf\u{e9}",
            "",
            "/a\\b",
        ] {
            assert_eq!(safe_next(bad), "/queue", "{bad:?}");
        }
    }
}
