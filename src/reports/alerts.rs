//! Owned failure alerts. Rules from `[reports.alerts]` watch a sliding
//! window `(now - window, now]`, per channel and (where a journey makes sense) per
//! journey. A rule that fires is recorded once per window slot (`now`
//! rounded down to the window), emailed to the leads of the team that owns
//! the channel or journey through the email outbox, and shown on the
//! Attention panel until a lead acknowledges it.
//!
//! Failure and delivery numbers come from the report facts, so run
//! [`super::refresh`] first (the worker does).

use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

use super::ReportsError;
use super::config::{Rule, RuleSettings};
use crate::auth::users::User;
use crate::clock::Millis;
use crate::config::Config;
use crate::notify::email::{Email, EmailError, queue_email_in};
use crate::store::{Db, StoreError};

/// What a rule saw in one scope.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    /// `channel` or `journey`.
    kind: &'static str,
    name: String,
    /// The part (opt-outs, failures, dead letters; this window's delivered).
    part: i64,
    /// The whole (replies, outcomes; the previous window's delivered).
    whole: i64,
}

/// An alert that fired.
#[derive(Debug, Clone)]
struct Fired {
    settings: RuleSettings,
    scope: String,
    owner: Option<String>,
    observed: f64,
    count: i64,
    summary: String,
}

/// Evaluates every enabled rule at `now`; returns how many alerts were
/// recorded (an alert already recorded for its window slot is not counted).
pub async fn evaluate_alerts(db: &Db, config: &Config, now: Millis) -> Result<usize, ReportsError> {
    let mut recorded = 0;
    for rule in Rule::ALL {
        let settings = config.reports.rule(rule);
        if !settings.enabled {
            continue;
        }
        let from = now - settings.window_ms;
        for seen in observe(db, rule, from, now, settings.window_ms).await? {
            if let Some(fired) = judge(config, settings, &seen)
                && record(db, config, &fired, from, now).await?
            {
                recorded += 1;
            }
        }
    }
    Ok(recorded)
}

async fn observe(
    db: &Db,
    rule: Rule,
    from: Millis,
    to: Millis,
    window: Millis,
) -> Result<Vec<Seen>, StoreError> {
    let queries: Vec<(&'static str, String)> = match rule {
        Rule::OptOutRate => vec![
            ("channel", "SELECT channel, CAST(SUM(CASE WHEN category = 'opt_out' THEN 1 ELSE 0 END) AS BIGINT), COUNT(*) \
              FROM events WHERE kind = 'message' AND direction = 'in' AND routed_at > $1 AND routed_at <= $2 \
              GROUP BY channel".into()),
            ("journey", "SELECT o.journey, CAST(SUM(CASE WHEN e.category = 'opt_out' THEN 1 ELSE 0 END) AS BIGINT), COUNT(*) \
              FROM events e JOIN outbound_messages o ON o.message_id = e.outbound_id \
              WHERE e.kind = 'message' AND e.direction = 'in' AND e.routed_at > $1 AND e.routed_at <= $2 \
                AND e.outbound_id IS NOT NULL AND o.journey IS NOT NULL \
              GROUP BY o.journey".into()),
        ],
        Rule::FailureRate => ["channel", "journey"]
            .into_iter()
            .map(|k| {
                (k, format!(
                    "SELECT {k}, CAST(SUM(CASE WHEN failed_at > $1 AND failed_at <= $2 THEN 1 ELSE 0 END) AS BIGINT), \
                            CAST(SUM(CASE WHEN failed_at > $1 AND failed_at <= $2 THEN 1 \
                                          WHEN delivered_at > $1 AND delivered_at <= $2 THEN 1 ELSE 0 END) AS BIGINT) \
                     FROM report_sends WHERE {k} IS NOT NULL AND {k} <> '' \
                       AND ((failed_at > $1 AND failed_at <= $2) OR (delivered_at > $1 AND delivered_at <= $2)) \
                     GROUP BY {k}"
                ))
            })
            .collect(),
        Rule::DeliveredDrop => vec![(
            "channel",
            "SELECT channel, CAST(SUM(CASE WHEN delivered_at > $1 THEN 1 ELSE 0 END) AS BIGINT), \
                    CAST(SUM(CASE WHEN delivered_at <= $1 THEN 1 ELSE 0 END) AS BIGINT) \
             FROM report_sends WHERE delivered_at > $3 AND delivered_at <= $2 AND channel IS NOT NULL \
             GROUP BY channel"
                .into(),
        )],
        Rule::DeadLetters => vec![(
            "channel",
            "SELECT channel, COUNT(*), COUNT(*) FROM webhook_payloads \
             WHERE problem IS NOT NULL AND received_at > $1 AND received_at <= $2 GROUP BY channel"
                .into(),
        )],
        Rule::Unrouted => vec![(
            "channel",
            "SELECT c.channel, COUNT(*), COUNT(*) FROM conversation_log l JOIN conversations c ON c.id = l.conversation_id \
             WHERE l.kind = 'routed' AND l.at > $1 AND l.at <= $2 AND l.detail LIKE '%\"team\":null%' \
             GROUP BY c.channel"
                .into(),
        )],
    };
    let mut out = Vec::new();
    for (kind, sql) in queries {
        let mut q = sqlx::query(&sql).bind(from).bind(to);
        if rule == Rule::DeliveredDrop {
            q = q.bind(from - window);
        }
        for r in q.fetch_all(db.reader()).await? {
            out.push(Seen {
                kind,
                name: r.try_get(0)?,
                part: r.try_get(1)?,
                whole: r.try_get(2)?,
            });
        }
    }
    Ok(out)
}

