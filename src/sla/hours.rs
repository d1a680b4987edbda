//! Business hours: when a team's SLA clock runs. A team has a time zone, a
//! weekly schedule of opening ranges and a list of holidays; outside them
//! the clock stands still. A team without hours is open around the clock.
//!
//! All arithmetic is on civil times in the team's zone, turned into instants
//! only at the edges of each opening range, so daylight-saving changes are
//! exact: a range that spans the spring-forward jump is an hour shorter, one
//! that spans the fall-back repeat an hour longer.
//!
//! This module owns the schedule and the arithmetic over it. It does not know
//! SLA policies, targets or conversations; callers pass instants (epoch
//! milliseconds) and get instants back.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use serde::Deserialize;
use std::collections::{BTreeSet, VecDeque};

use crate::clock::Millis;

/// The calendar days searched past the last opening before giving up: a
/// schedule whose holidays close it for longer than this is never due.
const MAX_CLOSED_DAYS: u32 = 400;
/// The most calendar days any one computation looks at (about ten years), so
/// that an absurd amount of work cannot keep a worker busy.
const MAX_SCAN_DAYS: u32 = 3_660;
const MINUTES_PER_DAY: u16 = 24 * 60;

/// A team's hours as written in the configuration:
///
/// ```toml
/// timezone = "Europe/Amsterdam"
/// monday = ["09:00-12:00", "13:00-17:30"]
/// holidays = ["2026-12-25"]
/// ```
///
/// A day that is not listed is closed.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HoursConfig {
    /// An IANA time zone name such as `Europe/Amsterdam`.
    pub timezone: String,
    #[serde(default)]
    pub monday: Vec<String>,
    #[serde(default)]
    pub tuesday: Vec<String>,
    #[serde(default)]
    pub wednesday: Vec<String>,
    #[serde(default)]
    pub thursday: Vec<String>,
    #[serde(default)]
    pub friday: Vec<String>,
    #[serde(default)]
    pub saturday: Vec<String>,
    #[serde(default)]
    pub sunday: Vec<String>,
    /// Closed dates (`YYYY-MM-DD`) in the team's zone.
    #[serde(default)]
    pub holidays: Vec<String>,
}

impl HoursConfig {
    /// The days from Monday, the order of `Weekday::to_monday_zero_offset`.
    fn days(&self) -> [(&'static str, &[String]); 7] {
        [
            ("monday", &self.monday),
            ("tuesday", &self.tuesday),
            ("wednesday", &self.wednesday),
            ("thursday", &self.thursday),
            ("friday", &self.friday),
            ("saturday", &self.saturday),
            ("sunday", &self.sunday),
        ]
    }
}

/// When a team's clock runs.
#[derive(Debug, Clone)]
pub struct BusinessHours {
    /// `None` is open around the clock.
    schedule: Option<Schedule>,
}

#[derive(Debug, Clone)]
struct Schedule {
    tz: TimeZone,
    /// Opening ranges per weekday, Monday first, sorted and not overlapping.
    week: [Vec<Range>; 7],
    holidays: BTreeSet<Date>,
}

/// One opening range of a day, in minutes after midnight (`close` may be
/// 1440, the end of the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Range {
    open: u16,
    close: u16,
}

impl BusinessHours {
    /// Returned by [`BusinessHours::due_at`] when the schedule has no opening
    /// within [`MAX_CLOSED_DAYS`] days: the work is never due.
    pub const NEVER: Millis = Millis::MAX;

    /// Open around the clock: business time is wall time.
    pub fn always() -> BusinessHours {
        BusinessHours { schedule: None }
    }

