//! The period a report covers: whole UTC days, because the rollups are per
//! UTC day. A time given in RFC 3339 is widened to its whole day, and the
//! answer says which days it used.

use crate::clock::Millis;

pub const DAY_MS: Millis = 86_400_000;
/// The longest period one report covers: a year and a day.
const MAX_DAYS: i64 = 367;
/// Without `from`, the last 30 days including today.
const DEFAULT_DAYS: i64 = 30;

/// The UTC day start of an instant.
pub fn day_of(ms: Millis) -> Millis {
    ms.div_euclid(DAY_MS) * DAY_MS
}

/// `2026-11-26`.
pub fn day_label(day: Millis) -> String {
    jiff::Timestamp::from_millisecond(day)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Inclusive range of UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Start of the first day.
    pub from: Millis,
    /// Start of the last day (included).
    pub to: Millis,
}

#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PeriodError {
    pub field: &'static str,
    pub message: String,
}

impl Period {
    /// Reads `from`/`to` as `YYYY-MM-DD` or RFC 3339; either may be left
    /// out: `to` defaults to today, `from` to 29 days before `to`.
    pub fn parse(from: Option<&str>, to: Option<&str>, now: Millis) -> Result<Period, PeriodError> {
        let to = match given(to) {
            Some(t) => parse_day("to", t)?,
            None => day_of(now),
        };
        let from = match given(from) {
            Some(f) => parse_day("from", f)?,
            None => to - (DEFAULT_DAYS - 1) * DAY_MS,
        };
        if from > to {
            return Err(PeriodError {
                field: "from",
                message: "the period starts after it ends; swap from and to".into(),
            });
        }
        if (to - from) / DAY_MS + 1 > MAX_DAYS {
            return Err(PeriodError {
                field: "to",
                message: format!("a report covers at most {MAX_DAYS} days; shorten the period"),
            });
        }
        Ok(Period { from, to })
    }

    /// The instant just after the last day.
    pub fn end(&self) -> Millis {
        self.to + DAY_MS
    }

    /// Every day of the period, in order.
    pub fn days(&self) -> impl Iterator<Item = Millis> + '_ {
        (0..=(self.to - self.from) / DAY_MS).map(|i| self.from + i * DAY_MS)
    }

    pub fn from_label(&self) -> String {
        day_label(self.from)
    }

    pub fn to_label(&self) -> String {
        day_label(self.to)
    }
}

fn given(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

fn parse_day(field: &'static str, text: &str) -> Result<Millis, PeriodError> {
    let bad = || PeriodError {
        field,
        message: format!(
            "{text:?} is not a date (2026-11-26) or an RFC 3339 time (2026-11-26T10:00:00Z)"
        ),
    };
    if let Ok(date) = text.parse::<jiff::civil::Date>()
        && text.len() == 10
    {
        let ts = date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp();
        return Ok(ts.as_millisecond());
    }
    let ts: jiff::Timestamp = text.parse().map_err(|_| bad())?;
    Ok(day_of(ts.as_millisecond()))
}

/// Parses an RFC 3339 time or epoch milliseconds, for conversions.
pub fn parse_instant(text: &str) -> Option<Millis> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_millisecond)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-26 10:00:00 UTC
    const NOW: Millis = 1_795_687_200_000;

    #[test]
    fn the_default_is_the_last_30_days_with_today() {
        let p = Period::parse(None, None, NOW).unwrap();
        assert_eq!(p.to_label(), "2026-11-26");
        assert_eq!(p.from_label(), "2026-10-28");
        assert_eq!(p.days().count(), 30);
    }

    #[test]
    fn dates_and_times_become_whole_days() {
        let p = Period::parse(Some("2026-11-01"), Some("2026-11-03T23:59:59+02:00"), NOW).unwrap();
        assert_eq!(
            (p.from_label().as_str(), p.to_label().as_str()),
            ("2026-11-01", "2026-11-03")
        );
        assert_eq!(p.end() - p.from, 3 * DAY_MS);
    }

    #[test]
    fn bad_periods_name_the_field() {
        assert_eq!(
            Period::parse(Some("yesterday"), None, NOW)
                .unwrap_err()
                .field,
            "from"
        );
        assert_eq!(
            Period::parse(None, Some("2026-13-01"), NOW)
                .unwrap_err()
                .field,
            "to"
        );
        assert_eq!(
            Period::parse(Some("2026-11-05"), Some("2026-11-01"), NOW)
                .unwrap_err()
                .field,
            "from"
        );
        assert_eq!(
            Period::parse(Some("2020-01-01"), None, NOW)
                .unwrap_err()
                .field,
            "to"
        );
    }

    #[test]
    fn instants_are_rfc3339_or_epoch_millis() {
        assert_eq!(parse_instant("2026-11-26T10:00:00Z"), Some(NOW));
        assert_eq!(parse_instant("1795687200000"), Some(NOW));
        assert_eq!(parse_instant("tomorrow"), None);
    }
}
