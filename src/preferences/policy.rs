//! The business's preference policy: what each kind of signal does beyond
//! its own evidence, read from `rules/preference_policy.toml`. Checked like
//! the rules files: a bad file names its line, and the last good policy
//! stays active.

use serde::Deserialize;

use crate::classify::line_of;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::clock::Millis;
use crate::model::{PrefChannel, Purpose};

/// The kinds of signal the policy speaks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    KeywordOptOut,
    ButtonOptOut,
    ProviderMarketingStop,
    StatusMarketingOptOut,
    StatusOptOut,
    Block,
    Unreachable,
    ContentFailures,
    Complaint,
    ExternalOptOut,
    KeywordOptIn,
    ButtonOptIn,
    ProviderMarketingResume,
    ExternalOptIn,
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::KeywordOptOut => "keyword_opt_out",
            SignalKind::ButtonOptOut => "button_opt_out",
            SignalKind::ProviderMarketingStop => "provider_marketing_stop",
            SignalKind::StatusMarketingOptOut => "status_marketing_opt_out",
            SignalKind::StatusOptOut => "status_opt_out",
            SignalKind::Block => "block",
            SignalKind::Unreachable => "unreachable",
            SignalKind::ContentFailures => "content_failures",
            SignalKind::Complaint => "complaint",
            SignalKind::ExternalOptOut => "external_opt_out",
            SignalKind::KeywordOptIn => "keyword_opt_in",
            SignalKind::ButtonOptIn => "button_opt_in",
            SignalKind::ProviderMarketingResume => "provider_marketing_resume",
            SignalKind::ExternalOptIn => "external_opt_in",
        }
    }

    pub fn is_opt_in(self) -> bool {
        matches!(
            self,
            SignalKind::KeywordOptIn
                | SignalKind::ButtonOptIn
                | SignalKind::ProviderMarketingResume
                | SignalKind::ExternalOptIn
        )
    }

    /// Reachability signals suppress until a sign of life, not until an opt-in.
    pub fn is_reachability(self) -> bool {
        matches!(self, SignalKind::Block | SignalKind::Unreachable)
    }
}

/// A channel and purpose a signal reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    pub channel: PrefChannel,
    pub purpose: Purpose,
}

/// What one signal kind does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Action {
    pub suppress: Vec<Scope>,
    pub lift: Vec<Scope>,
    pub exclude_journey: bool,
    pub review: bool,
    pub notify: Option<String>,
    pub threshold: u32,
    pub window_ms: Millis,
    pub rules: Vec<String>,
    /// `file:line` of the entry, named on every answer it decides.
    pub line: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct PolicyError {
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    signal: Vec<toml::Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    kind: SignalKind,
    #[serde(default)]
    suppress: Vec<Scope>,
    #[serde(default)]
    lift: Vec<Scope>,
    #[serde(default)]
    exclude_journey: bool,
    #[serde(default)]
    review: bool,
    #[serde(default)]
    notify: Option<String>,
    #[serde(default)]
    threshold: Option<u32>,
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    rules: Vec<String>,
}

/// The whole policy. A kind missing from the file does nothing beyond its own evidence.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    actions: HashMap<SignalKind, Action>,
    pub version: String,
}

impl Policy {
    /// Reads `preference_policy.toml` from the rules directory; without the
    /// file, every signal does only what it says.
    pub fn load_dir(dir: &Path, teams: &[String]) -> Result<Policy, PolicyError> {
        let path = dir.join("preference_policy.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Policy::parse(&text, &path, teams),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Policy::default()),
            Err(e) => Err(PolicyError {
                file: path,
                line: 0,
                reason: format!("cannot read: {e}"),
            }),
        }
    }

