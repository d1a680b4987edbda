//! The queue page and its live rows.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use super::{Chrome, render};
use crate::conversations::{self, QueueFilter, QueuePage, Tab};
use crate::model::Category;
use crate::web::format;
use crate::web::session::CurrentUser;
use crate::web::{AppState, WebError};

pub struct TabLink {
    label: &'static str,
    href: String,
    count: Option<i64>,
    current: bool,
}

pub struct RowView {
    id: String,
    contact: String,
    phone: Option<String>,
    category: &'static str,
    category_label: &'static str,
    excerpt: String,
    lang: String,
    team: String,
    assignee: String,
    sla: String,
    sla_class: &'static str,
    /// The customer's latest file, for the preview.
    media: Option<crate::media::MediaView>,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueueHtml {
    chrome: Chrome,
    tabs: Vec<TabLink>,
    oob: bool,
    tab: &'static str,
    q: String,
    category: String,
    channel: String,
    journey: String,
    team: String,
    teams: Vec<String>,
    categories: Vec<(&'static str, &'static str)>,
    filtered: bool,
    rows: Vec<RowView>,
    empty: String,
    poll_url: String,
    next_url: Option<String>,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "queue.html", block = "rows")]
struct QueueRows<'a> {
    rows: &'a [RowView],
    empty: &'a str,
    poll_url: &'a str,
}

#[derive(Template)]
#[template(path = "queue.html", block = "tabs")]
struct QueueTabs<'a> {
    tabs: &'a [TabLink],
    oob: bool,
}

fn query_string(f: &QueueFilter, tab: Tab, after: Option<&str>) -> String {
    let mut pairs: Vec<(&str, String)> = vec![("tab", tab.as_str().to_string())];
    for (k, v) in [
        ("q", &f.q),
        ("category", &f.category),
        ("channel", &f.channel),
        ("journey", &f.journey),
        ("team", &f.team),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            pairs.push((k, v.to_string()));
        }
    }
    if let Some(a) = after {
        pairs.push(("after", a.to_string()));
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn build(
    current: &CurrentUser,
    f: &QueueFilter,
    page: QueuePage,
    now: i64,
    chrome: Chrome,
    mut media: std::collections::HashMap<String, crate::media::MediaView>,
) -> QueueHtml {
    let tabs = Tab::ALL
        .iter()
        .map(|t| TabLink {
            label: t.label(),
            href: format!("/queue?{}", query_string(f, *t, None)),
            count: page.counts.of(*t),
            current: *t == f.tab,
        })
        .collect();
    let rows = page
        .rows
        .iter()
        .map(|r| {
            let (sla, sla_class) = if r.status == "open" {
                format::sla(r.due_at, r.at_risk_at, now)
            } else {
                (
                    r.resolution
                        .clone()
                        .unwrap_or_else(|| r.status.clone())
                        .replace('_', " "),
                    "ok",
                )
            };
            RowView {
                id: r.id.clone(),
                contact: r
                    .contact_name
                    .clone()
                    .or_else(|| r.contact_phone.as_deref().map(format::mask_phone))
                    .unwrap_or_else(|| "Unknown contact".into()),
                phone: r
                    .contact_name
                    .as_ref()
                    .and(r.contact_phone.as_deref())
                    .map(format::mask_phone),
                category: r.category.as_str(),
                category_label: r.category.label(),
                excerpt: r.last_text.clone().unwrap_or_default(),
                lang: r.lang.clone().unwrap_or_default(),
                team: r.team.clone().unwrap_or_else(|| "—".into()),
                assignee: r.assignee.clone().unwrap_or_else(|| "—".into()),
                sla,
                sla_class,
                media: media.remove(&r.id),
            }
        })
        .collect();
    let filtered = [&f.q, &f.category, &f.channel, &f.journey, &f.team]
        .iter()
        .any(|v| v.as_deref().is_some_and(|v| !v.is_empty()));
    let mut teams = current.user.teams.clone();
    teams.sort();
    QueueHtml {
        chrome,
        tabs,
        oob: false,
        tab: f.tab.as_str(),
        q: f.q.clone().unwrap_or_default(),
        category: f.category.clone().unwrap_or_default(),
        channel: f.channel.clone().unwrap_or_default(),
        journey: f.journey.clone().unwrap_or_default(),
        team: f.team.clone().unwrap_or_default(),
        teams,
        categories: Category::ALL
            .iter()
            .map(|c| (c.as_str(), c.label()))
            .collect(),
        filtered,
        rows,
        empty: if filtered {
            "Nothing matches these filters.".into()
        } else {
            format!(
                "Nothing here: the {} view is empty.",
                f.tab.label().to_lowercase()
            )
        },
        poll_url: format!("/queue/rows?{}", query_string(f, f.tab, f.after.as_deref())),
        next_url: page
            .next
            .as_deref()
            .map(|n| format!("/queue?{}", query_string(f, f.tab, Some(n)))),
        after: f.after.clone(),
    }
}

async fn latest_media(
    state: &AppState,
    page: &QueuePage,
) -> Result<std::collections::HashMap<String, crate::media::MediaView>, WebError> {
    let ids: Vec<String> = page.rows.iter().map(|r| r.id.clone()).collect();
    Ok(crate::media::latest_for_conversations(&state.db, &ids).await?)
}

/// The queue: my teams' open conversations in SLA order.
pub async fn page(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(f): Query<QueueFilter>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let page = conversations::list(&state.db, &current.user, &f, now).await?;
    let media = latest_media(&state, &page).await?;
    let chrome = Chrome::for_user(&state, &current, "queue").await;
    Ok(render(&build(&current, &f, page, now, chrome, media)))
}

/// The rows and tab counts alone, for the page's live refresh.
pub async fn rows(
    State(state): State<AppState>,
    current: CurrentUser,
    Query(f): Query<QueueFilter>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let page = conversations::list(&state.db, &current.user, &f, now).await?;
    let media = latest_media(&state, &page).await?;
    let view = build(&current, &f, page, now, Chrome::anonymous(), media);
    let rows = QueueRows {
        rows: &view.rows,
        empty: &view.empty,
        poll_url: &view.poll_url,
    };
    let tabs = QueueTabs {
        tabs: &view.tabs,
        oob: true,
    };
    let html = format!(
        "{}{}",
        rows.render()
            .map_err(|e| WebError::Internal(e.to_string()))?,
        tabs.render()
            .map_err(|e| WebError::Internal(e.to_string()))?
    );
    Ok(axum::response::IntoResponse::into_response(
        axum::response::Html(html),
    ))
}