#[allow(clippy::cast_precision_loss)]
fn judge(config: &Config, s: RuleSettings, seen: &Seen) -> Option<Fired> {
    let scope = format!("{} {}", seen.kind, seen.name);
    let window = window_label(s.window_ms);
    let pct = |r: f64| format!("{:.1}%", r * 100.0);
    let (observed, count, summary) = match s.rule {
        Rule::OptOutRate | Rule::FailureRate => {
            let rate = seen.part as f64 / seen.whole.max(1) as f64;
            if seen.whole < s.min_count || rate <= s.threshold {
                return None;
            }
            let (what, of) = if s.rule == Rule::OptOutRate {
                ("opt-outs", "replies")
            } else {
                ("failed", "sends delivered or failed")
            };
            let text = format!(
                "{} {} on {scope}: {} {what} of {} {of} in the last {window} (alert above {}, with at least {} {of}).",
                s.rule.label(),
                pct(rate),
                seen.part,
                seen.whole,
                pct(s.threshold),
                s.min_count
            );
            (rate, seen.whole, text)
        }
        Rule::DeliveredDrop => {
            let (now, before) = (seen.part, seen.whole);
            if before < s.min_count || (now as f64) >= before as f64 * (1.0 - s.threshold) {
                return None;
            }
            let drop = 1.0 - now as f64 / before as f64;
            let text = format!(
                "Delivered messages on {scope} fell {}: {now} in the last {window} against {before} in the {window} before (alert at a {} drop, when the earlier window had at least {}).",
                pct(drop),
                pct(s.threshold),
                s.min_count
            );
            (drop, now, text)
        }
        Rule::DeadLetters | Rule::Unrouted => {
            if seen.part < s.min_count {
                return None;
            }
            let text = if s.rule == Rule::DeadLetters {
                format!(
                    "{} webhook bodies on {scope} could not be read and were kept as dead letters in the last {window}; an administrator should look at them.",
                    seen.part
                )
            } else {
                format!(
                    "{} replies on {scope} matched no route in the last {window}; they wait without a team. Add a route or a default team.",
                    seen.part
                )
            };
            (seen.part as f64, seen.part, text)
        }
    };
    let owner = match seen.kind {
        "journey" => config.reports.journey_owner(config, &seen.name),
        _ => config.reports.channel_owner(config, &seen.name),
    };
    Some(Fired {
        settings: s,
        scope: format!("{}:{}", seen.kind, seen.name),
        owner: owner.map(str::to_string),
        observed,
        count,
        summary,
    })
}

