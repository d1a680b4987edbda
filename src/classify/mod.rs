//! Classification: turns one inbound reply into exactly one [`Category`],
//! using the rules files administrators own (`rules/*.toml`).
//!
//! This module owns the rules file format, compiling rules into matchers,
//! the text normalizer, language detection and the live, reloadable rules set.
//! It does not store anything and knows nothing of HTTP: classification is a
//! pure function of (rules set, reply).
//!
//! Submodules: `normalize` (the text folding rules and messages share),
//! `rules` (the file format), `engine` (compiling and classifying), `lang`
//! (whatlang's language detection, scored faster, with its profiles in
//! `lang_profiles`), `live` (the active set and its reload), `cli`
//! (command-line entry points) and `eval` (precision and recall on a
//! labelled set).

use crate::model::{Category, MessageKind, PrefChannel, Purpose};
use std::path::PathBuf;
use std::sync::Arc;

pub mod cli;
mod engine;
pub mod eval;
mod lang;
mod lang_profiles;
mod live;
mod normalize;
mod rules;

pub use engine::RuleSet;
pub use lang::detect as detect_language;
pub use live::{LiveRules, WatchHandle};
pub use normalize::normalize;
/// The 1-based line of a byte offset, for errors that name a file's line.
pub(crate) use rules::line_of;

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
    /// Byte range that the rule matched, when it matched text: in `text`,
    /// or in `title` for a button or list reply without text.
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
