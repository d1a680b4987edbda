//! The queue: open conversations of my teams in SLA order, with tabs,
//! filters, search and keyset pagination.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::auth::users::User;
use crate::clock::Millis;
use crate::contacts::identity::{ContactKey, looks_like_user_id};
use crate::model::Category;
use crate::store::{Db, StoreResult};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tab {
    Mine,
    Unassigned,
    #[default]
    Team,
    Breached,
    Closed,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Mine,
        Tab::Unassigned,
        Tab::Team,
        Tab::Breached,
        Tab::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tab::Mine => "mine",
            Tab::Unassigned => "unassigned",
            Tab::Team => "team",
            Tab::Breached => "breached",
            Tab::Closed => "closed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Tab::Mine => "Mine",
            Tab::Unassigned => "Unassigned",
            Tab::Team => "All open",
            Tab::Breached => "Breached",
            Tab::Closed => "Closed",
        }
    }
}

/// What the agent asked for.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueFilter {
    #[serde(default)]
    pub tab: Tab,
    pub category: Option<String>,
    pub channel: Option<String>,
    pub journey: Option<String>,
    pub team: Option<String>,
    pub q: Option<String>,
    /// Keyset cursor from the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueRow {
    pub id: String,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub channel: String,
    pub status: String,
    pub category: Category,
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub journey: Option<String>,
    pub lang: Option<String>,
    pub last_text: Option<String>,
    pub due_at: Option<Millis>,
    pub at_risk_at: Option<Millis>,
    pub last_inbound_at: Millis,
    pub resolution: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub mine: i64,
    pub unassigned: i64,
    pub team: i64,
    pub breached: i64,
}