fn window_label(ms: Millis) -> String {
    let m = ms / 60_000;
    match (m % 1440, m % 60) {
        (0, _) => format!("{}d", m / 1440),
        (_, 0) => format!("{}h", m / 60),
        _ => format!("{m}m"),
    }
}

/// Records the alert for its window slot; on the first time, queues the
/// email to the owner's leads in the same transaction.
async fn record(
    db: &Db,
    config: &Config,
    f: &Fired,
    from: Millis,
    now: Millis,
) -> Result<bool, ReportsError> {
    let window = f.settings.window_ms;
    let slot = now.div_euclid(window) * window;
    let mut tx = db.writer().begin().await.map_err(StoreError::from)?;
    let done = sqlx::query(
        "INSERT INTO alerts (id, rule, scope, window_start, window_from, window_to, owner, observed, threshold, count, summary, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (rule, scope, window_start) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(f.settings.rule.as_str())
    .bind(&f.scope)
    .bind(slot)
    .bind(from)
    .bind(now)
    .bind(&f.owner)
    .bind(f.observed)
    .bind(f.settings.threshold)
    .bind(f.count)
    .bind(&f.summary)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    if done.rows_affected() == 0 {
        tx.rollback().await.map_err(StoreError::from)?;
        return Ok(false);
    }
    let leads = f
        .owner
        .as_deref()
        .and_then(|o| config.team(o))
        .map(|t| t.leads.clone())
        .unwrap_or_default();
    let key = format!("alert:{}:{}:{slot}", f.settings.rule.as_str(), f.scope);
    if leads.is_empty() {
        tracing::warn!(rule = f.settings.rule.as_str(), scope = %f.scope,
            "alert recorded with no team lead to email; it shows on /reports (set [reports] owners and team leads)");
    } else {
        match queue_email_in(&mut tx, &key, &email(config, f, &leads, from, now), now).await {
            Ok(()) => {}
            Err(EmailError::Store(e)) => return Err(e.into()),
            Err(e) => tracing::warn!(rule = f.settings.rule.as_str(), scope = %f.scope, error = %e,
                "alert recorded but its email cannot be queued; check the team's lead addresses"),
        }
    }
    tx.commit().await.map_err(StoreError::from)?;
    tracing::info!(rule = f.settings.rule.as_str(), scope = %f.scope, owner = f.owner.as_deref().unwrap_or("-"), "alert recorded");
    Ok(true)
}

fn email(config: &Config, f: &Fired, leads: &[String], from: Millis, now: Millis) -> Email {
    let base = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.bind.replace("0.0.0.0", "127.0.0.1")));
    let link = format!("{}/reports", base.trim_end_matches('/'));
    let owner = f.owner.as_deref().unwrap_or("(no owner)");
    let when = |ms: Millis| crate::web::format::when(ms);
    let subject = format!(
        "[replydesk] {}: {}",
        f.settings.rule.label(),
        f.scope.replacen(':', " ", 1)
    );
    let text = format!(
        "{}\n\nOwner: team {owner}\nWindow: {} to {}\n\nSee the Attention panel and acknowledge it at {link}\n",
        f.summary,
        when(from),
        when(now)
    );
    let html = format!(
        "<p>{}</p><p>Owner: team {}<br>Window: {} to {}</p><p><a href=\"{}\">Open the reports to acknowledge it</a></p>",
        escape(&f.summary),
        escape(owner),
        when(from),
        when(now),
        escape(&link)
    );
    Email::new(leads.iter().cloned(), subject, text, html)
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An alert as the Attention panel shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub id: String,
    pub rule: String,
    pub label: &'static str,
    pub scope: String,
    pub owner: Option<String>,
    pub summary: String,
    pub at: Millis,
}

