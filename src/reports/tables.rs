//! The report as tables: what the page shows beside each chart and what
//! each CSV download holds. One builder for both, so a download is exactly
//! the table on the page (with plain numbers instead of words).

use super::query::{GroupBy, Line, Report, ratio};
use crate::clock::Millis;

/// One cell: shown one way on the page, written plainly in CSV.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Count(i64),
    /// A fraction; `None` when the whole is zero.
    Rate(Option<f64>),
    Money(f64),
    /// A first-response percentile: at most this long.
    Duration(Option<Millis>),
}

impl Cell {
    /// For people: `12.5%`, `≤ 15m`, `–` for nothing to show.
    pub fn display(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Rate(Some(r)) => format!("{:.1}%", r * 100.0),
            Cell::Money(v) => format!("{v:.2}"),
            Cell::Duration(Some(ms)) => format!("≤ {}", minutes_label(*ms)),
            Cell::Rate(None) | Cell::Duration(None) => "–".into(),
        }
    }

    /// For spreadsheets: rates as fractions, durations in minutes, empty for nothing.
    pub fn csv(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Rate(Some(r)) => format!("{r:.4}"),
            Cell::Money(v) => format!("{v:.2}"),
            Cell::Duration(Some(ms)) => (ms / 60_000).to_string(),
            Cell::Rate(None) | Cell::Duration(None) => String::new(),
        }
    }

    pub fn is_number(&self) -> bool {
        !matches!(self, Cell::Text(_))
    }
}

