//! What a provider's delivery error code means for the contact: read from
//! `rules/status_codes.toml`, so the mapping is configuration that operators
//! can read and change, with the reason for each default written beside it.

use serde::Deserialize;

use crate::classify::line_of;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::model::Provider;

/// The effect of a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusEffect {
    /// The number cannot be reached on WhatsApp: suppress WhatsApp until a sign of life.
    Unreachable,
    /// The customer blocked the business: suppress WhatsApp until a sign of life.
    Blocked,
    /// The customer stopped marketing messages (Meta 131050).
    MarketingOptOut,
    /// The customer stopped every message from this sender (Twilio 21610).
    OptOut,
    /// Rate limits, temporary failures: never suppress.
    Transient,
    /// The message itself was at fault (template, parameters): no suppression.
    Content,
    /// Outside the customer service window: no suppression.
    Window,
    /// The business side is at fault (account locked, payment): alert the channel's owner.
    Account,
}

impl StatusEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusEffect::Unreachable => "unreachable",
            StatusEffect::Blocked => "blocked",
            StatusEffect::MarketingOptOut => "marketing_opt_out",
            StatusEffect::OptOut => "opt_out",
            StatusEffect::Transient => "transient",
            StatusEffect::Content => "content",
            StatusEffect::Window => "window",
            StatusEffect::Account => "account",
        }
    }

    /// Whether a failed message with this effect should go out another way,
    /// unless the file says otherwise. Refusals are never routed around.
    fn default_fallback(self) -> bool {
        matches!(
            self,
            StatusEffect::Unreachable
                | StatusEffect::Blocked
                | StatusEffect::Window
                | StatusEffect::Content
        )
    }
}

/// What one code means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeMeaning {
    pub effect: StatusEffect,
    pub fallback: bool,
    /// False when the code is not in the file (treated as transient).
    pub known: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct StatusCodesError {
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    code: Vec<toml::Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    provider: Provider,
    code: String,
    effect: StatusEffect,
    fallback: Option<bool>,
    #[allow(dead_code)] // read by people, not code
    why: String,
}

/// The loaded table.
#[derive(Debug, Default)]
pub struct StatusCodes {
    exact: HashMap<(Provider, u64), CodeMeaning>,
    ranges: Vec<(Provider, u64, u64, CodeMeaning)>,
    /// Unknown codes already logged, so each is logged once.
    reported: Mutex<HashSet<(Provider, String)>>,
}