impl Counts {
    pub fn of(&self, tab: Tab) -> Option<i64> {
        match tab {
            Tab::Mine => Some(self.mine),
            Tab::Unassigned => Some(self.unassigned),
            Tab::Team => Some(self.team),
            Tab::Breached => Some(self.breached),
            Tab::Closed => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct QueuePage {
    pub rows: Vec<QueueRow>,
    pub next: Option<String>,
    pub counts: Counts,
}

/// SQL being built with its parameters, numbered as they are added.
struct Sql {
    text: String,
    params: Vec<Param>,
}

#[derive(Clone)]
enum Param {
    Text(String),
    Int(i64),
}

impl Sql {
    fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            params: Vec::new(),
        }
    }

    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    fn and(&mut self, clause: &str) {
        self.text.push_str(" AND ");
        self.text.push_str(clause);
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for p in &self.params {
            q = match p {
                Param::Text(s) => q.bind(s.clone()),
                Param::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

/// The conditions every view of the queue shares: who may see, and the filters.
fn visible_and_filtered(sql: &mut Sql, user: &User, f: &QueueFilter) {
    if !user.is_admin() {
        let me = sql.bind(Param::Text(user.email.clone()));
        let teams: Vec<String> = user
            .teams
            .iter()
            .map(|t| sql.bind(Param::Text(t.clone())))
            .collect();
        if teams.is_empty() {
            sql.and(&format!("c.assignee = {me}"));
        } else {
            sql.and(&format!(
                "(c.team IN ({}) OR c.assignee = {me})",
                teams.join(",")
            ));
        }
    }
    let exact = [
        ("c.category", &f.category),
        ("c.channel", &f.channel),
        ("c.journey", &f.journey),
        ("c.team", &f.team),
    ];
    for (column, value) in exact {
        if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            let p = sql.bind(Param::Text(v.to_string()));
            sql.and(&format!("{column} = {p}"));
        }
    }
    if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        search(sql, q);
    }
}

/// A whole contact (a number in any form, a user id, an email address) by
/// the key it parses to; a part of a number by its digits; otherwise name,
/// last reply, or any message text.
fn search(sql: &mut Sql, q: &str) {
    let whole = q.starts_with('+') || q.contains('@') || looks_like_user_id(q);
    match ContactKey::parse(q).ok().filter(|_| whole) {
        Some(ContactKey::Phone(p)) => {
            let p = sql.bind(Param::Text(p));
            sql.and(&format!("k.phone = {p}"));
            return;
        }
        Some(ContactKey::UserId(u)) => {
            let u = sql.bind(Param::Text(u));
            sql.and(&format!("k.wa_user_id = {u}"));
            return;
        }
        Some(ContactKey::Email(e)) => {
            let e = sql.bind(Param::Text(e));
            sql.and(&format!("k.email = {e}"));
            return;
        }
        None => {}
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 4 && q.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)) {
        let p = sql.bind(Param::Text(format!("%{digits}%")));
        sql.and(&format!("(k.phone LIKE {p} OR k.wa_id LIKE {p})"));
        return;
    }
    let escaped = q
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let p = sql.bind(Param::Text(format!("%{escaped}%")));
    sql.and(&format!(
        "(LOWER(k.name) LIKE {p} ESCAPE '\\' OR LOWER(c.last_text) LIKE {p} ESCAPE '\\' \
         OR EXISTS (SELECT 1 FROM events e WHERE e.conversation_id = c.id AND LOWER(e.body) LIKE {p} ESCAPE '\\'))"
    ));
}

/// What puts an open conversation in `tab` (beyond being open and visible).
fn tab_condition(sql: &mut Sql, tab: Tab, user: &User, now: Millis) {
    match tab {
        Tab::Mine => {
            let me = sql.bind(Param::Text(user.email.clone()));
            sql.and(&format!("c.assignee = {me}"));
        }
        Tab::Unassigned => sql.and("c.assignee IS NULL"),
        Tab::Breached => {
            let t = sql.bind(Param::Int(now));
            sql.and(&format!("c.due_at < {t}"));
        }
        Tab::Team | Tab::Closed => {}
    }
}

const PAGE: i64 = 50;

/// One page of the queue and the counts per tab.
pub async fn list(db: &Db, user: &User, f: &QueueFilter, now: Millis) -> StoreResult<QueuePage> {
    let mut sql = Sql::new(
        "SELECT c.id, k.name, k.phone, c.channel, c.status, c.category, c.team, c.assignee, c.journey, c.lang, \
                c.last_text, c.due_at, c.at_risk_at, c.last_inbound_at, c.updated_at, c.resolution \
         FROM conversations c LEFT JOIN contacts k ON k.id = c.contact_id WHERE 1 = 1",
    );
    visible_and_filtered(&mut sql, user, f);
    let closed = f.tab == Tab::Closed;
    match f.tab {
        Tab::Closed => sql.and("c.status IN ('resolved', 'closed')"),
        _ => sql.and("c.status = 'open'"),
    }
    tab_condition(&mut sql, f.tab, user, now);
    if let Some((key, id)) = f.after.as_deref().and_then(|a| a.split_once('.')) {
        let key: i64 = key.parse().unwrap_or(0);
        let (k, i) = (
            sql.bind(Param::Int(key)),
            sql.bind(Param::Text(id.to_string())),
        );
        if closed {
            sql.and(&format!(
                "(c.updated_at < {k} OR (c.updated_at = {k} AND c.id < {i}))"
            ));
        } else {
            sql.and(&format!(
                "(c.due_at > {k} OR (c.due_at = {k} AND c.id > {i}))"
            ));
        }
    }
    sql.text.push_str(if closed {
        " ORDER BY c.updated_at DESC, c.id DESC"
    } else {
        " ORDER BY c.due_at, c.id"
    });
    sql.text.push_str(&format!(" LIMIT {}", PAGE + 1));
    let rows = sql.query().fetch_all(db.reader()).await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    for r in rows.iter() {
        let category: String = r.try_get("category")?;
        let due_at: Option<Millis> = r.try_get("due_at")?;
        let updated_at: Millis = r.try_get("updated_at")?;
        keys.push(if closed {
            updated_at
        } else {
            due_at.unwrap_or(i64::MAX)
        });
        out.push(QueueRow {
            id: r.try_get("id")?,
            contact_name: r.try_get("name")?,
            contact_phone: r.try_get("phone")?,
            channel: r.try_get("channel")?,
            status: r.try_get("status")?,
            category: Category::parse(&category).unwrap_or(Category::Service),
            team: r.try_get("team")?,
            assignee: r.try_get("assignee")?,
            journey: r.try_get("journey")?,
            lang: r.try_get("lang")?,
            last_text: r.try_get("last_text")?,
            due_at,
            at_risk_at: r.try_get("at_risk_at")?,
            last_inbound_at: r.try_get("last_inbound_at")?,
            resolution: r.try_get("resolution")?,
        });
    }
    let next = if out.len() > usize::try_from(PAGE).unwrap_or(50) {
        out.truncate(usize::try_from(PAGE).unwrap_or(50));
        out.last()
            .map(|r| format!("{}.{}", keys[out.len() - 1], r.id))
    } else {
        None
    };
    let counts = counts(db, user, f, now).await?;
    Ok(QueuePage {
        rows: out,
        next,
        counts,
    })
}

/// Open conversations per tab under the same visibility and filters. Without
/// a search, one small query per tab: each can use an index (assignee, team,
/// due time). A search reads every open conversation's text anyway, so then
/// one pass sums all four.
async fn counts(db: &Db, user: &User, f: &QueueFilter, now: Millis) -> StoreResult<Counts> {
    if f.q.as_deref().is_some_and(|q| !q.trim().is_empty()) {
        return counts_in_one_pass(db, user, f, now).await;
    }
    let count = |tab: Tab| async move {
        let mut sql = Sql::new("SELECT COUNT(*) FROM conversations c WHERE c.status = 'open'");
        visible_and_filtered(&mut sql, user, f);
        tab_condition(&mut sql, tab, user, now);
        let n: i64 = sql.query().fetch_one(db.reader()).await?.try_get(0)?;
        StoreResult::Ok(n)
    };
    Ok(Counts {
        team: count(Tab::Team).await?,
        mine: count(Tab::Mine).await?,
        unassigned: count(Tab::Unassigned).await?,
        breached: count(Tab::Breached).await?,
    })
}

async fn counts_in_one_pass(
    db: &Db,
    user: &User,
    f: &QueueFilter,
    now: Millis,
) -> StoreResult<Counts> {
    let mut sql = Sql::new("");
    let me = sql.bind(Param::Text(user.email.clone()));
    let t = sql.bind(Param::Int(now));
    sql.text = format!(
        "SELECT COUNT(*), \
                COALESCE(SUM(CASE WHEN c.assignee = {me} THEN 1 ELSE 0 END), 0), \
                COALESCE(SUM(CASE WHEN c.assignee IS NULL THEN 1 ELSE 0 END), 0), \
                COALESCE(SUM(CASE WHEN c.due_at < {t} THEN 1 ELSE 0 END), 0) \
         FROM conversations c LEFT JOIN contacts k ON k.id = c.contact_id WHERE c.status = 'open'"
    );
    visible_and_filtered(&mut sql, user, f);
    let row = sql.query().fetch_one(db.reader()).await?;
    Ok(Counts {
        team: row.try_get(0)?,
        mine: row.try_get(1)?,
        unassigned: row.try_get(2)?,
        breached: row.try_get(3)?,
    })
}
