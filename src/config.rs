//! Configuration: one TOML file (`--config FILE`, default `replydesk.toml` when
//! present) with a few environment overrides. Everything is validated at
//! start-up, and every error names the key and what was expected, so an
//! operator can fix it without reading code.
//!
//! This module owns parsing and validation only; it does not open databases
//! or sockets.

use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::model::{Category, Provider};
use crate::secret::Secret;

/// A configuration problem, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config {key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The whole configuration, after defaults, overrides and validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// `sqlite://path` (default under `data/`) or `postgres://…`.
    #[serde(default = "default_database_url")]
    pub database_url: String,
    /// Directory with the rules files.
    #[serde(default = "default_rules_dir")]
    pub rules_dir: PathBuf,
    /// Directory for local state (SQLite file, outbox files).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The address people use to reach the desk, for links in emails.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (CIDR blocks,
    /// e.g. `["10.0.0.0/8"]`). From anyone else the header is ignored and the
    /// connection's own address counts, so it cannot be used to dodge the
    /// sign-in limits or to lock out someone else's address.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`
    /// (also `REPLYDESK_METRICS_TOKEN`); point Prometheus's
    /// `authorization: { credentials: … }` at it. Never shown or logged.
    #[serde(default)]
    pub metrics_token: Option<Secret>,
    /// Largest webhook body accepted, in bytes. Meta documents payloads up to 3 MB.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// SQLite durability: `full` (fsync every commit; survives power loss) or
    /// `normal` (survives a process crash). Ignored on PostgreSQL.
    #[serde(default)]
    pub sqlite_synchronous: SqliteSync,
    #[serde(default, rename = "channel")]
    pub channels: Vec<ChannelConfig>,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub sending: SendingConfig,
    /// Where customers' files are kept and how they are fetched.
    #[serde(default)]
    pub media: MediaConfig,
    #[serde(default, rename = "team")]
    pub teams: Vec<TeamConfig>,
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteConfig>,
    #[serde(default)]
    pub routing: RoutingConfig,
    #[serde(default)]
    pub fallback: FallbackConfig,
    #[serde(default, rename = "sla")]
    pub slas: Vec<SlaConfig>,
    /// Outgoing email; without it escalations are written as `.eml` files
    /// under `data/outbox/` and admins see a warning.
    #[serde(default)]
    pub smtp: Option<crate::notify::email::SmtpConfig>,
    #[serde(default)]
    pub workers: WorkersConfig,
    /// Administration: how far back the rules dry run replays.
    #[serde(default)]
    pub admin: crate::admin::AdminConfig,
    /// Conversions, report owners and alert rules.
    #[serde(default)]
    pub reports: crate::reports::ReportsConfig,
}

/// Which background workers this instance runs. All on by default; with
/// several instances on one PostgreSQL database each worker may run on any
/// or all of them (claims are leases and locks), so this is for operators
/// who want web-only instances, and for tests that drive workers by hand.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    #[serde(default = "yes")]
    pub router: bool,
    #[serde(default = "yes")]
    pub outbox: bool,
    #[serde(default = "yes")]
    pub sla: bool,
    #[serde(default = "yes")]
    pub reports: bool,
    /// The reply sender.
    #[serde(default = "yes")]
    pub replies: bool,
    /// The fetcher of customers' photos, voice notes and files.
    #[serde(default = "yes")]
    pub media: bool,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            router: true,
            outbox: true,
            sla: true,
            reports: true,
            replies: true,
            media: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// An SLA policy for a team, optionally for one category of its replies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaConfig {
    pub team: String,
    /// Without a category the policy covers the team's other replies.
    #[serde(default)]
    pub category: Option<Category>,
    /// Until an agent's first recorded response ("15m", "4h").
    pub first_response: String,
    /// Until resolution, from the first reply.
    #[serde(default)]
    pub resolution: Option<String>,
    /// Fraction of the target after which a conversation is at risk.
    #[serde(default)]
    pub at_risk: Option<f64>,
    /// Level 2 escalation at this multiple of the target.
    #[serde(default)]
    pub level2_multiple: Option<f64>,
    /// Named addresses for level 2 (level 1 goes to the team's leads).
    #[serde(default)]
    pub escalate_to: Vec<String>,
}