impl StatusCodes {
    /// Loads `status_codes.toml` from the rules directory; a missing file
    /// means no codes are known (every failure is transient).
    pub fn load_dir(dir: &Path) -> Result<StatusCodes, StatusCodesError> {
        let path = dir.join("status_codes.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => StatusCodes::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StatusCodes::default()),
            Err(e) => Err(StatusCodesError {
                file: path,
                line: 0,
                reason: format!("cannot read: {e}"),
            }),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<StatusCodes, StatusCodesError> {
        let err = |line: usize, reason: String| StatusCodesError {
            file: path.to_path_buf(),
            line,
            reason,
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            err(line, e.message().to_string())
        })?;
        let mut codes = StatusCodes::default();
        for spanned in file.code {
            let line = line_of(text, spanned.span().start);
            let entry = spanned.into_inner();
            let meaning = CodeMeaning {
                effect: entry.effect,
                fallback: entry
                    .fallback
                    .unwrap_or_else(|| entry.effect.default_fallback()),
                known: true,
            };
            let parse = |s: &str| {
                s.trim().parse::<u64>().map_err(|_| {
                    err(
                        line,
                        format!(
                            "code {:?} is not a number or a range such as 132000-132999",
                            entry.code
                        ),
                    )
                })
            };
            match entry.code.split_once('-') {
                Some((lo, hi)) => {
                    let (lo, hi) = (parse(lo)?, parse(hi)?);
                    if lo > hi {
                        return Err(err(line, format!("range {} runs backwards", entry.code)));
                    }
                    codes.ranges.push((entry.provider, lo, hi, meaning));
                }
                None => {
                    let code = parse(&entry.code)?;
                    if codes
                        .exact
                        .insert((entry.provider, code), meaning)
                        .is_some()
                    {
                        return Err(err(
                            line,
                            format!("{} code {code} is listed twice", entry.provider),
                        ));
                    }
                }
            }
        }
        Ok(codes)
    }

    /// What `code` means for `provider`. Exact codes win over ranges; an
    /// unknown code is transient and logged once.
    pub fn lookup(&self, provider: Provider, code: &str) -> CodeMeaning {
        let found = code.trim().parse::<u64>().ok().and_then(|n| {
            self.exact.get(&(provider, n)).cloned().or_else(|| {
                self.ranges
                    .iter()
                    .find(|(p, lo, hi, _)| *p == provider && (*lo..=*hi).contains(&n))
                    .map(|r| r.3.clone())
            })
        });
        found.unwrap_or_else(|| {
            if let Ok(mut seen) = self.reported.lock()
                && seen.insert((provider, code.to_string()))
            {
                tracing::warn!(provider = provider.as_str(), code,
                    "unknown delivery error code: treated as transient (no suppression); add it to rules/status_codes.toml to change that");
            }
            CodeMeaning { effect: StatusEffect::Transient, fallback: false, known: false }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_loads_and_covers_the_documented_codes() {
        let codes =
            StatusCodes::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
        let cases = [
            (Provider::Meta, "131026", StatusEffect::Unreachable),
            (Provider::Meta, "131050", StatusEffect::MarketingOptOut),
            (Provider::Meta, "131047", StatusEffect::Window),
            (Provider::Meta, "131049", StatusEffect::Transient),
            (Provider::Meta, "131000", StatusEffect::Transient),
            (Provider::Meta, "130429", StatusEffect::Transient),
            (Provider::Meta, "131048", StatusEffect::Account),
            (Provider::Meta, "131056", StatusEffect::Transient),
            (Provider::Meta, "131031", StatusEffect::Account),
            (Provider::Meta, "132001", StatusEffect::Content),
            (Provider::Meta, "132015", StatusEffect::Content),
            (Provider::Twilio, "63014", StatusEffect::Blocked),
            (Provider::Twilio, "63016", StatusEffect::Window),
            (Provider::Twilio, "63024", StatusEffect::Unreachable),
            (Provider::Twilio, "63032", StatusEffect::Transient),
            (Provider::Twilio, "21610", StatusEffect::OptOut),
        ];
        for (provider, code, effect) in cases {
            let m = codes.lookup(provider, code);
            assert_eq!(m.effect, effect, "{provider} {code}");
            assert!(m.known, "{provider} {code} should be in the file");
        }
    }

    #[test]
    fn an_unknown_code_is_transient() {
        let codes = StatusCodes::default();
        let m = codes.lookup(Provider::Meta, "999999");
        assert_eq!(
            (m.effect, m.known, m.fallback),
            (StatusEffect::Transient, false, false)
        );
    }

    #[test]
    fn a_bad_entry_names_its_line() {
        let text = "[[code]]\nprovider = \"meta\"\ncode = \"1\"\neffect = \"unreachable\"\nwhy = \"x\"\n\n[[code]]\nprovider = \"meta\"\ncode = \"2\"\neffect = \"gone\"\nwhy = \"x\"\n";
        let e = StatusCodes::parse(text, Path::new("status_codes.toml")).unwrap_err();
        assert_eq!(e.line, 10, "{e}");
        assert!(e.to_string().contains("gone"), "{e}");
    }

    #[test]
    fn exact_codes_win_over_ranges() {
        let text = "[[code]]\nprovider = \"meta\"\ncode = \"132000-132999\"\neffect = \"content\"\nwhy = \"x\"\n[[code]]\nprovider = \"meta\"\ncode = \"132015\"\neffect = \"account\"\nwhy = \"y\"\n";
        let c = StatusCodes::parse(text, Path::new("s")).unwrap();
        assert_eq!(
            c.lookup(Provider::Meta, "132015").effect,
            StatusEffect::Account
        );
        assert_eq!(
            c.lookup(Provider::Meta, "132016").effect,
            StatusEffect::Content
        );
    }
}
