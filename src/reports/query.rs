//! The report numbers, read from the daily rollups. The page, its CSV
//! downloads and the API all come from [`load`], so they cannot disagree.
//!
//! Sends are counted in the period they were sent in, with everything that
//! followed them (statuses, replies, conversions) whenever it happened.
//! Conversations are counted in the period they were opened in.
//! Conversions that could not be attributed to a send are counted on the
//! day they occurred, under the journey the caller named (if any).

use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeMap;

use super::ReportsError;
use super::counts::Counts;
use super::facts::{BUCKET_MINUTES, histogram_columns};
use super::period::{DAY_MS, Period};
use crate::clock::Millis;
use crate::config::Config;
use crate::store::{Db, StoreError};

/// What the report rows are grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    #[default]
    Journey,
    Campaign,
    Template,
    /// Send numbers by the team that owns the journey (`[reports.journey_owners]`);
    /// response times and SLA breaches by the team that handled the conversation.
    Team,
}

impl GroupBy {
    pub const ALL: [GroupBy; 4] = [
        GroupBy::Journey,
        GroupBy::Campaign,
        GroupBy::Template,
        GroupBy::Team,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Journey => "journey",
            GroupBy::Campaign => "campaign",
            GroupBy::Template => "template",
            GroupBy::Team => "team",
        }
    }

    pub fn parse(text: &str) -> Option<GroupBy> {
        GroupBy::ALL.into_iter().find(|g| g.as_str() == text)
    }
}

/// Conversations opened in the period, and how they were handled.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Handling {
    pub opened: i64,
    /// Given to a team (SLA clocks run on these).
    pub routed: i64,
    /// With a first human response.
    pub responded: i64,
    pub breached: i64,
    /// First-response times: bucket → conversations.
    pub histogram: BTreeMap<i64, i64>,
}

impl Handling {
    fn add(&mut self, other: &Handling) {
        self.opened += other.opened;
        self.routed += other.routed;
        self.responded += other.responded;
        self.breached += other.breached;
        for (b, n) in &other.histogram {
            *self.histogram.entry(*b).or_default() += n;
        }
    }

    /// The first-response time under which a fraction `q` of the responded
    /// conversations fall, as the upper bound of its histogram bucket.
    pub fn percentile(&self, q: f64) -> Option<Millis> {
        let n: i64 = self.histogram.values().sum();
        if n == 0 {
            return None;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let rank = ((q * n as f64).ceil() as i64).clamp(1, n);
        let mut seen = 0;
        for (bucket, count) in &self.histogram {
            seen += count;
            if seen >= rank {
                let i = usize::try_from(*bucket).unwrap_or(usize::MAX);
                let minutes = BUCKET_MINUTES
                    .get(i)
                    .or(BUCKET_MINUTES.last())
                    .copied()
                    .unwrap_or(0);
                return Some(minutes * 60_000);
            }
        }
        None
    }

    /// Breached among routed conversations.
    pub fn breach_rate(&self) -> Option<f64> {
        ratio(self.breached, self.routed)
    }
}

/// One row of a report: a group, a day, or the total.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Line {
    /// The group's name; `None` for rows without one (no journey, no team…).
    pub key: Option<String>,
    /// Send outcomes (sends in the period).
    pub counts: Counts,
    /// Value of the attributed conversions, in the reporting currency.
    pub value: f64,
    /// Conversions not attributed to any send, by the day they occurred.
    pub unattributed: i64,
    pub unattributed_value: f64,
    pub handling: Handling,
}

pub fn ratio(part: i64, whole: i64) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Line {
    fn add(&mut self, other: &Line) {
        self.counts.add(&other.counts);
        self.value += other.value;
        self.unattributed += other.unattributed;
        self.unattributed_value += other.unattributed_value;
        self.handling.add(&other.handling);
    }

    /// Attributed conversions plus those kept under the journey only.
    pub fn conversions(&self) -> i64 {
        self.counts.conversions + self.unattributed
    }

    pub fn conversion_value(&self) -> f64 {
        self.value + self.unattributed_value
    }

    /// Sends answered with an opt-out, among delivered sends.
    pub fn opt_out_rate(&self) -> Option<f64> {
        ratio(self.counts.opted_out, self.counts.delivered)
    }

    /// Sends followed by a conversion, among sends.
    pub fn conversion_rate(&self) -> Option<f64> {
        ratio(self.counts.converted, self.counts.sent)
    }

    pub fn delivery_rate(&self) -> Option<f64> {
        ratio(self.counts.delivered, self.counts.sent)
    }

    pub fn reply_rate(&self) -> Option<f64> {
        ratio(self.counts.replied, self.counts.delivered)
    }
}

