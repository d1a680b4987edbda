//! The `[reports]` table: attribution window, reporting currency, who owns
//! each channel and journey, and the alert rules.
//!
//! ```toml
//! [reports]
//! attribution_window = "7d"   # conversions: how far back a send may earn one
//! currency = "EUR"            # conversion values in other currencies are counted, not summed
//! default_owner = "service"   # owner of channels and journeys not listed below
//! refresh_every = "30s"       # how often the report facts and alerts are brought up to date
//!
//! [reports.journey_owners]
//! welcome = "sales"
//!
//! [reports.channel_owners]
//! main = "service"
//!
//! [reports.alerts.opt_out_rate]   # each rule: enabled, and its numbers
//! threshold = 0.05
//! window = "1h"
//! min_count = 20
//! ```

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

use crate::clock::Millis;
use crate::config::{Config, ConfigError, parse_duration_ms};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// A conversion without a message id is attributed to the latest send to
    /// the contact within this long before it.
    #[serde(default = "default_attribution")]
    pub attribution_window: String,
    /// The currency conversion values are summed in (ISO 4217).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// The team that owns channels and journeys not named below; without
    /// one, `routing.default_team`.
    #[serde(default)]
    pub default_owner: Option<String>,
    #[serde(default)]
    pub journey_owners: BTreeMap<String, String>,
    #[serde(default)]
    pub channel_owners: BTreeMap<String, String>,
    /// How often the background worker refreshes the facts and evaluates alerts.
    #[serde(default = "default_refresh")]
    pub refresh_every: String,
    #[serde(default)]
    pub alerts: AlertsConfig,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            attribution_window: default_attribution(),
            currency: default_currency(),
            default_owner: None,
            journey_owners: BTreeMap::new(),
            channel_owners: BTreeMap::new(),
            refresh_every: default_refresh(),
            alerts: AlertsConfig::default(),
        }
    }
}

fn default_attribution() -> String {
    "7d".into()
}
fn default_currency() -> String {
    "EUR".into()
}
fn default_refresh() -> String {
    "30s".into()
}

/// One alert rule as written; unset numbers take the rule's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A rate (0 to 1) for the rate rules; the fraction lost for `delivered_drop`.
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub window: Option<String>,
    /// Below this many messages in the window the rule stays quiet.
    #[serde(default)]
    pub min_count: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    #[serde(default)]
    pub opt_out_rate: RuleConfig,
    #[serde(default)]
    pub failure_rate: RuleConfig,
    #[serde(default)]
    pub delivered_drop: RuleConfig,
    #[serde(default)]
    pub dead_letters: RuleConfig,
    #[serde(default)]
    pub unrouted: RuleConfig,
}

/// The rules the desk knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Opt-out replies among replies, per channel and journey.
    OptOutRate,
    /// Failed among delivered and failed sends, per channel and journey.
    FailureRate,
    /// Delivered sends against the window before, per channel.
    DeliveredDrop,
    /// Webhook bodies kept as dead letters, per channel.
    DeadLetters,
    /// Replies that matched no route, per channel.
    Unrouted,
}

impl Rule {
    pub const ALL: [Rule; 5] = [
        Rule::OptOutRate,
        Rule::FailureRate,
        Rule::DeliveredDrop,
        Rule::DeadLetters,
        Rule::Unrouted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::OptOutRate => "opt_out_rate",
            Rule::FailureRate => "failure_rate",
            Rule::DeliveredDrop => "delivered_drop",
            Rule::DeadLetters => "dead_letters",
            Rule::Unrouted => "unrouted",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Rule::OptOutRate => "Opt-out rate",
            Rule::FailureRate => "Failure rate",
            Rule::DeliveredDrop => "Drop in delivered messages",
            Rule::DeadLetters => "Dead letters",
            Rule::Unrouted => "Replies that matched no route",
        }
    }

    pub fn parse(text: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// (threshold, window, min_count) when the config does not say: over 5%
    /// opt-outs in an hour with at least 20 replies; over 10% failures in an
    /// hour with at least 50 outcomes; half the delivered messages of the
    /// previous day, when it had at least 100; any dead letter or unrouted
    /// reply in an hour.
    fn defaults(self) -> (f64, &'static str, i64) {
        match self {
            Rule::OptOutRate => (0.05, "1h", 20),
            Rule::FailureRate => (0.10, "1h", 50),
            Rule::DeliveredDrop => (0.5, "1d", 100),
            Rule::DeadLetters | Rule::Unrouted => (0.0, "1h", 1),
        }
    }

    /// Whether `threshold` means something for this rule.
    fn has_threshold(self) -> bool {
        matches!(
            self,
            Rule::OptOutRate | Rule::FailureRate | Rule::DeliveredDrop
        )
    }
}