    /// Checks and compiles a team's hours. The error names the key and the
    /// value that is wrong, e.g. `hours.monday: "25:00" is not a time of day`.
    pub fn from_config(config: &HoursConfig) -> Result<BusinessHours, String> {
        let tz = TimeZone::get(&config.timezone).map_err(|_| {
            format!(
                "hours.timezone: unknown time zone {:?}; use an IANA name such as \"Europe/Amsterdam\"",
                config.timezone
            )
        })?;
        let mut week: [Vec<Range>; 7] = Default::default();
        for (slot, (day, texts)) in week.iter_mut().zip(config.days()) {
            *slot = parse_day(day, texts)?;
        }
        if week.iter().all(Vec::is_empty) {
            return Err("hours: no day has opening hours; add ranges such as \
                 monday = [\"09:00-17:00\"], or remove hours to keep the team open around the clock"
                .into());
        }
        let holidays = config
            .holidays
            .iter()
            .map(|text| {
                text.trim().parse::<Date>().map_err(|_| {
                    format!("hours.holidays: {text:?} is not a date such as \"2026-12-25\"")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(BusinessHours {
            schedule: Some(Schedule { tz, week, holidays }),
        })
    }

    /// The instant at which `work_ms` of business time has passed since
    /// `start_ms`. Outside hours the clock starts at the next opening.
    /// [`BusinessHours::NEVER`] when no opening comes within the search bounds.
    pub fn due_at(&self, start_ms: Millis, work_ms: Millis) -> Millis {
        let Some(schedule) = &self.schedule else {
            return start_ms.saturating_add(work_ms.max(0));
        };
        let mut remaining = work_ms.max(0);
        for (open, close) in schedule.intervals(start_ms) {
            let begin = open.max(start_ms);
            let available = close - begin;
            if remaining <= available {
                return begin + remaining;
            }
            remaining -= available;
        }
        BusinessHours::NEVER
    }

    /// Business milliseconds between two instants; zero when `to` is not
    /// after `from`.
    pub fn elapsed(&self, from_ms: Millis, to_ms: Millis) -> Millis {
        if to_ms <= from_ms {
            return 0;
        }
        let Some(schedule) = &self.schedule else {
            return to_ms.saturating_sub(from_ms);
        };
        schedule
            .intervals(from_ms)
            .take_while(|(open, _)| *open < to_ms)
            .map(|(open, close)| close.min(to_ms) - open.max(from_ms))
            .sum()
    }

    /// Whether the clock runs at `at_ms`.
    pub fn is_open(&self, at_ms: Millis) -> bool {
        let Some(schedule) = &self.schedule else {
            return true;
        };
        schedule
            .intervals(at_ms)
            .next()
            .is_some_and(|(open, _)| open <= at_ms)
    }
}

impl Schedule {
    /// The opening intervals `[open, close)` that end after `after_ms`, in order.
    fn intervals(&self, after_ms: Millis) -> Intervals<'_> {
        let date = Timestamp::from_millisecond(after_ms)
            .ok()
            .map(|at| self.tz.to_datetime(at).date());
        Intervals {
            schedule: self,
            date,
            pending: VecDeque::new(),
            after_ms,
            closed_days: 0,
            scanned_days: 0,
        }
    }

    /// One date's opening intervals as instants.
    fn day_intervals(&self, date: Date) -> Vec<(Millis, Millis)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let weekday = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
        self.week[weekday]
            .iter()
            .filter_map(|range| {
                let open = self.instant(date, range.open)?;
                let close = self.instant(date, range.close)?;
                // A range inside the spring-forward gap has no length.
                (close > open).then_some((open, close))
            })
            .collect()
    }

    /// The instant of a civil time on a date. A time skipped by a
    /// spring-forward jump is the jump itself; a time repeated by a fall-back
    /// is its first occurrence. Both keep later civil times at later instants,
    /// so ranges stay in order and never overlap.
    fn instant(&self, date: Date, minute: u16) -> Option<Millis> {
        let civil = if minute >= MINUTES_PER_DAY {
            date.tomorrow().ok()?.to_datetime(Time::midnight())
        } else {
            let hour = i8::try_from(minute / 60).ok()?;
            let min = i8::try_from(minute % 60).ok()?;
            date.at(hour, min, 0, 0)
        };
        let at = match self.tz.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(civil).ok()?,
            AmbiguousOffset::Fold { before, after } => {
                let first = before.to_timestamp(civil).ok()?;
                let second = after.to_timestamp(civil).ok()?;
                first.min(second)
            }
            AmbiguousOffset::Gap { before, after } => self.gap_instant(civil, before, after)?,
        };
        Some(at.as_millisecond())
    }

    /// The transition that skipped `civil`.
    fn gap_instant(
        &self,
        civil: DateTime,
        before: jiff::tz::Offset,
        after: jiff::tz::Offset,
    ) -> Option<Timestamp> {
        let early = after.to_timestamp(civil).ok()?;
        let late = before.to_timestamp(civil).ok()?;
        let from = early.min(late);
        let jump = self.tz.following(from).next().map(|t| t.timestamp());
        Some(jump.unwrap_or(early.max(late)))
    }
}

/// Walks a schedule day by day, within the search bounds.
struct Intervals<'a> {
    schedule: &'a Schedule,
    /// The next date to expand; `None` past the end of the calendar.
    date: Option<Date>,
    pending: VecDeque<(Millis, Millis)>,
    after_ms: Millis,
    closed_days: u32,
    scanned_days: u32,
}