/// A whole report.
#[derive(Debug, Clone)]
pub struct Report {
    pub period: Period,
    pub by: GroupBy,
    pub currency: String,
    pub total: Line,
    /// By the chosen grouping, most sends first.
    pub groups: Vec<Line>,
    /// By journey, most sends first (the funnel, and the API).
    pub journeys: Vec<Line>,
    /// One per day of the period, keyed by the day's label.
    pub days: Vec<(Millis, Line)>,
    /// When the facts were last brought up to date.
    pub refreshed_at: Option<Millis>,
}

/// Rollup rows of the period, summed in SQL down to what the grouping needs.
struct Row4 {
    /// `None` for rows summed over the whole period (conversations).
    day: Option<Millis>,
    journey: String,
    /// The campaign or template for those groupings, else empty.
    dim: String,
    /// The team that handled the conversations, for the team grouping.
    team: Option<String>,
    line: Line,
}

/// The rollup column a grouping adds to the journey, if any.
fn dim_column(by: GroupBy) -> Option<&'static str> {
    match by {
        GroupBy::Campaign => Some("campaign"),
        GroupBy::Template => Some("template"),
        GroupBy::Journey | GroupBy::Team => None,
    }
}

/// (select expression, group-by suffix) for a grouping column. PostgreSQL
/// refuses a constant in GROUP BY, so "no column" selects '' and adds nothing.
fn dim_sql(dim: Option<&str>) -> (String, String) {
    match dim {
        Some(c) => (c.to_string(), format!(", {c}")),
        None => ("''".to_string(), String::new()),
    }
}

/// Loads the report for `period`, grouped by `by`.
///
/// `teams` limits the report to what those teams own (the team that handled
/// a conversation, else the journey's owner) and what no team owns: a lead
/// does not see another team's numbers, in the totals either. `None` is
/// everything (administrators, the API).
pub async fn load(
    db: &Db,
    config: &Config,
    period: Period,
    by: GroupBy,
    teams: Option<&[String]>,
) -> Result<Report, ReportsError> {
    let mut rows = send_rows(db, period, by).await?;
    rows.extend(conversation_rows(db, period, by).await?);
    rows.extend(unattributed_rows(db, config, period).await?);
    if let Some(teams) = teams {
        rows.retain(|r| {
            let owner = r
                .team
                .as_deref()
                .or_else(|| config.reports.journey_owner(config, &r.journey));
            // What no team owns is not another team's: every lead sees it.
            owner.is_none_or(|o| teams.iter().any(|t| t == o))
        });
    }
    let refreshed_at: Option<Millis> =
        sqlx::query_scalar("SELECT mark FROM report_marks WHERE source = 'refreshed_at'")
            .fetch_optional(db.reader())
            .await
            .map_err(StoreError::from)?;
    let named = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let key_of = |r: &Row4, by: GroupBy| -> Option<String> {
        match by {
            GroupBy::Journey => named(&r.journey),
            GroupBy::Campaign | GroupBy::Template => named(&r.dim),
            GroupBy::Team => match &r.team {
                Some(team) => named(team),
                None => config
                    .reports
                    .journey_owner(config, &r.journey)
                    .map(str::to_string),
            },
        }
    };
    let mut total = Line::default();
    let mut groups: BTreeMap<Option<String>, Line> = BTreeMap::new();
    let mut journeys: BTreeMap<Option<String>, Line> = BTreeMap::new();
    let mut days: BTreeMap<Millis, Line> = period.days().map(|d| (d, Line::default())).collect();
    for r in &rows {
        total.add(&r.line);
        groups.entry(key_of(r, by)).or_default().add(&r.line);
        journeys
            .entry(key_of(r, GroupBy::Journey))
            .or_default()
            .add(&r.line);
        if let Some(day) = r.day.and_then(|d| days.get_mut(&d)) {
            day.add(&r.line);
        }
    }
    Ok(Report {
        period,
        by,
        currency: config.reports.currency.clone(),
        total,
        groups: sorted(groups),
        journeys: sorted(journeys),
        days: days.into_iter().collect(),
        refreshed_at,
    })
}

fn sorted(groups: BTreeMap<Option<String>, Line>) -> Vec<Line> {
    let mut out: Vec<Line> = groups
        .into_iter()
        .map(|(key, mut line)| {
            line.key = key;
            line
        })
        .collect();
    // Most sends first; named groups before the unnamed one; then by name.
    out.sort_by(|a, b| {
        b.counts
            .sent
            .cmp(&a.counts.sent)
            .then(a.key.is_none().cmp(&b.key.is_none()))
            .then(a.key.cmp(&b.key))
    });
    out
}

