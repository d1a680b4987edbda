//! Charts drawn on the server: the geometry of a per-day line chart and a
//! per-journey funnel, as numbers the SVG templates place. No chart
//! framework; every chart has its numbers in a table beside it.

use super::period::day_label;
use super::query::{GroupBy, Line, Report};

/// A drawn measure: its label, its CSS class, and how to read it off a line.
type Measure = (&'static str, &'static str, fn(&Line) -> i64);
use super::tables::group_name;

const WIDTH: f64 = 720.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
const LINE_HEIGHT: f64 = 240.0;

/// Maps a value range onto a pixel range.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    domain: (f64, f64),
    range: (f64, f64),
}

impl Scale {
    pub fn new(domain: (f64, f64), range: (f64, f64)) -> Scale {
        Scale { domain, range }
    }

    pub fn at(&self, v: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        if (d1 - d0).abs() < f64::EPSILON {
            return r0;
        }
        r0 + (v - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// The smallest "round" number (1, 2 or 5 times a power of ten) at or above `v`.
pub fn nice_max(v: i64) -> i64 {
    if v <= 0 {
        return 1;
    }
    let mut step = 1i64;
    while step.saturating_mul(10) <= v {
        step = step.saturating_mul(10);
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| step.saturating_mul(m))
        .find(|c| *c >= v)
        .unwrap_or(v)
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

#[derive(Debug, Clone)]
pub struct Series {
    pub label: &'static str,
    /// CSS class (colour) of the line and its legend key.
    pub class: &'static str,
    /// `x,y x,y …` for a `<polyline>`.
    pub points: String,
    pub total: i64,
}

#[derive(Debug, Clone)]
pub struct Tick {
    pub x: String,
    pub y: String,
    pub label: String,
    /// `start`, `middle` or `end`: ends of the axis keep their labels inside.
    pub anchor: &'static str,
}

/// A line chart of sends and outcomes per day.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub width: String,
    pub height: String,
    pub desc: String,
    pub left: String,
    pub right: String,
    pub bottom: String,
    pub top: String,
    pub series: Vec<Series>,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
}

/// Sent, delivered, replied and converted per day.
pub fn daily(report: &Report) -> LineChart {
    let days = &report.days;
    let pick: [Measure; 4] = [
        ("Sent", "s-sent", |l| l.counts.sent),
        ("Delivered", "s-delivered", |l| l.counts.delivered),
        ("Replied", "s-replied", |l| l.counts.replied),
        ("Converted", "s-converted", |l| l.conversions()),
    ];
    let max = days
        .iter()
        .flat_map(|(_, l)| pick.iter().map(move |p| (p.2)(l)))
        .max()
        .unwrap_or(0);
    let top = nice_max(max);
    #[allow(clippy::cast_precision_loss)]
    let x = Scale::new((0.0, (days.len().max(2) - 1) as f64), (LEFT, WIDTH - RIGHT));
    #[allow(clippy::cast_precision_loss)]
    let y = Scale::new((0.0, top as f64), (LINE_HEIGHT - BOTTOM, TOP));
    #[allow(clippy::cast_precision_loss)]
    let series = pick
        .iter()
        .map(|(label, class, f)| Series {
            label,
            class,
            points: days
                .iter()
                .enumerate()
                .map(|(i, (_, l))| format!("{},{}", px(x.at(i as f64)), px(y.at(f(l) as f64))))
                .collect::<Vec<_>>()
                .join(" "),
            total: days.iter().map(|(_, l)| f(l)).sum(),
        })
        .collect();
    let last = days.len().saturating_sub(1);
    let mut marks = vec![0, last / 2, last];
    marks.dedup();
    #[allow(clippy::cast_precision_loss)]
    let x_ticks = marks
        .into_iter()
        .filter_map(|i| days.get(i).map(|(d, _)| (i, *d)))
        .map(|(i, d)| Tick {
            x: px(x.at(i as f64)),
            y: px(LINE_HEIGHT - 8.0),
            label: day_label(d),
            anchor: match i {
                0 => "start",
                i if i == last => "end",
                _ => "middle",
            },
        })
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let y_ticks = [0, top / 2, top]
        .into_iter()
        .map(|v| Tick {
            x: px(LEFT - 6.0),
            y: px(y.at(v as f64) + 4.0),
            label: v.to_string(),
            anchor: "end",
        })
        .collect();
    LineChart {
        width: px(WIDTH),
        height: px(LINE_HEIGHT),
        desc: format!(
            "Per day from {} to {}: lines for sends, delivered sends, sends replied to and conversions; the highest day had {max}. The table below has every number.",
            report.period.from_label(),
            report.period.to_label()
        ),
        left: px(LEFT),
        right: px(WIDTH - RIGHT),
        bottom: px(LINE_HEIGHT - BOTTOM),
        top: px(TOP),
        series,
        x_ticks,
        y_ticks,
    }
}

#[derive(Debug, Clone)]
pub struct Bar {
    pub label: &'static str,
    pub class: &'static str,
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub text_x: String,
    pub text_y: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct FunnelGroup {
    pub name: String,
    pub name_y: String,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone)]
pub struct Funnel {
    pub width: String,
    pub height: String,
    pub desc: String,
    pub groups: Vec<FunnelGroup>,
    /// Journeys left out of the chart (they are in the table).
    pub more: usize,
}

const FUNNEL_JOURNEYS: usize = 8;
const BAR: f64 = 14.0;
const BAR_GAP: f64 = 3.0;
const GROUP_GAP: f64 = 26.0;
const LABEL_WIDTH: f64 = 96.0;

/// For each journey (most sends first), bars for sent, delivered, read,
/// replied and converted, as a share of the journey's sends.
pub fn funnel(report: &Report) -> Funnel {
    let steps: [Measure; 5] = [
        ("Sent", "s-sent", |l| l.counts.sent),
        ("Delivered", "s-delivered", |l| l.counts.delivered),
        ("Read", "s-read", |l| l.counts.read),
        ("Replied", "s-replied", |l| l.counts.replied),
        ("Converted", "s-converted", |l| l.counts.converted),
    ];
    let journeys: Vec<&Line> = report
        .journeys
        .iter()
        .filter(|l| l.counts.sent > 0)
        .collect();
    let shown = journeys.len().min(FUNNEL_JOURNEYS);
    let group_height = GROUP_GAP + steps.len() as f64 * (BAR + BAR_GAP);
    let x = Scale::new((0.0, 1.0), (LEFT + LABEL_WIDTH, WIDTH - RIGHT - 60.0));
    let mut groups = Vec::with_capacity(shown);
    for (gi, line) in journeys.iter().take(shown).enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let top = TOP + gi as f64 * group_height;
        #[allow(clippy::cast_precision_loss)]
        let sent = line.counts.sent.max(1) as f64;
        let bars = steps
            .iter()
            .enumerate()
            .map(|(i, (label, class, f))| {
                #[allow(clippy::cast_precision_loss)]
                let (n, y) = (f(line), top + GROUP_GAP + i as f64 * (BAR + BAR_GAP));
                #[allow(clippy::cast_precision_loss)]
                let w = (x.at(n as f64 / sent) - x.at(0.0)).max(1.0);
                Bar {
                    label,
                    class,
                    x: px(x.at(0.0)),
                    y: px(y),
                    width: px(w),
                    height: px(BAR),
                    text_x: px(x.at(0.0) + w + 4.0),
                    text_y: px(y + BAR - 3.0),
                    value: n.to_string(),
                }
            })
            .collect();
        groups.push(FunnelGroup {
            name: group_name(GroupBy::Journey, line.key.as_deref()),
            name_y: px(top + GROUP_GAP - 8.0),
            bars,
        });
    }
    #[allow(clippy::cast_precision_loss)]
    let height = TOP + shown.max(1) as f64 * group_height + 8.0;
    Funnel {
        width: px(WIDTH),
        height: px(height),
        desc: format!(
            "For the {shown} journeys with the most sends: bars for sent, delivered, read, replied and converted, each as a share of the journey's sends. The table below has every number."
        ),
        groups,
        more: journeys.len() - shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_map_ends_to_ends() {
        let s = Scale::new((0.0, 10.0), (100.0, 0.0));
        assert!((s.at(0.0) - 100.0).abs() < 1e-9);
        assert!((s.at(5.0) - 50.0).abs() < 1e-9);
        assert!((Scale::new((3.0, 3.0), (1.0, 9.0)).at(3.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(
            [0, 1, 7, 10, 11, 45, 101, 2500].map(nice_max),
            [1, 1, 10, 10, 20, 50, 200, 5000]
        );
    }
}