fn minutes_label(ms: Millis) -> String {
    let m = ms / 60_000;
    match (m / 1440, (m % 1440) / 60, m % 60) {
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// A table of the report.
#[derive(Debug, Clone)]
pub struct Table {
    /// Also the `table=` of its CSV download.
    pub id: &'static str,
    pub title: &'static str,
    /// What the numbers mean, read by screen readers as the caption.
    pub caption: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// RFC 4180 CSV with a header line, cells a spreadsheet would run as a
    /// formula neutralized.
    pub fn to_csv(&self) -> Result<Vec<u8>, csv::Error> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(&self.headers)?;
        for row in &self.rows {
            crate::csv_export::write_row(&mut out, row.iter().map(Cell::csv))?;
        }
        out.into_inner().map_err(|e| e.into_error().into())
    }
}

pub const TABLE_IDS: [&str; 9] = [
    "summary", "daily", "funnel", "groups", "failures", "replies", "outcomes", "fallback",
    "response",
];

/// Every table of the report, in page order.
pub fn tables(report: &Report) -> Vec<Table> {
    TABLE_IDS
        .iter()
        .filter_map(|id| table(report, id))
        .collect()
}

/// One table by its id.
pub fn table(report: &Report, id: &str) -> Option<Table> {
    Some(match id {
        "summary" => summary(report),
        "daily" => daily(report),
        "funnel" => funnel(report),
        "groups" => groups(report),
        "failures" => failures(report),
        "replies" => replies(report),
        "outcomes" => outcomes(&report.total),
        "fallback" => fallback(&report.total),
        "response" => response(report),
        _ => return None,
    })
}

/// How a group is named on the page.
pub fn group_name(by: GroupBy, key: Option<&str>) -> String {
    match (key, by) {
        (Some(k), _) => k.to_string(),
        (None, GroupBy::Team) => "(no team)".into(),
        (None, _) => format!("(no {})", by.as_str()),
    }
}

fn headers(names: &[&str]) -> Vec<String> {
    names.iter().map(|h| (*h).to_string()).collect()
}

fn by_header(by: GroupBy) -> String {
    let s = by.as_str();
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn summary(r: &Report) -> Table {
    let t = &r.total;
    let c = &t.counts;
    let rows: Vec<(&str, Cell)> = vec![
        ("Registered sends", Cell::Count(c.sent)),
        ("Delivered", Cell::Count(c.delivered)),
        ("Delivery rate", Cell::Rate(t.delivery_rate())),
        ("Read", Cell::Count(c.read)),
        ("Failed", Cell::Count(c.failed)),
        ("Replies", Cell::Count(c.replies)),
        ("Reply rate (of delivered)", Cell::Rate(t.reply_rate())),
        ("Opt-outs", Cell::Count(c.opted_out)),
        ("Opt-out rate (of delivered)", Cell::Rate(t.opt_out_rate())),
        (
            "First human response, p50",
            Cell::Duration(t.handling.percentile(0.5)),
        ),
        (
            "First human response, p90",
            Cell::Duration(t.handling.percentile(0.9)),
        ),
        ("SLA breach rate", Cell::Rate(t.handling.breach_rate())),
        ("Conversions", Cell::Count(t.conversions())),
        (
            "Conversion rate (of sends)",
            Cell::Rate(t.conversion_rate()),
        ),
        ("Conversion value", Cell::Money(t.conversion_value())),
    ];
    Table {
        id: "summary",
        title: "Summary",
        caption: format!(
            "Sends from {} to {} and what followed; conversion value in {}.",
            r.period.from_label(),
            r.period.to_label(),
            r.currency
        ),
        headers: headers(&["Measure", "Value"]),
        rows: rows
            .into_iter()
            .map(|(k, v)| vec![Cell::Text(k.into()), v])
            .collect(),
    }
}

fn daily(r: &Report) -> Table {
    Table {
        id: "daily",
        title: "Per day",
        caption: "Sends of each day and what followed them; conversions without a send on the day they occurred.".into(),
        headers: headers(&[
            "Day", "Sent", "Delivered", "Read", "Failed", "Replied", "Opt-outs", "Conversions", "Value",
        ]),
        rows: r
            .days
            .iter()
            .map(|(day, l)| {
                let c = &l.counts;
                vec![
                    Cell::Text(super::period::day_label(*day)),
                    Cell::Count(c.sent),
                    Cell::Count(c.delivered),
                    Cell::Count(c.read),
                    Cell::Count(c.failed),
                    Cell::Count(c.replied),
                    Cell::Count(c.opted_out),
                    Cell::Count(l.conversions()),
                    Cell::Money(l.conversion_value()),
                ]
            })
            .collect(),
    }
}

fn funnel(r: &Report) -> Table {
    Table {
        id: "funnel",
        title: "Funnel per journey",
        caption: "Of each journey's sends: how many were delivered, read, replied to and followed by a conversion.".into(),
        headers: headers(&[
            "Journey", "Sent", "Delivered", "Read", "Replied", "Converted", "Conversion rate",
        ]),
        rows: r
            .journeys
            .iter()
            .filter(|l| l.counts.sent > 0)
            .map(|l| {
                let c = &l.counts;
                vec![
                    Cell::Text(group_name(GroupBy::Journey, l.key.as_deref())),
                    Cell::Count(c.sent),
                    Cell::Count(c.delivered),
                    Cell::Count(c.read),
                    Cell::Count(c.replied),
                    Cell::Count(c.converted),
                    Cell::Rate(l.conversion_rate()),
                ]
            })
            .collect(),
    }
}

fn group_rows(r: &Report, f: impl Fn(&Line) -> Vec<Cell>) -> Vec<Vec<Cell>> {
    group_rows_where(r, |_| true, f)
}

/// Rows for the groups that have something for this table.
fn group_rows_where(
    r: &Report,
    keep: impl Fn(&Line) -> bool,
    f: impl Fn(&Line) -> Vec<Cell>,
) -> Vec<Vec<Cell>> {
    r.groups
        .iter()
        .filter(|l| keep(l))
        .map(|l| {
            let mut row = vec![Cell::Text(group_name(r.by, l.key.as_deref()))];
            row.extend(f(l));
            row
        })
        .collect()
}

fn groups(r: &Report) -> Table {
    let mut h = vec![by_header(r.by)];
    h.extend(headers(&[
        "Sent",
        "Delivered",
        "Read",
        "Failed",
        "Replies",
        "Opt-outs",
        "Opt-out rate",
        "Conversions",
        "Conversion rate",
        "Value",
    ]));
    Table {
        id: "groups",
        title: "By group",
        caption: format!(
            "Sends by {}: outcomes, opt-outs and conversions (value in {}).",
            r.by.as_str(),
            r.currency
        ),
        headers: h,
        rows: group_rows(r, |l| {
            let c = &l.counts;
            vec![
                Cell::Count(c.sent),
                Cell::Count(c.delivered),
                Cell::Count(c.read),
                Cell::Count(c.failed),
                Cell::Count(c.replies),
                Cell::Count(c.opted_out),
                Cell::Rate(l.opt_out_rate()),
                Cell::Count(l.conversions()),
                Cell::Rate(l.conversion_rate()),
                Cell::Money(l.conversion_value()),
            ]
        }),
    }
}

fn failures(r: &Report) -> Table {
    let mut h = vec![by_header(r.by)];
    h.extend(headers(&[
        "Failed",
        "Unreachable",
        "Opt-out",
        "Content",
        "Window",
        "Transient",
        "Account",
    ]));
    Table {
        id: "failures",
        title: "Failures by effect",
        caption: "Failed sends by what the provider's error code means (rules/status_codes.toml)."
            .into(),
        headers: h,
        rows: group_rows(r, |l| {
            let c = &l.counts;
            [
                c.failed,
                c.f_unreachable,
                c.f_opt_out,
                c.f_content,
                c.f_window,
                c.f_transient,
                c.f_account,
            ]
            .into_iter()
            .map(Cell::Count)
            .collect()
        }),
    }
}

fn replies(r: &Report) -> Table {
    let mut h = vec![by_header(r.by)];
    h.extend(headers(&[
        "Replies",
        "Opt-out",
        "Interest",
        "Confusion",
        "Service",
        "Noise",
    ]));
    Table {
        id: "replies",
        title: "Replies by category",
        caption: "Replies attributed to the sends, by the category the rules gave them.".into(),
        headers: h,
        rows: group_rows_where(
            r,
            |l| l.counts.sent > 0,
            |l| {
                let c = &l.counts;
                [
                    c.replies,
                    c.r_opt_out,
                    c.r_interest,
                    c.r_confusion,
                    c.r_service,
                    c.r_noise,
                ]
                .into_iter()
                .map(Cell::Count)
                .collect()
            },
        ),
    }
}

/// The split the business keeps asking for: when nothing happened, was it
/// no delivery or no interest?
fn outcomes(t: &Line) -> Table {
    let c = &t.counts;
    let row = |label: &str, n: i64| {
        vec![
            Cell::Text(label.into()),
            Cell::Count(n),
            Cell::Rate(ratio(n, c.sent)),
        ]
    };
    Table {
        id: "outcomes",
        title: "What became of the sends",
        caption: "Every send once: not delivered, delivered without a reply, replied without a conversion; and where conversions came from. A reply counts as delivery.".into(),
        headers: headers(&["Outcome", "Sends", "Share of sends"]),
        rows: vec![
            row("Sent", c.sent),
            row("No delivery", c.sent - c.reached),
            row("Delivered, no reply", c.reached - c.replied),
            row("Replied, no conversion", c.replied - c.replied_converted),
            row("Converted", c.converted),
            row("Converted after no delivery", c.converted - c.reached_converted),
            row("Converted after delivery, no reply", c.reached_converted - c.replied_converted),
            row("Converted after a reply", c.replied_converted),
        ],
    }
}

fn fallback(t: &Line) -> Table {
    let c = &t.counts;
    let row = |label: &str, n: i64| {
        vec![
            Cell::Text(label.into()),
            Cell::Count(n),
            Cell::Rate(ratio(n, c.failed)),
        ]
    };
    Table {
        id: "fallback",
        title: "Fallback sends",
        caption: "Failed WhatsApp sends and their fallback: a notice to the sending platform to use the registered fallback channel (e.g. email).".into(),
        headers: headers(&["Failed sends", "Sends", "Share of failed"]),
        rows: vec![
            row("WhatsApp failed", c.failed),
            row("Fallback notice queued", c.fallback_queued),
            row("Fallback used (notice delivered)", c.fallback_delivered),
            row("Fallback notice pending", c.fallback_queued - c.fallback_delivered),
            row("Converted after fallback", c.fallback_converted),
            row("No fallback", c.failed_no_fallback),
        ],
    }
}

fn response(r: &Report) -> Table {
    let mut h = vec![by_header(r.by)];
    h.extend(headers(&[
        "Conversations",
        "Routed",
        "Responded",
        "First response p50",
        "First response p90",
        "SLA breaches",
        "Breach rate",
    ]));
    Table {
        id: "response",
        title: "Response times and SLA",
        caption: "Conversations opened in the period: time to the first human response (upper bound of its histogram bucket) and SLA breaches among routed conversations.".into(),
        headers: h,
        rows: group_rows_where(r, |l| l.handling.opened > 0, |l| {
            let h = &l.handling;
            vec![
                Cell::Count(h.opened),
                Cell::Count(h.routed),
                Cell::Count(h.responded),
                Cell::Duration(h.percentile(0.5)),
                Cell::Duration(h.percentile(0.9)),
                Cell::Count(h.breached),
                Cell::Rate(h.breach_rate()),
            ]
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_for_people_and_for_spreadsheets() {
        assert_eq!(Cell::Rate(Some(0.125)).display(), "12.5%");
        assert_eq!(Cell::Rate(Some(0.125)).csv(), "0.1250");
        assert_eq!(Cell::Rate(None).display(), "–");
        assert_eq!(Cell::Rate(None).csv(), "");
        assert_eq!(Cell::Duration(Some(90 * 60_000)).display(), "≤ 1h 30m");
        assert_eq!(Cell::Duration(Some(90 * 60_000)).csv(), "90");
        assert_eq!(Cell::Money(12.5).display(), "12.50");
    }
}