fn visible(user: &User, owner: Option<&str>) -> bool {
    user.is_admin() || owner.is_none_or(|o| user.teams.iter().any(|t| t == o))
}

/// Unacknowledged alerts this lead may act on, newest first.
pub async fn open_alerts(db: &Db, user: &User) -> Result<Vec<AlertView>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, rule, scope, owner, summary, at FROM alerts WHERE acknowledged_at IS NULL \
         ORDER BY at DESC, id DESC LIMIT 200",
    )
    .fetch_all(db.reader())
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let owner: Option<String> = r.try_get(3)?;
        if !visible(user, owner.as_deref()) {
            continue;
        }
        let rule: String = r.try_get(1)?;
        out.push(AlertView {
            id: r.try_get(0)?,
            label: Rule::parse(&rule).map_or("Alert", Rule::label),
            rule,
            scope: r.try_get::<String, _>(2)?.replacen(':', " ", 1),
            owner,
            summary: r.try_get(4)?,
            at: r.try_get(5)?,
        });
    }
    Ok(out)
}

/// Acknowledges an alert; false when there is no such open alert this user may see.
pub async fn acknowledge(db: &Db, user: &User, id: &str, now: Millis) -> Result<bool, StoreError> {
    let owner: Option<Option<String>> =
        sqlx::query_scalar("SELECT owner FROM alerts WHERE id = $1 AND acknowledged_at IS NULL")
            .bind(id)
            .fetch_optional(db.reader())
            .await?;
    let Some(owner) = owner else { return Ok(false) };
    if !visible(user, owner.as_deref()) {
        return Ok(false);
    }
    let done = sqlx::query(
        "UPDATE alerts SET acknowledged_at = $1, acknowledged_by = $2 WHERE id = $3 AND acknowledged_at IS NULL",
    )
    .bind(now)
    .bind(&user.email)
    .bind(id)
    .execute(db.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts of open alerts by owner, for a nav badge or a queue banner.
pub async fn open_counts(db: &Db) -> Result<BTreeMap<Option<String>, i64>, StoreError> {
    let rows = sqlx::query(
        "SELECT owner, COUNT(*) FROM alerts WHERE acknowledged_at IS NULL GROUP BY owner",
    )
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> Config {
        Config::from_toml(
            "[[team]]\nname = \"sales\"\nleads = [\"l@example.com\"]\n[reports]\ndefault_owner = \"sales\"\n",
            Path::new("t"),
        )
        .unwrap()
    }

    fn seen(part: i64, whole: i64) -> Seen {
        Seen {
            kind: "journey",
            name: "welcome".into(),
            part,
            whole,
        }
    }

    #[test]
    fn a_rate_fires_above_its_threshold_and_only_with_enough_messages() {
        let c = config();
        let s = c.reports.rule(Rule::OptOutRate);
        assert!(
            judge(&c, s, &seen(2, 19)).is_none(),
            "below the minimum count"
        );
        assert!(judge(&c, s, &seen(1, 20)).is_none(), "5% is not over 5%");
        let fired = judge(&c, s, &seen(2, 20)).unwrap();
        assert_eq!(
            (fired.scope.as_str(), fired.owner.as_deref()),
            ("journey:welcome", Some("sales"))
        );
        assert!(fired.summary.contains("10.0%"), "{}", fired.summary);
    }

    #[test]
    fn a_drop_compares_with_the_window_before() {
        let c = config();
        let s = c.reports.rule(Rule::DeliveredDrop);
        assert!(
            judge(&c, s, &seen(60, 100)).is_none(),
            "a 40% drop is under 50%"
        );
        assert!(judge(&c, s, &seen(10, 99)).is_none(), "too little before");
        let fired = judge(&c, s, &seen(40, 100)).unwrap();
        assert!((fired.observed - 0.6).abs() < 1e-9);
    }

    #[test]
    fn windows_read_like_config() {
        assert_eq!(window_label(3_600_000), "1h");
        assert_eq!(window_label(86_400_000), "1d");
        assert_eq!(window_label(900_000), "15m");
    }
}