impl Iterator for Intervals<'_> {
    type Item = (Millis, Millis);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            while let Some(interval) = self.pending.pop_front() {
                if interval.1 > self.after_ms {
                    return Some(interval);
                }
            }
            if self.closed_days > MAX_CLOSED_DAYS || self.scanned_days > MAX_SCAN_DAYS {
                return None;
            }
            let date = self.date?;
            let day = self.schedule.day_intervals(date);
            self.scanned_days += 1;
            self.closed_days = if day.is_empty() {
                self.closed_days + 1
            } else {
                0
            };
            self.pending.extend(day);
            self.date = date.tomorrow().ok();
        }
    }
}

fn parse_day(day: &str, texts: &[String]) -> Result<Vec<Range>, String> {
    let mut ranges = texts
        .iter()
        .map(|text| parse_range(day, text))
        .collect::<Result<Vec<_>, _>>()?;
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        if pair[1].open < pair[0].close {
            return Err(format!(
                "hours.{day}: {} overlaps {}; list each opening time once",
                show(pair[0]),
                show(pair[1])
            ));
        }
    }
    Ok(ranges)
}

fn parse_range(day: &str, text: &str) -> Result<Range, String> {
    let Some((open, close)) = text.split_once('-') else {
        return Err(format!(
            "hours.{day}: {text:?} is not a range such as \"09:00-17:30\""
        ));
    };
    let minute = |part: &str| {
        parse_time(part.trim()).ok_or_else(|| {
            format!(
                "hours.{day}: {:?} is not a time of day (HH:MM, 00:00 to 24:00)",
                part.trim()
            )
        })
    };
    let range = Range {
        open: minute(open)?,
        close: minute(close)?,
    };
    if range.open >= range.close {
        return Err(format!(
            "hours.{day}: {text:?} does not open before it closes; \
             a range cannot cross midnight, so split it over two days"
        ));
    }
    Ok(range)
}

/// `HH:MM` as minutes after midnight; `24:00` is the end of the day.
fn parse_time(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    let two_digits = |s: &str| {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    let (hours, minutes) = (two_digits(hours)?, two_digits(minutes)?);
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= MINUTES_PER_DAY).then_some(total)
}

