//! Settings as administrators see them, and where each one is kept. Values
//! kept in files (the configuration file, the rules directory) are shown
//! read-only with the file and section to edit: they are never copied into
//! the database, so the two can never disagree. Secrets are masked.

use serde::Deserialize;
use std::path::Path;

use super::{AdminError, Problem};
use crate::preferences::status_codes::StatusCodes;

/// Where each kind of setting lives, as the settings page and README state it.
pub const SOURCES: &[(&str, &str, &str)] = &[
    (
        "Teams, leads and file members",
        "file",
        "replydesk.toml [[team]]",
    ),
    (
        "Team memberships added in the browser",
        "database",
        "Admin → Users (user_teams)",
    ),
    (
        "Routes and routing defaults",
        "file",
        "replydesk.toml [[route]], [routing]",
    ),
    (
        "SLA policies and escalation addresses",
        "file",
        "replydesk.toml [[sla]] (escalate_to); team leads get level 1",
    ),
    (
        "Reports: refresh, attribution window, currency, alert owners and thresholds",
        "file",
        "replydesk.toml [reports], [reports.journey_owners], [reports.channel_owners], [reports.alerts.*]",
    ),
    (
        "Business hours and holidays",
        "file",
        "replydesk.toml [team.hours]",
    ),
    (
        "Channels and their secrets",
        "file",
        "replydesk.toml [[channel]]",
    ),
    ("Email (SMTP)", "file", "replydesk.toml [smtp]"),
    (
        "Fallback URL and secret",
        "file",
        "replydesk.toml [fallback]",
    ),
    ("Dry-run period and cap", "file", "replydesk.toml [admin]"),
    (
        "Classification rules",
        "file",
        "rules/*.toml (editor: Admin → Rules; every version kept in the database)",
    ),
    (
        "Status-code effects",
        "file",
        "rules/status_codes.toml (checked here, edited in the file, reloaded when it changes)",
    ),
    (
        "Preference policy: what each signal suppresses, journey exclusions, review",
        "file",
        "rules/preference_policy.toml (reloaded when it changes)",
    ),
    (
        "Reviews, journey exclusions lifted, do-not-contact",
        "database",
        "Reviews page; a contact's page (preference_events, the ledger)",
    ),
    (
        "Users, roles, disabled accounts",
        "database",
        "Admin → Users (users)",
    ),
    (
        "Agents away",
        "database",
        "each agent's own switch (agent_presence)",
    ),
    (
        "API keys",
        "database",
        "replydesk apikey create/list/revoke",
    ),
];

/// A secret as pages show it: only its last four characters.
pub fn mask(secret: Option<&str>) -> String {
    match secret.map(str::trim).filter(|s| !s.is_empty()) {
        None => "(not set)".into(),
        Some(s) => {
            let chars: Vec<char> = s.chars().collect();
            let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
            if chars.len() <= 4 {
                "••••".into()
            } else {
                format!("••••{tail}")
            }
        }
    }
}

/// One line of `status_codes.toml`, for showing.
#[derive(Debug, Clone, Deserialize)]
pub struct CodeLine {
    pub provider: String,
    pub code: String,
    pub effect: String,
    pub fallback: Option<bool>,
    #[serde(default)]
    pub why: String,
}

#[derive(Deserialize)]
struct CodesFile {
    #[serde(default)]
    code: Vec<CodeLine>,
}

/// The status-code table as written in the rules directory.
pub fn status_codes(dir: &Path) -> Result<(String, Vec<CodeLine>), AdminError> {
    let text = match std::fs::read_to_string(dir.join("status_codes.toml")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(AdminError::Io(e.to_string())),
    };
    let lines = toml::from_str::<CodesFile>(&text)
        .map(|f| f.code)
        .unwrap_or_default();
    Ok((text, lines))
}

/// Checks a candidate `status_codes.toml` the way the desk loads it.
pub fn check_status_codes(text: &str) -> Result<usize, Vec<Problem>> {
    match StatusCodes::parse(text, Path::new("status_codes.toml")) {
        Ok(_) => Ok(toml::from_str::<CodesFile>(text).map_or(0, |f| f.code.len())),
        Err(e) => Err(vec![Problem {
            file: "status_codes.toml".into(),
            line: e.line,
            reason: e.reason,
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_show_only_their_last_four_characters() {
        assert_eq!(mask(Some("abcdefgh1234")), "••••1234");
        assert_eq!(mask(Some("abc")), "••••");
        assert_eq!(mask(None), "(not set)");
    }

    #[test]
    fn a_broken_status_code_file_names_its_line() {
        let err = check_status_codes(
            "[[code]]\nprovider = \"meta\"\ncode = \"1\"\neffect = \"nope\"\nwhy = \"x\"\n",
        )
        .unwrap_err();
        assert_eq!(err[0].line, 4, "{err:?}");
    }
}