/// The SLA targets that apply to one conversation, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlaTargets {
    pub first_response_ms: i64,
    pub resolution_ms: i64,
    pub at_risk: f64,
    pub level2_multiple: f64,
}

/// Targets when no policy names the team: a day to answer, a week to resolve.
pub const DEFAULT_FIRST_RESPONSE_MS: i64 = 24 * 3_600_000;
pub const DEFAULT_RESOLUTION_MS: i64 = 7 * 24 * 3_600_000;

/// A team that owns replies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: String,
    /// Team leads' email addresses: they get escalations and see the team's load.
    #[serde(default)]
    pub leads: Vec<String>,
    /// Agents' email addresses, in round-robin order.
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub assignment: Assignment,
    /// Most open conversations one agent is given automatically.
    #[serde(default)]
    pub capacity: Option<u32>,
    /// When the SLA clock runs; without hours it runs around the clock.
    #[serde(default)]
    pub hours: Option<crate::sla::hours::HoursConfig>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Assignment {
    /// Conversations wait in the team queue until an agent claims one.
    #[default]
    Queue,
    /// Conversations go to the next available agent in turn.
    RoundRobin,
}

/// One line of the routing table: replies of `category` (and, optionally, of
/// a channel, language or journey) belong to `team`. First match wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub category: Category,
    pub team: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub journey: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// A reply this soon after a conversation was resolved reopens it.
    #[serde(default = "default_reopen")]
    pub reopen_window: String,
    /// A reply this soon after a registered outbound message is attributed to
    /// its journey even without quoting it.
    #[serde(default = "default_attribution")]
    pub attribution_window: String,
    /// The team for replies that match no route; none leaves them unassigned.
    #[serde(default)]
    pub default_team: Option<String>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            reopen_window: default_reopen(),
            attribution_window: default_attribution(),
            default_team: None,
        }
    }
}

fn default_reopen() -> String {
    "72h".into()
}
fn default_attribution() -> String {
    "72h".into()
}

/// Where fallback notices for failed registered messages are posted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    #[serde(default)]
    pub url: Option<String>,
    /// HMAC-SHA256 key for the `X-Replydesk-Signature` header.
    #[serde(default)]
    pub secret: Option<Secret>,
}

/// Parses a duration written for people ("15m", "4h", "1d", "90s", "1h 30m")
/// into milliseconds. Days are 24 hours.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let span: jiff::Span = text
        .trim()
        .parse()
        .map_err(|e| format!("{text:?} is not a duration such as 15m, 4h or 1d ({e})"))?;
    let duration = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("{text:?}: {e}"))?;
    if duration.is_negative() {
        return Err(format!("{text:?} is negative"));
    }
    i64::try_from(duration.as_millis()).map_err(|_| format!("{text:?} is too long"))
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    #[default]
    Full,
    Normal,
}

/// Tuning for the webhook write path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Most webhook bodies written in one transaction (group commit).
    #[serde(default = "default_batch")]
    pub max_batch: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_batch: default_batch(),
        }
    }
}

/// How replies are handed to the providers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendingConfig {
    /// Seconds a send request may take; after that its outcome is unknown
    /// and the reply is marked unconfirmed, never sent again on its own.
    #[serde(default = "default_send_timeout")]
    pub timeout_secs: u64,
    /// Attempts for a message the provider did not accept (rate limits,
    /// temporary errors) before it fails.
    #[serde(default = "default_send_attempts")]
    pub max_attempts: u32,
    /// Messages per second from one business number (Meta's default
    /// throughput is 80 per second).
    #[serde(default = "default_send_rate")]
    pub rate_per_number: f64,
}

impl Default for SendingConfig {
    fn default() -> Self {
        SendingConfig {
            timeout_secs: default_send_timeout(),
            max_attempts: default_send_attempts(),
            rate_per_number: default_send_rate(),
        }
    }
}

/// Where media files are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// A directory every instance can read and write (a shared volume). By
    /// default the files are kept in the database, which every instance
    /// already shares.
    #[serde(default)]
    pub directory: Option<PathBuf>,
}