fn show(range: Range) -> String {
    format!(
        "\"{:02}:{:02}-{:02}:{:02}\"",
        range.open / 60,
        range.open % 60,
        range.close / 60,
        range.close % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: Millis = 3_600_000;
    const MINUTE: Millis = 60_000;

    fn office() -> BusinessHours {
        let day = || vec!["09:00-17:30".to_string()];
        BusinessHours::from_config(&HoursConfig {
            timezone: "Europe/Amsterdam".into(),
            monday: day(),
            tuesday: day(),
            wednesday: day(),
            thursday: day(),
            friday: day(),
            holidays: vec!["2026-12-25".into(), "2026-12-26".into()],
            ..HoursConfig::default()
        })
        .unwrap()
    }

    /// Open all Sunday (the day European clocks change) and nothing else.
    fn sundays(ranges: &[&str]) -> BusinessHours {
        BusinessHours::from_config(&HoursConfig {
            timezone: "Europe/Amsterdam".into(),
            sunday: ranges.iter().map(ToString::to_string).collect(),
            ..HoursConfig::default()
        })
        .unwrap()
    }

    /// A civil time in Amsterdam, e.g. `2026-11-26T17:20`.
    fn local(text: &str) -> Millis {
        let dt: DateTime = text.parse().unwrap();
        dt.to_zoned(TimeZone::get("Europe/Amsterdam").unwrap())
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    /// An exact instant, e.g. `2026-11-27T08:50:00Z`.
    fn utc(text: &str) -> Millis {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_reply_just_before_closing_carries_over_to_the_next_morning() {
        // Thursday 17:20 CET, one hour of work: 10 minutes today, 50 tomorrow.
        let due = office().due_at(local("2026-11-26T17:20"), HOUR);
        assert_eq!(due, utc("2026-11-27T08:50:00Z"));
    }

    #[test]
    fn work_that_ends_exactly_at_closing_is_due_at_closing() {
        let due = office().due_at(local("2026-11-26T17:00"), 30 * MINUTE);
        assert_eq!(due, utc("2026-11-26T16:30:00Z"));
    }

    #[test]
    fn a_friday_evening_reply_is_due_monday() {
        let hours = office();
        // After closing: the clock starts Monday 09:00 CET.
        assert_eq!(
            hours.due_at(local("2026-11-27T19:00"), 4 * HOUR),
            utc("2026-11-30T12:00:00Z")
        );
        // Half an hour before closing: 30 minutes Friday, 30 minutes Monday.
        assert_eq!(
            hours.due_at(local("2026-11-27T17:00"), HOUR),
            utc("2026-11-30T08:30:00Z")
        );
    }

    #[test]
    fn a_holiday_is_skipped() {
        // Thursday 24 December 17:00; Friday 25 is a holiday, then the weekend.
        let due = office().due_at(local("2026-12-24T17:00"), 2 * HOUR);
        assert_eq!(due, utc("2026-12-28T09:30:00Z"));
        assert!(!office().is_open(local("2026-12-25T11:00")));
    }

    #[test]
    fn a_reply_outside_hours_starts_the_clock_at_the_next_opening() {
        let hours = office();
        let start = local("2026-11-28T10:00"); // Saturday
        assert!(!hours.is_open(start));
        assert_eq!(hours.due_at(start, 0), utc("2026-11-30T08:00:00Z"));
        assert_eq!(hours.elapsed(start, local("2026-11-30T09:15")), 15 * MINUTE);
    }

    #[test]
    fn several_ranges_a_day_leave_the_lunch_break_out() {
        let hours = BusinessHours::from_config(&HoursConfig {
            timezone: "Europe/Amsterdam".into(),
            monday: vec!["13:00-17:00".into(), "09:00-12:00".into()],
            ..HoursConfig::default()
        })
        .unwrap();
        // Monday 11:30 + 1h: 30 minutes before lunch, 30 after.
        assert_eq!(
            hours.due_at(local("2026-11-30T11:30"), HOUR),
            utc("2026-11-30T12:30:00Z")
        );
        assert!(!hours.is_open(local("2026-11-30T12:30")));
    }

    #[test]
    fn across_spring_forward_an_hour_of_work_from_0130_ends_at_0330() {
        // 2026-03-29: at 02:00 CET clocks jump to 03:00 CEST (01:00 UTC).
        let hours = sundays(&["00:00-24:00"]);
        assert_eq!(
            hours.due_at(local("2026-03-29T01:30"), HOUR),
            utc("2026-03-29T01:30:00Z") // 03:30 CEST
        );
        // The day has 23 hours.
        assert_eq!(
            hours.elapsed(utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z")),
            23 * HOUR
        );
    }

    #[test]
    fn across_spring_forward_a_range_loses_the_skipped_hour() {
        // 01:00 CET to 04:00 CEST is two real hours.
        let hours = sundays(&["01:00-04:00"]);
        let day = (utc("2026-03-28T12:00:00Z"), utc("2026-03-29T12:00:00Z"));
        assert_eq!(hours.elapsed(day.0, day.1), 2 * HOUR);
        assert_eq!(
            hours.due_at(day.0, 2 * HOUR),
            utc("2026-03-29T02:00:00Z") // 04:00 CEST
        );
        // A range opening inside the gap opens at the jump.
        let gap = sundays(&["02:30-05:00"]);
        assert!(!gap.is_open(utc("2026-03-29T00:59:59Z")));
        assert!(gap.is_open(utc("2026-03-29T01:00:00Z")));
        assert_eq!(gap.elapsed(day.0, day.1), 2 * HOUR);
    }

    #[test]
    fn across_fall_back_the_repeated_hour_counts_twice() {
        // 2026-10-25: at 03:00 CEST clocks go back to 02:00 CET (01:00 UTC).
        let hours = sundays(&["00:00-24:00"]);
        let start = local("2026-10-25T01:30"); // CEST
        assert_eq!(start, utc("2026-10-24T23:30:00Z"));
        // One hour later it is 02:30 for the first time, two hours later for the second.
        assert_eq!(hours.due_at(start, HOUR), utc("2026-10-25T00:30:00Z"));
        assert_eq!(hours.due_at(start, 2 * HOUR), utc("2026-10-25T01:30:00Z"));
        // 01:00 CEST to 04:00 CET is four real hours.
        let range = sundays(&["01:00-04:00"]);
        let day = (utc("2026-10-24T12:00:00Z"), utc("2026-10-25T12:00:00Z"));
        assert_eq!(range.elapsed(day.0, day.1), 4 * HOUR);
    }

    #[test]
    fn a_friday_reply_before_the_spring_change_is_due_monday_in_summer_time() {
        // Friday 17:00 CET: 30 minutes Friday, 3h30 from Monday 09:00 CEST (07:00 UTC).
        let due = office().due_at(local("2026-03-27T17:00"), 4 * HOUR);
        assert_eq!(due, utc("2026-03-30T10:30:00Z"));
    }

    #[test]
    fn without_hours_the_clock_runs_around_the_clock() {
        let hours = BusinessHours::always();
        let start = local("2026-11-28T03:00"); // Saturday night
        assert!(hours.is_open(start));
        assert_eq!(hours.due_at(start, 4 * HOUR), start + 4 * HOUR);
        assert_eq!(hours.elapsed(start, start + 90 * MINUTE), 90 * MINUTE);
        assert_eq!(hours.elapsed(start + 1, start), 0);
    }

    #[test]
    fn a_schedule_closed_by_holidays_for_over_400_days_is_never_due() {
        // Open only on Mondays, and every Monday for two years is a holiday.
        let first = Date::constant(2026, 11, 30);
        let holidays = (0..110)
            .map(|week| {
                first
                    .checked_add(jiff::Span::new().weeks(week))
                    .unwrap()
                    .to_string()
            })
            .collect();
        let hours = BusinessHours::from_config(&HoursConfig {
            timezone: "Europe/Amsterdam".into(),
            monday: vec!["09:00-17:00".into()],
            holidays,
            ..HoursConfig::default()
        })
        .unwrap();
        let start = local("2026-11-26T10:00");
        assert_eq!(hours.due_at(start, HOUR), BusinessHours::NEVER);
        assert!(!hours.is_open(local("2026-11-30T10:00")));
    }

    #[test]
    fn bad_configs_name_the_key_and_the_value() {
        let base = || HoursConfig {
            timezone: "Europe/Amsterdam".into(),
            monday: vec!["09:00-17:00".into()],
            ..HoursConfig::default()
        };
        let cases: Vec<(&str, HoursConfig, &[&str])> = vec![
            (
                "unknown zone",
                HoursConfig {
                    timezone: "Mars/Olympus".into(),
                    ..base()
                },
                &["hours.timezone", "Mars/Olympus"],
            ),
            (
                "hour 25",
                HoursConfig {
                    tuesday: vec!["09:00-25:00".into()],
                    ..base()
                },
                &["hours.tuesday", "\"25:00\""],
            ),
            (
                "not HH:MM",
                HoursConfig {
                    monday: vec!["9-17".into()],
                    ..base()
                },
                &["hours.monday", "\"9\""],
            ),
            (
                "no dash",
                HoursConfig {
                    monday: vec!["09:00".into()],
                    ..base()
                },
                &["hours.monday", "\"09:00\""],
            ),
            (
                "overlap",
                HoursConfig {
                    friday: vec!["13:00-17:00".into(), "09:00-13:30".into()],
                    ..base()
                },
                &["hours.friday", "\"09:00-13:30\" overlaps \"13:00-17:00\""],
            ),
            (
                "backwards",
                HoursConfig {
                    monday: vec!["17:00-09:00".into()],
                    ..base()
                },
                &["hours.monday", "\"17:00-09:00\""],
            ),
            (
                "bad date",
                HoursConfig {
                    holidays: vec!["2026-13-01".into()],
                    ..base()
                },
                &["hours.holidays", "\"2026-13-01\""],
            ),
            (
                "no open day",
                HoursConfig {
                    monday: vec![],
                    ..base()
                },
                &["hours:", "no day has opening hours"],
            ),
        ];
        for (name, config, wanted) in cases {
            let error = BusinessHours::from_config(&config)
                .map(|_| ())
                .expect_err(name);
            for part in wanted {
                assert!(error.contains(part), "{name}: {error:?} lacks {part:?}");
            }
        }
    }

    #[test]
    fn touching_ranges_and_24_00_are_accepted() {
        let hours = sundays(&["00:00-12:00", "12:00-24:00"]);
        let day = (local("2026-11-29T00:00"), local("2026-11-30T00:00"));
        assert_eq!(hours.elapsed(day.0, day.1), 24 * HOUR);
        assert!(hours.is_open(local("2026-11-29T12:00")));
    }

    #[test]
    fn hours_deserialize_from_a_team_table() {
        let config: HoursConfig = toml::from_str(
            r#"
            timezone = "Europe/Amsterdam"
            monday = ["09:00-17:30"]
            holidays = ["2026-12-25"]
            "#,
        )
        .unwrap();
        assert_eq!(config.monday, ["09:00-17:30"]);
        let unknown = toml::from_str::<HoursConfig>("timezone = \"UTC\"\nmonnday = []");
        assert!(unknown.unwrap_err().to_string().contains("monnday"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn elapsed_and_due_at_agree(
            start in utc("2026-01-01T00:00:00Z")..utc("2027-01-01T00:00:00Z"),
            work in 0..(30 * 24 * HOUR),
        ) {
            for hours in [office(), sundays(&["01:00-04:00", "12:00-24:00"]), BusinessHours::always()] {
                let due = hours.due_at(start, work);
                prop_assert!(due >= start);
                prop_assert_eq!(hours.elapsed(start, due), work);
            }
        }
    }
}
