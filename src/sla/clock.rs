//! The SLA clock of one conversation: which target is running, and the
//! instants at which it becomes at risk, breached, and escalated to the
//! second level, counted in the team's business hours.

use std::collections::HashMap;

use super::hours::BusinessHours;
use crate::clock::Millis;
use crate::config::Config;
use crate::model::Category;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Until an agent records a response (or resolves): a claim does not stop it.
    FirstResponse,
    Resolution,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::FirstResponse => "first_response",
            Target::Resolution => "resolution",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Target::FirstResponse => "first response",
            Target::Resolution => "resolution",
        }
    }

    pub fn parse(s: &str) -> Option<Target> {
        match s {
            "first_response" => Some(Target::FirstResponse),
            "resolution" => Some(Target::Resolution),
            _ => None,
        }
    }
}

/// A running clock's instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaClock {
    pub target: Target,
    pub at_risk_at: Millis,
    pub due_at: Millis,
    pub level2_at: Millis,
}

impl SlaClock {
    /// The next instant the worker must look at this conversation after `now`.
    pub fn next_check(&self, reached_level: Option<u8>) -> Option<Millis> {
        match reached_level {
            None => Some(self.at_risk_at),
            Some(0) => Some(self.due_at),
            Some(1) => Some(self.level2_at),
            Some(_) => None,
        }
        .filter(|t| *t < BusinessHours::NEVER)
    }
}

/// Every team's business hours, compiled once from the configuration.
#[derive(Debug, Default)]
pub struct Calendars {
    by_team: HashMap<String, BusinessHours>,
}

impl Calendars {
    /// Teams without hours (or with hours that failed validation, which
    /// start-up refuses anyway) run around the clock.
    pub fn from_config(config: &Config) -> Calendars {
        let by_team = config
            .teams
            .iter()
            .filter_map(|t| {
                let hours = BusinessHours::from_config(t.hours.as_ref()?).ok()?;
                Some((t.name.clone(), hours))
            })
            .collect();
        Calendars { by_team }
    }

    pub fn for_team(&self, team: Option<&str>) -> Option<&BusinessHours> {
        team.and_then(|t| self.by_team.get(t))
    }
}

fn scaled(ms: Millis, factor: f64) -> Millis {
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let out = (ms as f64 * factor).round() as Millis;
    out
}

/// The clock for a team's `category` work on `target`, started at `start`.
pub fn schedule(
    config: &Config,
    calendars: &Calendars,
    team: Option<&str>,
    category: Category,
    target: Target,
    start: Millis,
) -> SlaClock {
    let t = config.sla_for(team, category);
    let work = match target {
        Target::FirstResponse => t.first_response_ms,
        Target::Resolution => t.resolution_ms,
    };
    let always = BusinessHours::always();
    let hours = calendars.for_team(team).unwrap_or(&always);
    SlaClock {
        target,
        at_risk_at: hours.due_at(start, scaled(work, t.at_risk)),
        due_at: hours.due_at(start, work),
        level2_at: hours.due_at(start, scaled(work, t.level2_multiple)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_clock_counts_business_hours_and_its_levels_follow_the_policy() {
        let config = Config::from_toml(
            r#"
[[team]]
name = "sales"
hours = { timezone = "UTC", monday = ["09:00-17:00"], tuesday = ["09:00-17:00"] }

[[sla]]
team = "sales"
category = "interest"
first_response = "1h"
at_risk = 0.5
level2_multiple = 3
"#,
            Path::new("t"),
        )
        .unwrap();
        config.validate().unwrap();
        let calendars = Calendars::from_config(&config);
        // Monday 2026-11-23 16:30 UTC: half an hour before closing.
        let start = 1_795_451_400_000;
        let c = schedule(
            &config,
            &calendars,
            Some("sales"),
            Category::Interest,
            Target::FirstResponse,
            start,
        );
        assert_eq!(
            c.at_risk_at, 1_795_453_200_000,
            "half the hour fits before Monday's closing"
        );
        assert_eq!(
            c.due_at, 1_795_512_600_000,
            "the rest runs on Tuesday from 09:00: due 09:30"
        );
        assert_eq!(
            c.level2_at,
            1_795_512_600_000 + 2 * 3_600_000,
            "three times the target: Tuesday 11:30"
        );
        let other = schedule(
            &config,
            &calendars,
            Some("sales"),
            Category::Service,
            Target::FirstResponse,
            start,
        );
        assert!(
            other.due_at > c.level2_at,
            "no policy for service: the default day of business time"
        );
    }
}