    pub fn parse(text: &str, path: &Path, teams: &[String]) -> Result<Policy, PolicyError> {
        let err = |line: usize, reason: String| PolicyError {
            file: path.to_path_buf(),
            line,
            reason,
        };
        let file: File = toml::from_str(text).map_err(|e| {
            err(
                e.span().map_or(0, |s| line_of(text, s.start)),
                e.message().to_string(),
            )
        })?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().to_string(),
        );
        let mut actions = HashMap::new();
        for spanned in file.signal {
            let line = line_of(text, spanned.span().start);
            let e = spanned.into_inner();
            check(&e, teams).map_err(|reason| err(line, reason))?;
            let window_ms = match &e.window {
                Some(w) => crate::config::parse_duration_ms(w)
                    .map_err(|m| err(line, format!("window: {m}")))?,
                None => 30 * 86_400_000,
            };
            let action = Action {
                suppress: e.suppress,
                lift: e.lift,
                exclude_journey: e.exclude_journey,
                review: e.review,
                notify: e.notify,
                threshold: e.threshold.unwrap_or(3),
                window_ms,
                rules: e.rules,
                line: format!("{name}:{line}"),
            };
            if actions.insert(e.kind, action).is_some() {
                return Err(err(
                    line,
                    format!(
                        "signal {} is listed twice; keep one entry per kind",
                        e.kind.as_str()
                    ),
                ));
            }
        }
        let version = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())[..6]);
        Ok(Policy { actions, version })
    }

    /// What `kind` does; an unlisted kind does nothing extra.
    pub fn action(&self, kind: SignalKind) -> Action {
        self.actions.get(&kind).cloned().unwrap_or_default()
    }
}

fn check(e: &Entry, teams: &[String]) -> Result<(), String> {
    if e.kind.is_opt_in() && !e.suppress.is_empty() {
        return Err(format!(
            "{} is an opt-in: it can lift, not suppress",
            e.kind.as_str()
        ));
    }
    if !e.kind.is_opt_in() && !e.lift.is_empty() {
        return Err(format!(
            "{} is not an opt-in: it can suppress, not lift",
            e.kind.as_str()
        ));
    }
    if e.kind.is_reachability()
        && e.suppress
            .iter()
            .any(|s| s.channel != PrefChannel::Whatsapp)
    {
        return Err(format!(
            "{} says nothing about email: it can only suppress whatsapp",
            e.kind.as_str()
        ));
    }
    if let Some(team) = &e.notify
        && !teams.iter().any(|t| t == team)
    {
        return Err(format!(
            "notify: {team:?} is not a [[team]] in the configuration"
        ));
    }
    if (e.threshold.is_some() || e.window.is_some()) && e.kind != SignalKind::ContentFailures {
        return Err("threshold and window apply to content_failures only".into());
    }
    if e.threshold == Some(0) {
        return Err("threshold must be at least 1".into());
    }
    if !e.rules.is_empty() && e.kind != SignalKind::Complaint {
        return Err("rules apply to complaint only".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn teams() -> Vec<String> {
        vec!["service".into()]
    }

    #[test]
    fn the_shipped_policy_loads_and_is_conservative() {
        let p = Policy::load_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"),
            &teams(),
        )
        .unwrap();
        let stop = p.action(SignalKind::KeywordOptOut);
        assert!(stop.suppress.contains(&Scope {
            channel: PrefChannel::Whatsapp,
            purpose: Purpose::All
        }));
        let block = p.action(SignalKind::Block);
        assert!(block.review && block.exclude_journey);
        assert!(
            p.action(SignalKind::KeywordOptIn)
                .lift
                .iter()
                .all(|s| s.channel == PrefChannel::Whatsapp),
            "an opt-in lifts only what it names"
        );
        assert!(stop.line.starts_with("preference_policy.toml:"));
    }

    #[test]
    fn a_bad_entry_names_its_line_and_reason() {
        let text = "[[signal]]\nkind = \"keyword_opt_out\"\n\n[[signal]]\nkind = \"keyword_opt_in\"\nsuppress = [{ channel = \"email\", purpose = \"all\" }]\n";
        let e = Policy::parse(text, Path::new("preference_policy.toml"), &teams()).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.reason.contains("opt-in"), "{e}");
        let unknown = Policy::parse(
            "[[signal]]\nkind = \"shouting\"\n",
            Path::new("p.toml"),
            &teams(),
        )
        .unwrap_err();
        assert!(
            unknown.to_string().contains("shouting")
                || unknown.to_string().contains("unknown variant"),
            "{unknown}"
        );
        let team = Policy::parse(
            "[[signal]]\nkind = \"block\"\nnotify = \"nobody\"\n",
            Path::new("p.toml"),
            &teams(),
        )
        .unwrap_err();
        assert!(team.reason.contains("nobody"));
    }
}
