//! Administration beyond the rules: settings (read-only where a file is the
//! source of truth), users, the audit log with its CSV export, dead letters
//! and the outbox. Every handler takes the `Admin` extractor; every form
//! carries the CSRF token.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Chrome, render};
use crate::admin::{AdminError, Problem, audit, deliveries, settings, users};
use crate::auth::users::Role;
use crate::secret::Secret;
use crate::web::format;
use crate::web::session::{Admin, CurrentUser};
use crate::web::{AppState, WebError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/settings", get(settings_page))
        .route(
            "/admin/settings/status-codes/check",
            post(check_status_codes),
        )
        .route("/admin/templates/sync", post(sync_templates))
        .route("/admin/users", get(users_page))
        .route("/admin/users/invite", post(invite))
        .route("/admin/users/{id}/{action}", post(user_action))
        .route("/admin/audit", get(audit_page))
        .route("/admin/audit.csv", get(audit_csv))
        .route("/admin/deliveries", get(deliveries_page))
        .route(
            "/admin/deliveries/dead-letters/{id}/reprocess",
            post(reprocess),
        )
        .route("/admin/deliveries/outbox/{id}/retry", post(retry))
}

// ---------------------------------------------------------------- settings

pub struct TeamView {
    name: String,
    leads: String,
    file_members: String,
    db_members: String,
    assignment: &'static str,
    capacity: String,
    hours: String,
}

pub struct RouteView {
    category: String,
    team: String,
    condition: String,
}

pub struct SlaView {
    team: String,
    category: String,
    first_response: String,
    resolution: String,
    at_risk: String,
    level2: String,
    escalate_to: String,
}

pub struct ChannelView {
    name: String,
    provider: &'static str,
    path: String,
    secrets: Vec<(&'static str, String)>,
    public_url: String,
    /// "yes", or why replies cannot be sent on it.
    sends: String,
}

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    sources: &'static [(&'static str, &'static str, &'static str)],
    config_file: String,
    teams: Vec<TeamView>,
    routes: Vec<RouteView>,
    default_team: String,
    reopen_window: String,
    attribution_window: String,
    slas: Vec<SlaView>,
    channels: Vec<ChannelView>,
    smtp: String,
    fallback_url: String,
    fallback_secret: String,
    dry_run_days: u32,
    dry_run_cap: usize,
    codes: Vec<settings::CodeLine>,
    codes_text: String,
    codes_result: Option<Result<usize, Vec<Problem>>>,
    templates: Vec<crate::replies::Template>,
    /// What the last "sync now" did, per channel.
    templates_synced: Option<Vec<String>>,
}

