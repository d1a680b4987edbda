//! The rules file format: reading `rules/*.toml` into plain definitions that
//! remember the file and line of everything an administrator may get wrong.
//! Compiling the definitions into matchers is `engine`'s job.

use super::{RulesError, RulesErrors};
use crate::model::Category;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Files in the rules directory that belong to other parts of the desk.
pub(crate) const RESERVED_FILES: [&str; 4] = [
    "status_codes.toml",
    "preference_policy.toml",
    "canned_responses.toml",
    "auto_replies.toml",
];

/// What applies when no rule matches and no `[settings]` table says otherwise.
pub(crate) const DEFAULT_CATEGORY: Category = Category::Service;

/// One rules file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileDef {
    pub(crate) settings: Option<Spanned<SettingsDef>>,
    #[serde(default)]
    pub(crate) rule: Vec<RuleDef>,
    #[serde(default)]
    pub(crate) example: Vec<ExampleDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsDef {
    pub(crate) default_category: Option<Category>,
}

/// A list of strings, each remembering where it was written.
pub(crate) type Strings = Vec<Spanned<String>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDef {
    pub(crate) id: Spanned<String>,
    pub(crate) category: Category,
    #[serde(default)]
    pub(crate) priority: i64,
    #[serde(default)]
    pub(crate) keywords: Strings,
    #[serde(default)]
    pub(crate) phrases: Strings,
    #[serde(default)]
    pub(crate) patterns: Strings,
    #[serde(default)]
    pub(crate) payloads: Strings,
    #[serde(default)]
    pub(crate) unless: Strings,
    #[serde(default)]
    pub(crate) kinds: Strings,
    #[serde(default)]
    pub(crate) lang: Strings,
    pub(crate) has_text: Option<bool>,
    pub(crate) no_words: Option<bool>,
    pub(crate) action: Option<Spanned<ActionDef>>,
}

/// `action = "opt_out"` or `action = { effect = "opt_out", channel = "all", purpose = "marketing" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ActionDef {
    Effect(String),
    Table {
        effect: String,
        channel: Option<String>,
        purpose: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExampleDef {
    pub(crate) text: Option<Spanned<String>>,
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) payload: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) expect: Spanned<Category>,
    pub(crate) rule: Option<String>,
    pub(crate) action: Option<String>,
}

/// A parsed rules file with what is needed to turn byte offsets into lines.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub(crate) path: PathBuf,
    pub(crate) source: String,
    pub(crate) def: FileDef,
}

impl SourceFile {
    /// An error located at a byte offset of this file.
    pub(crate) fn error_at(&self, offset: usize, reason: impl Into<String>) -> RulesError {
        RulesError {
            file: self.path.clone(),
            line: line_of(&self.source, offset),
            reason: reason.into(),
        }
    }
}

/// The 1-based line holding byte `offset`.
pub(crate) fn line_of(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Every rules file of a directory, parsed, plus the set's version.
#[derive(Debug)]
pub(crate) struct SourceSet {
    pub(crate) dir: PathBuf,
    pub(crate) files: Vec<SourceFile>,
    pub(crate) version: String,
}

/// Reads and parses `dir/*.toml` in file-name order, skipping reserved and
/// hidden files. Every file is read even when an earlier one is broken, so
/// the administrator sees all problems at once.
pub(crate) fn read_dir(dir: &Path) -> Result<SourceSet, RulesErrors> {
    let paths =
        rule_file_paths(dir).map_err(|reason| RulesErrors(vec![whole_file(dir, reason)]))?;
    if paths.is_empty() {
        let reason = "no rules files (*.toml) in this directory";
        return Err(RulesErrors(vec![whole_file(dir, reason.to_string())]));
    }
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut hasher = Sha256::new();
    for path in paths {
        let source = match std::fs::read_to_string(&path) {
            Ok(source) => source,
            Err(e) => {
                errors.push(whole_file(&path, format!("cannot read the file: {e}")));
                continue;
            }
        };
        // Hash names too: renaming a file changes rule order.
        hasher.update(
            path.file_name()
                .map(|n| n.as_encoded_bytes())
                .unwrap_or_default(),
        );
        hasher.update([0]);
        hasher.update(source.as_bytes());
        hasher.update([0]);
        match toml::from_str::<FileDef>(&source) {
            Ok(def) => files.push(SourceFile { path, source, def }),
            Err(e) => {
                let line = e.span().map_or(0, |s| line_of(&source, s.start));
                let reason = e.message().trim().to_string();
                errors.push(RulesError {
                    file: path,
                    line,
                    reason,
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(RulesErrors(errors));
    }
    let version = hex::encode(hasher.finalize())[..12].to_string();
    Ok(SourceSet {
        dir: dir.to_path_buf(),
        files,
        version,
    })
}

fn rule_file_paths(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read the rules directory: {e}"))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list the rules directory: {e}"))?
            .path();
        if is_rules_file(&path) {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Whether a path is a rules file: `*.toml`, not hidden (editors' temporary
/// files), not one of the reserved files other parts of the desk own.
fn is_rules_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(is_rules_file_name)
        && path.is_file()
}

/// Whether a file name is a rules file's name (see [`is_rules_file`]).
pub(crate) fn is_rules_file_name(name: &str) -> bool {
    name.ends_with(".toml") && !name.starts_with('.') && !RESERVED_FILES.contains(&name)
}

fn whole_file(path: &Path, reason: String) -> RulesError {
    RulesError {
        file: path.to_path_buf(),
        line: 0,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_counts_from_one() {
        let src = "a\nb\nc";
        assert_eq!(line_of(src, 0), 1);
        assert_eq!(line_of(src, 2), 2);
        assert_eq!(line_of(src, 4), 3);
        assert_eq!(line_of(src, 99), 3);
    }

    #[test]
    fn unknown_field_is_reported_on_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[rule]]\nid = \"a\"\ncategory = \"noise\"\nkeyword = [\"ok\"]\n";
        std::fs::write(dir.path().join("a.toml"), text).unwrap();
        let err = read_dir(dir.path()).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].line, 4, "{err}");
        assert!(err.0[0].reason.contains("keyword"), "{err}");
    }

    #[test]
    fn reserved_and_hidden_files_are_not_rules() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "status_codes.toml",
            "preference_policy.toml",
            ".x.toml",
            "notes.md",
        ] {
            std::fs::write(dir.path().join(name), "not = [valid").unwrap();
        }
        std::fs::write(dir.path().join("a.toml"), "").unwrap();
        let set = read_dir(dir.path()).unwrap();
        assert_eq!(set.files.len(), 1);
    }
}
