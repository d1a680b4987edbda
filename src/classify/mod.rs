//! Classification: turns one inbound reply into exactly one [`Category`],
//! using the rules files administrators own (`rules/*.toml`).
//!
//! This module owns the rules file format, compiling rules into matchers,
//! the text normalizer, language detection and the live, reloadable rules set.
//! It does not store anything and knows nothing of HTTP: classification is a
//! pure function of (rules set, reply).
//!
//! PLACEHOLDER: a minimal engine so the rest of the desk compiles; the real
//! engine replaces it.

use crate::model::{Category, MessageKind, PrefChannel, Purpose};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod cli;

/// The part of an inbound message that classification looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reply<'a> {
    pub kind: Option<MessageKind>,
    /// Text body, or the caption of a media message.
    pub text: Option<&'a str>,
    /// Button payload or interactive reply id.
    pub payload: Option<&'a str>,
    /// Button or interactive reply title as the customer saw it.
    pub title: Option<&'a str>,
}

/// Whether a rule asks the preferences ledger to suppress or lift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrefEffect {
    OptOut,
    OptIn,
}

/// A preference action carried by the rule that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PreferenceAction {
    pub effect: PrefEffect,
    /// `None` means every channel.
    pub channel: Option<PrefChannel>,
    pub purpose: Purpose,
}

/// The result of classifying one reply, with enough to explain it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Classification {
    pub category: Category,
    /// The id of the rule that matched, or `default` when none did.
    pub rule_id: Arc<str>,
    /// Byte range in the text that the rule matched, when it matched text.
    pub span: Option<(usize, usize)>,
    /// The matched words as they appear in the message.
    pub matched: Option<String>,
    /// ISO 639-1 code of the detected language, only when detection was reliable.
    pub lang: Option<&'static str>,
    /// Hash of the rules set that decided.
    pub rules_version: Arc<str>,
    pub action: Option<PreferenceAction>,
}

/// A problem in a rules file, located for the administrator who must fix it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct RulesError {
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
}

/// Every problem found in a rules directory.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct RulesErrors(pub Vec<RulesError>);

/// A compiled, tested rules set.
#[derive(Debug)]
pub struct RuleSet {
    version: Arc<str>,
    default: Category,
}

impl RuleSet {
    pub fn load_dir(_dir: &Path) -> Result<RuleSet, RulesErrors> {
        Ok(RuleSet {
            version: Arc::from("placeholder"),
            default: Category::Service,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn classify(&self, _reply: &Reply<'_>) -> Classification {
        Classification {
            category: self.default,
            rule_id: Arc::from("default"),
            span: None,
            matched: None,
            lang: None,
            rules_version: self.version.clone(),
            action: None,
        }
    }
}

/// The active rules set, swapped atomically on reload.
#[derive(Debug)]
pub struct LiveRules {
    dir: PathBuf,
    current: std::sync::RwLock<Arc<RuleSet>>,
}

impl LiveRules {
    pub fn load(dir: &Path) -> Result<LiveRules, RulesErrors> {
        Ok(LiveRules {
            dir: dir.to_path_buf(),
            current: std::sync::RwLock::new(Arc::new(RuleSet::load_dir(dir)?)),
        })
    }

    pub fn current(&self) -> Arc<RuleSet> {
        self.current
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub fn reload(&self) -> Result<(), RulesErrors> {
        let set = Arc::new(RuleSet::load_dir(&self.dir)?);
        if let Ok(mut g) = self.current.write() {
            *g = set;
        }
        Ok(())
    }
}