async fn settings_view(
    state: &AppState,
    current: &CurrentUser,
    codes_text: Option<String>,
    codes_result: Option<Result<usize, Vec<Problem>>>,
) -> Result<SettingsPage, WebError> {
    let c = &state.config;
    let accounts = users::list(&state.db, c).await?;
    let (disk_codes_text, codes) = settings::status_codes(state.rules.dir())?;
    let join = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    Ok(SettingsPage {
        chrome: Chrome::for_user(state, current, "admin-settings").await,
        sources: settings::SOURCES,
        config_file: "replydesk.toml (or the file given with --config)".into(),
        teams: c
            .teams
            .iter()
            .map(|t| TeamView {
                name: t.name.clone(),
                leads: join(&t.leads),
                file_members: join(&t.members),
                db_members: join(
                    &accounts
                        .iter()
                        .filter(|a| a.teams.contains(&t.name))
                        .map(|a| a.email.clone())
                        .collect::<Vec<_>>(),
                ),
                assignment: match t.assignment {
                    crate::config::Assignment::Queue => "queue (agents claim)",
                    crate::config::Assignment::RoundRobin => "round robin",
                },
                capacity: t.capacity.map_or("-".into(), |n| n.to_string()),
                hours: t.hours.as_ref().map_or_else(
                    || "around the clock".into(),
                    |h| {
                        format!(
                            "{} (Mon {}; {} holidays)",
                            h.timezone,
                            join(&h.monday),
                            h.holidays.len()
                        )
                    },
                ),
            })
            .collect(),
        routes: c
            .routes
            .iter()
            .map(|r| RouteView {
                category: r.category.as_str().into(),
                team: r.team.clone(),
                condition: [
                    r.channel.as_ref().map(|v| format!("channel {v}")),
                    r.lang.as_ref().map(|v| format!("language {v}")),
                    r.journey.as_ref().map(|v| format!("journey {v}")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", "),
            })
            .collect(),
        default_team: c
            .routing
            .default_team
            .clone()
            .unwrap_or_else(|| "(none: unassigned)".into()),
        reopen_window: c.routing.reopen_window.clone(),
        attribution_window: c.routing.attribution_window.clone(),
        slas: c
            .slas
            .iter()
            .map(|s| SlaView {
                team: s.team.clone(),
                category: s
                    .category
                    .map_or("(other replies)".into(), |k| k.as_str().into()),
                first_response: s.first_response.clone(),
                resolution: s.resolution.clone().unwrap_or_else(|| "-".into()),
                at_risk: s.at_risk.map_or("0.8 (default)".into(), |a| a.to_string()),
                level2: s
                    .level2_multiple
                    .map_or("2 (default)".into(), |a| a.to_string()),
                escalate_to: join(&s.escalate_to),
            })
            .collect(),
        channels: c
            .channels
            .iter()
            .map(|ch| ChannelView {
                name: ch.name.clone(),
                provider: ch.provider.as_str(),
                path: format!("/webhooks/{}/{}", ch.provider.as_str(), ch.name),
                secrets: vec![
                    (
                        "app_secret",
                        settings::mask(ch.app_secret.as_ref().map(Secret::expose)),
                    ),
                    (
                        "verify_token",
                        settings::mask(ch.verify_token.as_ref().map(Secret::expose)),
                    ),
                    (
                        "auth_token",
                        settings::mask(ch.auth_token.as_ref().map(Secret::expose)),
                    ),
                    (
                        "access_token",
                        settings::mask(ch.access_token.as_ref().map(Secret::expose)),
                    ),
                    ("account_sid", settings::mask(ch.account_sid.as_deref())),
                ],
                public_url: ch.public_url.clone().unwrap_or_default(),
                sends: match state.replies.senders().get(&ch.name) {
                    Ok(_) => "yes".into(),
                    Err(why) => why,
                },
            })
            .collect(),
        smtp: if c.smtp.is_some() {
            "configured ([smtp])".into()
        } else {
            "not configured: escalations are written as .eml files".into()
        },
        fallback_url: c.fallback.url.clone().unwrap_or_else(|| "(not set)".into()),
        fallback_secret: settings::mask(
            c.fallback
                .secret
                .as_ref()
                .map(crate::secret::Secret::expose),
        ),
        dry_run_days: c.admin.dry_run_days,
        dry_run_cap: c.admin.dry_run_cap,
        codes,
        codes_text: codes_text.unwrap_or(disk_codes_text),
        codes_result,
        templates: crate::replies::templates::all(&state.db).await?,
        templates_synced: None,
    })
}

/// Every effective setting, where it comes from, secrets masked.
pub async fn settings_page(
    State(state): State<AppState>,
    Admin(current): Admin,
) -> Result<Response, WebError> {
    Ok(render(&settings_view(&state, &current, None, None).await?))
}

#[derive(Deserialize)]
pub struct CodesForm {
    text: String,
}

/// Checks a candidate `status_codes.toml` the way the desk loads it.
pub async fn check_status_codes(
    State(state): State<AppState>,
    Admin(current): Admin,
    Form(form): Form<CodesForm>,
) -> Result<Response, WebError> {
    let text = form.text.replace("\r\n", "\n");
    let result = settings::check_status_codes(&text);
    Ok(render(
        &settings_view(&state, &current, Some(text), Some(result)).await?,
    ))
}

/// Asks the providers for their templates now.
pub async fn sync_templates(
    State(state): State<AppState>,
    Admin(current): Admin,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let synced = crate::replies::templates::sync(&state.db, state.replies.senders(), now).await?;
    audit::record(
        state.db.writer(),
        &current.user.email,
        "templates.sync",
        "templates",
        None,
        Some(&serde_json::json!({ "channels": synced.len() })),
        now,
    )
    .await?;
    let lines = if synced.is_empty() {
        vec!["No channel has send credentials, so there is nothing to sync.".to_string()]
    } else {
        synced
            .iter()
            .map(|s| match &s.error {
                None => format!(
                    "{}: {} templates, {} approved.",
                    s.channel, s.templates, s.approved
                ),
                Some(e) => format!("{}: not synced, the last list stays: {e}", s.channel),
            })
            .collect()
    };
    let mut page = settings_view(&state, &current, None, None).await?;
    page.templates_synced = Some(lines);
    Ok(render(&page))
}

// ---------------------------------------------------------------- users

pub struct AccountView {
    id: String,
    email: String,
    role: &'static str,
    teams: Vec<String>,
    config_teams: String,
    status: &'static str,
    disabled: bool,
    created: String,
    me: bool,
}

#[derive(Default)]
pub struct InviteErrors {
    email: Option<String>,
    teams: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    accounts: Vec<AccountView>,
    all_teams: Vec<String>,
    roles: [&'static str; 3],
    message: Option<String>,
    error: Option<String>,
    /// A one-time link, shown once.
    link: Option<(String, String)>,
    invite_email: String,
    invite_errors: InviteErrors,
}

struct UsersOutcome {
    message: Option<String>,
    error: Option<String>,
    link: Option<(String, String)>,
    invite_email: String,
    invite_errors: InviteErrors,
}

impl UsersOutcome {
    fn none() -> UsersOutcome {
        UsersOutcome {
            message: None,
            error: None,
            link: None,
            invite_email: String::new(),
            invite_errors: InviteErrors::default(),
        }
    }
}

async fn users_view(
    state: &AppState,
    current: &CurrentUser,
    o: UsersOutcome,
) -> Result<Response, WebError> {
    let accounts = users::list(&state.db, &state.config).await?;
    Ok(render(&UsersPage {
        chrome: Chrome::for_user(state, current, "admin-users").await,
        accounts: accounts
            .into_iter()
            .map(|a| AccountView {
                status: if a.disabled {
                    "disabled"
                } else if a.pending {
                    "invited"
                } else {
                    "active"
                },
                me: a.id == current.user.id,
                disabled: a.disabled,
                created: format::when(a.created_at),
                role: a.role.as_str(),
                config_teams: a.config_teams.join(", "),
                teams: a.teams,
                email: a.email,
                id: a.id,
            })
            .collect(),
        all_teams: state.config.teams.iter().map(|t| t.name.clone()).collect(),
        roles: ["agent", "lead", "admin"],
        message: o.message,
        error: o.error,
        link: o.link,
        invite_email: o.invite_email,
        invite_errors: o.invite_errors,
    }))
}

pub async fn users_page(
    State(state): State<AppState>,
    Admin(current): Admin,
) -> Result<Response, WebError> {
    users_view(&state, &current, UsersOutcome::none()).await
}

/// The form's repeated `teams` fields and single values.
fn form_values(raw: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(raw).unwrap_or_default()
}

fn value(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

fn teams_of(fields: &[(String, String)]) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == "teams")
        .map(|(_, v)| v.clone())
        .collect()
}

fn link_url(state: &AppState, token: &str) -> String {
    let base = state.config.public_url.clone().unwrap_or_default();
    format!("{}/setup/{token}", base.trim_end_matches('/'))
}

/// Invites a person: an account without a password and a one-time link.
pub async fn invite(
    State(state): State<AppState>,
    Admin(current): Admin,
    RawForm(raw): RawForm,
) -> Result<Response, WebError> {
    let fields = form_values(&raw);
    let email = value(&fields, "email");
    let role = Role::parse(&value(&fields, "role")).unwrap_or(Role::Agent);
    let now = state.clock.now_ms();
    let mut o = UsersOutcome::none();
    match users::invite(
        &state.db,
        &state.config,
        &current.user.email,
        &email,
        role,
        &teams_of(&fields),
        now,
    )
    .await
    {
        Ok(token) => {
            o.message = Some(format!(
                "Invited {email}. Send them this link; it works once, for 7 days, and is not shown again."
            ));
            o.link = Some((email, link_url(&state, &token)));
        }
        Err(AdminError::Invalid { field, message }) => {
            o.invite_email = email;
            match field {
                "teams" => o.invite_errors.teams = Some(message),
                _ => o.invite_errors.email = Some(message),
            }
        }
        Err(e) => return Err(e.into()),
    }
    users_view(&state, &current, o).await
}

/// role, teams, disable, enable, reset.
pub async fn user_action(
    State(state): State<AppState>,
    Admin(current): Admin,
    Path((id, action)): Path<(String, String)>,
    RawForm(raw): RawForm,
) -> Result<Response, WebError> {
    let fields = form_values(&raw);
    let (db, config, actor, now) = (
        &state.db,
        &state.config,
        current.user.email.as_str(),
        state.clock.now_ms(),
    );
    let mut o = UsersOutcome::none();
    let result = match action.as_str() {
        "role" => match Role::parse(&value(&fields, "role")) {
            Some(role) => users::set_role(db, config, actor, &id, role, now).await.map(|()| "Role changed.".to_string()),
            None => Err(crate::admin::invalid("role", "choose agent, lead or admin")),
        },
        "teams" => users::set_teams(db, config, actor, &id, &teams_of(&fields), now).await.map(|()| "Memberships saved.".to_string()),
        "disable" => users::set_disabled(db, config, actor, &id, true, now).await.map(|()| "Disabled; their sessions have ended.".to_string()),
        "enable" => users::set_disabled(db, config, actor, &id, false, now).await.map(|()| "Enabled.".to_string()),
        "reset" => users::reset_link(db, config, actor, &id, now).await.map(|token| {
            o.link = Some(("password reset".into(), link_url(&state, &token)));
            "A password-reset link was made. Send it to them; it works once, for 24 hours, and is not shown again.".to_string()
        }),
        _ => return Err(WebError::NotFound("action")),
    };
    match result {
        Ok(m) => o.message = Some(m),
        Err(AdminError::Invalid { message, .. }) => o.error = Some(message),
        Err(e) => return Err(e.into()),
    }
    users_view(&state, &current, o).await
}

// ---------------------------------------------------------------- audit

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// `YYYY-MM-DD`, UTC.
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> Result<audit::Filter, WebError> {
        let text = |v: &Option<String>| {
            v.as_ref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let day = |field: &'static str,
                   v: &Option<String>,
                   add_day: bool|
         -> Result<Option<i64>, WebError> {
            let Some(s) = text(v) else { return Ok(None) };
            let date: jiff::civil::Date = s.parse().map_err(|_| {
                WebError::bad(field, format!("{s:?} is not a date such as 2026-11-26"))
            })?;
            let date = if add_day {
                date.tomorrow().unwrap_or(date)
            } else {
                date
            };
            let ts = date
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map_err(|e| WebError::bad(field, e.to_string()))?;
            Ok(Some(ts.timestamp().as_millisecond()))
        };
        Ok(audit::Filter {
            actor: text(&self.actor),
            action: text(&self.action),
            target: text(&self.target),
            from: day("from", &self.from, false)?,
            to: day("to", &self.to, true)?,
        })
    }

    fn query_string(&self) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target", &self.target),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

pub struct AuditRow {
    when: String,
    iso: String,
    actor: String,
    action: String,
    target: String,
    before: String,
    after: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    chrome: Chrome,
    actor: String,
    action: String,
    target: String,
    from: String,
    to: String,
    error: Option<String>,
    rows: Vec<AuditRow>,
    query: String,
    next: Option<String>,
}

const AUDIT_PAGE: i64 = 100;

/// The audit log, newest first, filtered; read-only.
pub async fn audit_page(
    State(state): State<AppState>,
    Admin(current): Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Response, WebError> {
    let (filter, error) = match q.filter() {
        Ok(f) => (f, None),
        Err(e) => (audit::Filter::default(), Some(e.to_string())),
    };
    let entries = audit::list(&state.db, &filter, q.before.as_deref(), AUDIT_PAGE).await?;
    let next = (entries.len() == usize::try_from(AUDIT_PAGE).unwrap_or(usize::MAX))
        .then(|| entries.last().map(|e| e.id.clone()))
        .flatten();
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    Ok(render(&AuditPage {
        chrome: Chrome::for_user(&state, &current, "admin-audit").await,
        actor: s(&q.actor),
        action: s(&q.action),
        target: s(&q.target),
        from: s(&q.from),
        to: s(&q.to),
        error,
        rows: entries
            .into_iter()
            .map(|e| AuditRow {
                when: format::when(e.at),
                iso: format::iso(e.at),
                actor: e.actor,
                action: e.action,
                target: e.target,
                before: e.before.unwrap_or_default(),
                after: e.after.unwrap_or_default(),
            })
            .collect(),
        query: q.query_string(),
        next,
    }))
}

/// The filtered audit log as CSV.
pub async fn audit_csv(
    State(state): State<AppState>,
    Admin(_current): Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Response, WebError> {
    let body = audit::csv(&state.db, &q.filter()?).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"replydesk-audit.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

// ---------------------------------------------------------------- deliveries

pub struct DeadLetterView {
    id: String,
    when: String,
    provider: String,
    channel: String,
    problem: String,
    events: i64,
    body: String,
    resolved: Option<String>,
}

pub struct DeliveryView {
    id: String,
    kind: String,
    target: String,
    subject: String,
    state: String,
    attempts: i64,
    next: String,
    last_error: String,
    created: String,
    sent: String,
}

#[derive(Template)]
#[template(path = "admin_deliveries.html")]
struct DeliveriesPage {
    chrome: Chrome,
    message: Option<String>,
    all: bool,
    state_filter: String,
    dead: Vec<DeadLetterView>,
    outbox: Vec<DeliveryView>,
}

#[derive(Deserialize, Default)]
pub struct DeliveriesQuery {
    all: Option<String>,
    state: Option<String>,
    done: Option<String>,
}

pub async fn deliveries_page(
    State(state): State<AppState>,
    Admin(current): Admin,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Response, WebError> {
    let all = q.all.as_deref() == Some("1");
    let state_filter = q.state.clone().unwrap_or_default();
    let dead = deliveries::dead_letters(&state.db, all, 200).await?;
    let outbox = deliveries::outbox(&state.db, &state_filter, 200).await?;
    Ok(render(&DeliveriesPage {
        chrome: Chrome::for_user(&state, &current, "admin-deliveries").await,
        message: q.done,
        all,
        state_filter,
        dead: dead
            .into_iter()
            .map(|d| DeadLetterView {
                when: format::when(d.received_at),
                resolved: d.resolved_at.map(|at| {
                    format!(
                        "{} by {}",
                        format::when(at),
                        d.resolved_by.unwrap_or_default()
                    )
                }),
                id: d.id,
                provider: d.provider,
                channel: d.channel,
                problem: d.problem,
                events: d.event_count,
                body: d.body,
            })
            .collect(),
        outbox: outbox
            .into_iter()
            .map(|d| DeliveryView {
                next: if d.state == "sent" {
                    "-".into()
                } else {
                    format::when(d.next_attempt_at)
                },
                created: format::when(d.created_at),
                sent: d.sent_at.map_or_else(|| "-".into(), format::when),
                id: d.id,
                kind: d.kind,
                target: d.target,
                subject: d.subject.unwrap_or_default(),
                state: d.state,
                attempts: d.attempts,
                last_error: d.last_error.unwrap_or_default(),
            })
            .collect(),
    }))
}

fn back_with(message: &str) -> Response {
    let q = serde_urlencoded::to_string([("done", message)]).unwrap_or_default();
    Redirect::to(&format!("/admin/deliveries?{q}")).into_response()
}

/// Re-runs ingest on a dead letter's body.
pub async fn reprocess(
    State(state): State<AppState>,
    Admin(current): Admin,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let r = deliveries::reprocess(&state.db, &state.ingest, &id, &current.user.email, now).await?;
    let message = if r.resolved {
        format!(
            "Re-processed: {} event(s) stored, {} already stored; the dead letter is resolved.",
            r.stored, r.duplicates
        )
    } else {
        format!(
            "Re-processed: {} event(s) stored, {} already stored; part of the body still cannot be understood, so it stays a dead letter.",
            r.stored, r.duplicates
        )
    };
    Ok(back_with(&message))
}

/// Makes a delivery due now and wakes the outbox worker.
pub async fn retry(
    State(state): State<AppState>,
    Admin(current): Admin,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    deliveries::retry_now(&state.db, &id, &current.user.email, state.clock.now_ms()).await?;
    state.outbox.waker().notify_one();
    Ok(back_with("Retrying now."))
}