fn default_send_timeout() -> u64 {
    20
}
fn default_send_attempts() -> u32 {
    10
}
fn default_send_rate() -> f64 {
    80.0
}

/// One WhatsApp number as the provider sees it, named in the webhook path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub name: String,
    pub provider: Provider,
    /// Meta: the app secret, the HMAC key of `X-Hub-Signature-256`.
    #[serde(default)]
    pub app_secret: Option<Secret>,
    /// Meta: the token typed into the App Dashboard for the GET handshake.
    #[serde(default)]
    pub verify_token: Option<Secret>,
    /// Twilio: the account's auth token, the HMAC key of `X-Twilio-Signature`.
    #[serde(default)]
    pub auth_token: Option<Secret>,
    /// Twilio: the exact URL configured in the Twilio console; the signature
    /// covers it, so it must match what Twilio requests, scheme and host included.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Meta: the access token the send API takes (a system user's token
    /// with `whatsapp_business_messaging`); also
    /// `REPLYDESK_CHANNEL_<NAME>_ACCESS_TOKEN`. Without it the channel
    /// receives but cannot send. Never shown or logged.
    #[serde(default)]
    pub access_token: Option<Secret>,
    /// Meta: the Graph API base with its version.
    #[serde(default)]
    pub graph_url: Option<String>,
    /// Meta: the WhatsApp Business Account whose templates are synced.
    #[serde(default)]
    pub business_account_id: Option<String>,
    /// Twilio: the account SID (`AC…`) that sends, with `auth_token`.
    #[serde(default)]
    pub account_sid: Option<String>,
    /// Twilio: the REST API base.
    #[serde(default)]
    pub api_url: Option<String>,
    /// Twilio: the Content API base, for the template list.
    #[serde(default)]
    pub content_url: Option<String>,
}

fn default_bind() -> String {
    "127.0.0.1:8080".into()
}
fn default_database_url() -> String {
    "sqlite://data/replydesk.db".into()
}
fn default_rules_dir() -> PathBuf {
    PathBuf::from("rules")
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_max_body() -> usize {
    4 * 1024 * 1024
}
fn default_batch() -> usize {
    512
}

/// Environment variables that override the file. Passed in, not read here, so
/// tests do not depend on the process environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub bind: Option<String>,
    pub rules_dir: Option<PathBuf>,
    pub metrics_token: Option<String>,
    /// `REPLYDESK_CHANNEL_<NAME>_ACCESS_TOKEN` and `…_AUTH_TOKEN`, by variable name.
    pub channel_secrets: std::collections::BTreeMap<String, String>,
}

impl Overrides {
    /// Reads `REPLYDESK_DATABASE_URL`, `REPLYDESK_BIND`, `REPLYDESK_RULES_DIR`
    /// and `REPLYDESK_METRICS_TOKEN`.
    pub fn from_env() -> Overrides {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Overrides {
            database_url: var("REPLYDESK_DATABASE_URL"),
            bind: var("REPLYDESK_BIND"),
            rules_dir: var("REPLYDESK_RULES_DIR").map(PathBuf::from),
            metrics_token: var("REPLYDESK_METRICS_TOKEN"),
            channel_secrets: std::env::vars()
                .filter(|(k, v)| k.starts_with("REPLYDESK_CHANNEL_") && !v.trim().is_empty())
                .collect(),
        }
    }
}