async fn send_rows(db: &Db, period: Period, by: GroupBy) -> Result<Vec<Row4>, StoreError> {
    let (dim, group) = dim_sql(dim_column(by));
    let sums: Vec<String> = Counts::NAMES
        .iter()
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect();
    let sql = format!(
        "SELECT day, journey, {dim}, {}, CAST(SUM(conversion_value) AS DOUBLE PRECISION) FROM report_daily \
         WHERE day >= $1 AND day <= $2 GROUP BY day, journey{group}",
        sums.join(", ")
    );
    let rows = sqlx::query(&sql)
        .bind(period.from)
        .bind(period.to)
        .fetch_all(db.reader())
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut values = Vec::with_capacity(Counts::NAMES.len());
    for r in rows {
        values.clear();
        for i in 0..Counts::NAMES.len() {
            values.push(r.try_get::<i64, _>(3 + i)?);
        }
        out.push(Row4 {
            day: Some(r.try_get(0)?),
            journey: r.try_get(1)?,
            dim: r.try_get(2)?,
            team: None,
            line: Line {
                counts: Counts::from_values(&values),
                value: r.try_get(3 + Counts::NAMES.len())?,
                ..Line::default()
            },
        });
    }
    Ok(out)
}

async fn conversation_rows(db: &Db, period: Period, by: GroupBy) -> Result<Vec<Row4>, StoreError> {
    // Handling is grouped by the team that handled it; with no team it falls
    // under "no team", not under the journey's owner.
    let (dim, group) = dim_sql(match by {
        GroupBy::Team => Some("team"),
        other => dim_column(other),
    });
    let histogram = histogram_columns();
    let sums: Vec<String> = histogram
        .iter()
        .map(|h| format!("CAST(SUM({h}) AS BIGINT)"))
        .collect();
    let sql = format!(
        "SELECT journey, {dim}, CAST(SUM(opened) AS BIGINT), CAST(SUM(routed) AS BIGINT), \
                CAST(SUM(responded) AS BIGINT), CAST(SUM(breached) AS BIGINT), {} \
         FROM report_conversations_daily WHERE day >= $1 AND day <= $2 GROUP BY journey{group}",
        sums.join(", ")
    );
    let rows = sqlx::query(&sql)
        .bind(period.from)
        .bind(period.to)
        .fetch_all(db.reader())
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let dim: String = r.try_get(1)?;
        let mut buckets = BTreeMap::new();
        for k in 0..histogram.len() {
            let n: i64 = r.try_get(6 + k)?;
            if n > 0 {
                buckets.insert(i64::try_from(k).unwrap_or(0), n);
            }
        }
        out.push(Row4 {
            day: None,
            journey: r.try_get(0)?,
            team: (by == GroupBy::Team).then(|| dim.clone()),
            dim,
            line: Line {
                handling: Handling {
                    opened: r.try_get(2)?,
                    routed: r.try_get(3)?,
                    responded: r.try_get(4)?,
                    breached: r.try_get(5)?,
                    histogram: buckets,
                },
                ..Line::default()
            },
        });
    }
    Ok(out)
}

async fn unattributed_rows(
    db: &Db,
    config: &Config,
    period: Period,
) -> Result<Vec<Row4>, StoreError> {
    let rows = sqlx::query(
        "SELECT (occurred_at / 86400000) * 86400000, journey, COUNT(*), \
                CAST(SUM(CASE WHEN currency IS NULL OR currency = $3 THEN COALESCE(value, 0.0) ELSE 0.0 END) AS DOUBLE PRECISION) \
         FROM conversions WHERE message_id IS NULL AND occurred_at >= $1 AND occurred_at < $2 \
         GROUP BY (occurred_at / 86400000) * 86400000, journey",
    )
    .bind(period.from)
    .bind(period.end())
    .bind(&config.reports.currency)
    .fetch_all(db.reader())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(Row4 {
            day: Some(r.try_get::<i64, _>(0)?.div_euclid(DAY_MS) * DAY_MS),
            journey: r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
            dim: String::new(),
            team: None,
            line: Line {
                unattributed: r.try_get(2)?,
                unattributed_value: r.try_get(3)?,
                ..Line::default()
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_the_bound_of_their_bucket() {
        // 3 min, 10 min, 30 min, 2 h: buckets 2, 9, 12, 18.
        let h = Handling {
            histogram: [(2, 1), (9, 1), (12, 1), (18, 1)].into_iter().collect(),
            ..Handling::default()
        };
        assert_eq!(h.percentile(0.5), Some(10 * 60_000));
        assert_eq!(h.percentile(0.9), Some(120 * 60_000));
        assert_eq!(Handling::default().percentile(0.5), None);
    }
}