/// A rule with every number decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuleSettings {
    pub rule: Rule,
    pub enabled: bool,
    pub threshold: f64,
    pub window_ms: Millis,
    pub min_count: i64,
}

fn invalid(key: String, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl AlertsConfig {
    fn written(&self, rule: Rule) -> &RuleConfig {
        match rule {
            Rule::OptOutRate => &self.opt_out_rate,
            Rule::FailureRate => &self.failure_rate,
            Rule::DeliveredDrop => &self.delivered_drop,
            Rule::DeadLetters => &self.dead_letters,
            Rule::Unrouted => &self.unrouted,
        }
    }
}

impl ReportsConfig {
    /// The attribution window in milliseconds (validated at start-up).
    pub fn attribution_ms(&self) -> Millis {
        parse_duration_ms(&self.attribution_window).unwrap_or(7 * 86_400_000)
    }

    /// The worker's tick.
    pub fn refresh_every(&self) -> std::time::Duration {
        let ms = parse_duration_ms(&self.refresh_every).unwrap_or(30_000);
        std::time::Duration::from_millis(ms.max(1000).unsigned_abs())
    }

    /// A rule's settings: what the config says, else the defaults.
    pub fn rule(&self, rule: Rule) -> RuleSettings {
        let written = self.alerts.written(rule);
        let (threshold, window, min_count) = rule.defaults();
        RuleSettings {
            rule,
            enabled: written.enabled.unwrap_or(true),
            threshold: written.threshold.unwrap_or(threshold),
            window_ms: written
                .window
                .as_deref()
                .and_then(|w| parse_duration_ms(w).ok())
                .or_else(|| parse_duration_ms(window).ok())
                .unwrap_or(3_600_000),
            min_count: written.min_count.unwrap_or(min_count),
        }
    }

    /// The team that owns a journey.
    pub fn journey_owner<'a>(&'a self, config: &'a Config, journey: &str) -> Option<&'a str> {
        self.journey_owners
            .get(journey)
            .map(String::as_str)
            .or_else(|| self.fallback_owner(config))
    }

    /// The team that owns a channel.
    pub fn channel_owner<'a>(&'a self, config: &'a Config, channel: &str) -> Option<&'a str> {
        self.channel_owners
            .get(channel)
            .map(String::as_str)
            .or_else(|| self.fallback_owner(config))
    }

    fn fallback_owner<'a>(&'a self, config: &'a Config) -> Option<&'a str> {
        self.default_owner
            .as_deref()
            .or(config.routing.default_team.as_deref())
    }

    /// Checks every key against the rest of the configuration.
    pub fn validate(&self, config: &Config) -> Result<(), ConfigError> {
        let key = |k: &str| format!("reports.{k}");
        let window = parse_duration_ms(&self.attribution_window)
            .map_err(|m| invalid(key("attribution_window"), m))?;
        if window == 0 {
            return Err(invalid(
                key("attribution_window"),
                "expected a duration above zero, e.g. 7d",
            ));
        }
        let every =
            parse_duration_ms(&self.refresh_every).map_err(|m| invalid(key("refresh_every"), m))?;
        if every < 1000 {
            return Err(invalid(key("refresh_every"), "expected at least 1s"));
        }
        if !(self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(invalid(
                key("currency"),
                format!("{:?} is not an ISO 4217 code such as EUR", self.currency),
            ));
        }
        let teams: HashSet<&str> = config.teams.iter().map(|t| t.name.as_str()).collect();
        let team_ok = |k: String, team: &str| {
            if teams.contains(team) {
                Ok(())
            } else {
                Err(invalid(k, format!("{team:?} is not a [[team]] name")))
            }
        };
        if let Some(t) = &self.default_owner {
            team_ok(key("default_owner"), t)?;
        }
        for (journey, team) in &self.journey_owners {
            team_ok(key(&format!("journey_owners.{journey}")), team)?;
        }
        for (channel, team) in &self.channel_owners {
            team_ok(key(&format!("channel_owners.{channel}")), team)?;
        }
        for rule in Rule::ALL {
            self.validate_rule(rule)?;
        }
        Ok(())
    }

    fn validate_rule(&self, rule: Rule) -> Result<(), ConfigError> {
        let written = self.alerts.written(rule);
        let key = |k: &str| format!("reports.alerts.{}.{k}", rule.as_str());
        if let Some(w) = &written.window {
            let ms = parse_duration_ms(w).map_err(|m| invalid(key("window"), m))?;
            if ms < 60_000 {
                return Err(invalid(key("window"), "expected at least 1m"));
            }
        }
        if let Some(t) = written.threshold {
            if !rule.has_threshold() {
                return Err(invalid(
                    key("threshold"),
                    "this rule fires on min_count alone; remove threshold",
                ));
            }
            if !(t > 0.0 && t <= 1.0) {
                return Err(invalid(
                    key("threshold"),
                    "expected a fraction above 0 and at most 1, e.g. 0.05 for 5%",
                ));
            }
        }
        if written.min_count.is_some_and(|n| n < 1) {
            return Err(invalid(key("min_count"), "expected at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        let text = format!("[[team]]\nname = \"sales\"\nleads = [\"l@example.com\"]\n{extra}");
        let c = Config::from_toml(&text, Path::new("t.toml"))?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_need_no_table() {
        let c = parse("").unwrap();
        let r = c.reports.rule(Rule::OptOutRate);
        assert_eq!(
            (r.threshold, r.window_ms, r.min_count),
            (0.05, 3_600_000, 20)
        );
        assert_eq!(c.reports.attribution_ms(), 7 * 86_400_000);
        assert_eq!(c.reports.journey_owner(&c, "x"), None);
    }

    #[test]
    fn a_rule_keeps_its_defaults_for_what_is_not_written() {
        let c = parse("[reports.alerts.failure_rate]\nthreshold = 0.2\n").unwrap();
        let r = c.reports.rule(Rule::FailureRate);
        assert_eq!(
            (r.threshold, r.window_ms, r.min_count),
            (0.2, 3_600_000, 50)
        );
    }

    #[test]
    fn owners_must_be_teams() {
        let err = parse("[reports.journey_owners]\nwelcome = \"ghosts\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("reports.journey_owners.welcome"), "{err}");
        let c = parse("[reports]\ndefault_owner = \"sales\"\n").unwrap();
        assert_eq!(c.reports.channel_owner(&c, "main"), Some("sales"));
    }

    #[test]
    fn bad_numbers_name_their_key() {
        for (text, key) in [
            (
                "[reports.alerts.opt_out_rate]\nthreshold = 5\n",
                "reports.alerts.opt_out_rate.threshold",
            ),
            (
                "[reports.alerts.dead_letters]\nthreshold = 0.5\n",
                "reports.alerts.dead_letters.threshold",
            ),
            (
                "[reports.alerts.unrouted]\nmin_count = 0\n",
                "reports.alerts.unrouted.min_count",
            ),
            (
                "[reports]\nattribution_window = \"soon\"\n",
                "reports.attribution_window",
            ),
            ("[reports]\ncurrency = \"euro\"\n", "reports.currency"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