/// A channel's name as environment variables spell it: `main-nl` → `MAIN_NL`.
pub fn env_name(channel: &str) -> String {
    channel
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl Config {
    /// Loads `path`, or the default `replydesk.toml` when it exists, or the
    /// built-in defaults; then applies overrides and validates.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let default_path = Path::new("replydesk.toml");
        let mut config = match path {
            Some(p) => Config::from_file(p)?,
            None if default_path.exists() => Config::from_file(default_path)?,
            None => Config::from_toml("", Path::new("(defaults)"))?,
        };
        config.apply(overrides);
        config.validate()?;
        Ok(config)
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Parses TOML text; `path` is only used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    pub fn apply(&mut self, overrides: &Overrides) {
        if let Some(url) = &overrides.database_url {
            self.database_url.clone_from(url);
        }
        if let Some(bind) = &overrides.bind {
            self.bind.clone_from(bind);
        }
        if let Some(dir) = &overrides.rules_dir {
            self.rules_dir.clone_from(dir);
        }
        if let Some(token) = &overrides.metrics_token {
            self.metrics_token = Some(Secret::new(token.clone()));
        }
        for c in &mut self.channels {
            let var = |suffix: &str| {
                overrides
                    .channel_secrets
                    .get(&format!("REPLYDESK_CHANNEL_{}_{suffix}", env_name(&c.name)))
                    .cloned()
            };
            if let Some(token) = var("ACCESS_TOKEN") {
                c.access_token = Some(Secret::new(token));
            }
            if let Some(token) = var("AUTH_TOKEN") {
                c.auth_token = Some(Secret::new(token));
            }
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let sending = &self.sending;
        if !(sending.rate_per_number >= 0.1 && sending.rate_per_number <= 10_000.0) {
            return Err(invalid(
                "sending.rate_per_number",
                format!(
                    "{} is not a rate between 0.1 and 10000 messages per second",
                    sending.rate_per_number
                ),
            ));
        }
        if !(1..=300).contains(&sending.timeout_secs) {
            return Err(invalid(
                "sending.timeout_secs",
                format!("{} is not between 1 and 300 seconds", sending.timeout_secs),
            ));
        }
        if sending.max_attempts == 0 {
            return Err(invalid(
                "sending.max_attempts",
                "give at least 1 attempt".to_string(),
            ));
        }
        self.bind.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "bind",
                format!("{:?} is not an address such as 127.0.0.1:8080", self.bind),
            )
        })?;
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                "expected sqlite://PATH or postgres://USER@HOST/DB",
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "expected at least 1024 bytes"));
        }
        if !(1..=10_000).contains(&self.ingest.max_batch) {
            return Err(invalid(
                "ingest.max_batch",
                "expected a number from 1 to 10000",
            ));
        }
        self.validate_routing()?;
        self.admin.validate().map_err(|(key, m)| invalid(key, m))?;
        if let Some(smtp) = &self.smtp {
            smtp.validate()
                .map_err(|e| invalid("smtp", e.to_string()))?;
        }
        self.reports.validate(self)?;
        let mut names = HashSet::new();
        for (i, channel) in self.channels.iter().enumerate() {
            channel.validate(i)?;
            if !names.insert(channel.name.as_str()) {
                return Err(invalid(
                    format!("channel[{i}].name"),
                    format!(
                        "{:?} is used by two channels; names must be unique",
                        channel.name
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_routing(&self) -> Result<(), ConfigError> {
        let mut teams = HashSet::new();
        for (i, team) in self.teams.iter().enumerate() {
            if team.name.trim().is_empty() || !teams.insert(team.name.as_str()) {
                return Err(invalid(
                    format!("team[{i}].name"),
                    "expected a unique, non-empty team name",
                ));
            }
            if let Some(hours) = &team.hours {
                crate::sla::hours::BusinessHours::from_config(hours)
                    .map_err(|m| invalid(format!("team[{i}] (team {:?})", team.name), m))?;
            }
            if team.assignment == Assignment::RoundRobin && team.members.is_empty() {
                return Err(invalid(
                    format!("team[{i}].members (team {:?})", team.name),
                    "round_robin assignment needs at least one member",
                ));
            }
        }
        for (i, route) in self.routes.iter().enumerate() {
            if !teams.contains(route.team.as_str()) {
                return Err(invalid(
                    format!("route[{i}].team"),
                    format!("{:?} is not a [[team]] name", route.team),
                ));
            }
        }
        if let Some(team) = &self.routing.default_team
            && !teams.contains(team.as_str())
        {
            return Err(invalid(
                "routing.default_team",
                format!("{team:?} is not a [[team]] name"),
            ));
        }
        for (i, sla) in self.slas.iter().enumerate() {
            let key = |field: &str| format!("sla[{i}].{field}");
            if !teams.contains(sla.team.as_str()) {
                return Err(invalid(
                    key("team"),
                    format!("{:?} is not a [[team]] name", sla.team),
                ));
            }
            parse_duration_ms(&sla.first_response)
                .map_err(|m| invalid(key("first_response"), m))?;
            if let Some(r) = &sla.resolution {
                parse_duration_ms(r).map_err(|m| invalid(key("resolution"), m))?;
            }
            if sla
                .at_risk
                .is_some_and(|a| !(0.0..1.0).contains(&a) || a == 0.0)
            {
                return Err(invalid(
                    key("at_risk"),
                    "expected a fraction between 0 and 1, e.g. 0.8",
                ));
            }
            if sla.level2_multiple.is_some_and(|m| m <= 1.0) {
                return Err(invalid(
                    key("level2_multiple"),
                    "expected a multiple above 1, e.g. 2",
                ));
            }
        }
        parse_duration_ms(&self.routing.reopen_window)
            .map_err(|m| invalid("routing.reopen_window", m))?;
        parse_duration_ms(&self.routing.attribution_window)
            .map_err(|m| invalid("routing.attribution_window", m))?;
        if let Some(url) = &self.fallback.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "fallback.url",
                "expected an http:// or https:// URL",
            ));
        }
        Ok(())
    }

    /// The policy for a team and category: the category's own, else the
    /// team's general one, else the defaults.
    pub fn sla_for(&self, team: Option<&str>, category: Category) -> SlaTargets {
        let policy = team.and_then(|t| {
            let mine = self.slas.iter().filter(|s| s.team == t);
            mine.clone()
                .find(|s| s.category == Some(category))
                .or_else(|| mine.clone().find(|s| s.category.is_none()))
        });
        let first = policy
            .and_then(|p| parse_duration_ms(&p.first_response).ok())
            .unwrap_or(DEFAULT_FIRST_RESPONSE_MS);
        let resolution = policy
            .and_then(|p| p.resolution.as_deref())
            .and_then(|r| parse_duration_ms(r).ok())
            .unwrap_or(DEFAULT_RESOLUTION_MS.max(first));
        SlaTargets {
            first_response_ms: first,
            resolution_ms: resolution,
            at_risk: policy.and_then(|p| p.at_risk).unwrap_or(0.8),
            level2_multiple: policy.and_then(|p| p.level2_multiple).unwrap_or(2.0),
        }
    }

    pub fn team(&self, name: &str) -> Option<&TeamConfig> {
        self.teams.iter().find(|t| t.name == name)
    }

    pub fn channel(&self, name: &str) -> Option<&ChannelConfig> {
        self.channels.iter().find(|c| c.name == name)
    }
}

impl ChannelConfig {
    fn validate(&self, index: usize) -> Result<(), ConfigError> {
        let key = |field: &str| format!("channel[{index}].{field} (channel {:?})", self.name);
        let valid_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(invalid(
                format!("channel[{index}].name"),
                "expected 1-64 letters, digits, '-' or '_' (it is part of the webhook URL)",
            ));
        }
        let required = |value: Option<&str>, field: &str, what: &str| match value {
            Some(v) if !v.trim().is_empty() => Ok(()),
            _ => Err(invalid(key(field), format!("missing: {what}"))),
        };
        match self.provider {
            Provider::Meta => {
                required(
                    self.app_secret.as_ref().map(Secret::expose),
                    "app_secret",
                    "the Meta app secret (App Dashboard → App settings → Basic)",
                )?;
                required(
                    self.verify_token.as_ref().map(Secret::expose),
                    "verify_token",
                    "the verify token you will type into Meta's webhook settings",
                )?;
            }
            Provider::Twilio => {
                required(
                    self.auth_token.as_ref().map(Secret::expose),
                    "auth_token",
                    "the Twilio auth token (Console → Account info)",
                )?;
                required(
                    self.public_url.as_deref(),
                    "public_url",
                    "the exact URL Twilio posts to, e.g. https://desk.example.com/webhooks/twilio/main",
                )?;
                let url = self.public_url.as_deref().unwrap_or_default();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(invalid(
                        key("public_url"),
                        "expected an http:// or https:// URL",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut c = Config::from_toml(text, Path::new("test.toml"))?;
        c.apply(&Overrides::default());
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let c = parse(
            "metrics_token = \"prom-token-1\"\n[fallback]\nurl = \"https://crm.example/hook\"\nsecret = \"fallback-key-2\"\n\
             [[channel]]\nname = \"main\"\nprovider = \"meta\"\napp_secret = \"app-secret-3\"\nverify_token = \"verify-4\"\n\
             access_token = \"EAAG-5\"\n[[channel]]\nname = \"tw\"\nprovider = \"twilio\"\nauth_token = \"twilio-6\"\n\
             public_url = \"https://desk.example/webhooks/twilio/tw\"\naccount_sid = \"AC1\"\n",
        )
        .unwrap();
        let shown = format!("{c:?}");
        for secret in [
            "prom-token-1",
            "fallback-key-2",
            "app-secret-3",
            "verify-4",
            "EAAG-5",
            "twilio-6",
        ] {
            assert!(!shown.contains(secret), "{secret} shows in Debug");
        }
    }

    #[test]
    fn empty_file_gives_sqlite_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://data/replydesk.db");
    }

    #[test]
    fn missing_meta_secret_names_the_key() {
        let err =
            parse("[[channel]]\nname = \"main\"\nprovider = \"meta\"\nverify_token = \"t\"\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("channel[0].app_secret"), "{err}");
    }

    #[test]
    fn unknown_key_is_refused_with_its_name() {
        let err = parse("bnid = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("bnid"), "{err}");
    }

    #[test]
    fn unknown_provider_is_refused() {
        let err = parse("[[channel]]\nname = \"m\"\nprovider = \"telegram\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("telegram") || err.contains("provider"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_channel_names_are_refused() {
        let one = "[[channel]]\nname = \"m\"\nprovider = \"meta\"\napp_secret = \"s\"\nverify_token = \"t\"\n";
        let err = parse(&format!("{one}{one}")).unwrap_err().to_string();
        assert!(err.contains("unique"), "{err}");
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration_ms("15m"), Ok(900_000));
        assert_eq!(parse_duration_ms("4h"), Ok(14_400_000));
        assert_eq!(parse_duration_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_duration_ms("5s"), Ok(5_000));
        assert!(parse_duration_ms("soon").is_err());
    }

    #[test]
    fn a_route_to_an_unknown_team_is_refused() {
        let err = parse("[[route]]\ncategory = \"interest\"\nteam = \"sales\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("route[0].team"), "{err}");
    }

    #[test]
    fn overrides_win_over_the_file() {
        let mut c = Config::from_toml("bind = \"127.0.0.1:1\"\n", Path::new("t")).unwrap();
        c.apply(&Overrides {
            bind: Some("127.0.0.1:2".into()),
            ..Overrides::default()
        });
        assert_eq!(c.bind, "127.0.0.1:2");
    }

    #[test]
    fn send_tokens_come_from_the_environment_by_channel_name_and_never_print() {
        let text = "[[channel]]\nname = \"main-nl\"\nprovider = \"meta\"\naccess_token = \"from-file\"\n\n\
                    [[channel]]\nname = \"tw\"\nprovider = \"twilio\"\n";
        let mut c = Config::from_toml(text, Path::new("t")).unwrap();
        let secrets = [
            ("REPLYDESK_CHANNEL_MAIN_NL_ACCESS_TOKEN", "EAAG-from-env"),
            ("REPLYDESK_CHANNEL_TW_AUTH_TOKEN", "tw-from-env"),
        ];
        c.apply(&Overrides {
            channel_secrets: secrets
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            ..Overrides::default()
        });
        let token = c.channels[0].access_token.as_ref().unwrap();
        assert_eq!(token.expose(), "EAAG-from-env");
        assert_eq!(
            c.channels[1].auth_token.as_ref().map(Secret::expose),
            Some("tw-from-env")
        );
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("EAAG-from-env") && !shown.contains("tw-from-env"),
            "tokens never print: {shown}"
        );
    }
}
