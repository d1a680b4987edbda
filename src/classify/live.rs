//! The rules set the desk is running on, and replacing it while it runs.
//!
//! A new set becomes active only when every file compiles and every example
//! passes; otherwise the last good set stays active and the problems are kept
//! for the admin pages and logged for the operator. Readers never wait:
//! `current()` is a lock-free load from an `ArcSwap`.

use super::rules::is_rules_file_name;
use super::{RuleSet, RulesError, RulesErrors};
use arc_swap::ArcSwap;
use notify_debouncer_full::notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

/// Editors write a file in several steps (temporary file, rename, chmod);
/// one reload after the burst settles is enough.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// The active rules set of a running desk.
#[derive(Debug)]
pub struct LiveRules {
    dir: PathBuf,
    current: ArcSwap<RuleSet>,
    /// Also serializes reloads, so two reloads never race to activate.
    status: Mutex<Status>,
}

#[derive(Debug)]
struct Status {
    loaded_at: SystemTime,
    last_error: Option<(SystemTime, RulesErrors)>,
    /// The directory's rules files as last read, so that events which change
    /// nothing (an editor opening a file, a save of the same bytes) do not reload.
    seen: Option<[u8; 32]>,
    reloads: u64,
}

impl LiveRules {
    /// Loads the rules directory at start-up; fails with every problem found.
    pub fn load(dir: impl AsRef<Path>) -> Result<LiveRules, RulesErrors> {
        let dir = dir.as_ref().to_path_buf();
        let seen = fingerprint(&dir);
        let set = RuleSet::load_dir(&dir)?;
        record_active(None, &set);
        tracing::info!(dir = %dir.display(), version = set.version(), "rules loaded");
        Ok(LiveRules {
            dir,
            current: ArcSwap::from_pointee(set),
            status: Mutex::new(Status {
                loaded_at: wall_clock_now(),
                last_error: None,
                seen,
                reloads: 0,
            }),
        })
    }

    /// The rules set to classify with.
    pub fn current(&self) -> Arc<RuleSet> {
        self.current.load_full()
    }

    /// Whether a file name in the rules directory is a rules file (the
    /// administrators' editor lists and writes only these).
    pub fn is_rules_file(name: &str) -> bool {
        is_rules_file_name(name)
    }

    /// The directory the rules are read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The version of the active set.
    pub fn version(&self) -> String {
        self.current.load().version().to_string()
    }

    /// When the active set was activated.
    pub fn loaded_at(&self) -> SystemTime {
        self.status().loaded_at
    }

    /// The problems of the last reload, if it failed (cleared by a good one).
    pub fn last_error(&self) -> Option<RulesErrors> {
        self.status().last_error.as_ref().map(|(_, e)| e.clone())
    }

    /// How many reloads ran since start-up (good or rejected).
    pub fn reload_count(&self) -> u64 {
        self.status().reloads
    }

    /// When the last failed reload happened, if the last reload failed.
    pub fn last_error_at(&self) -> Option<SystemTime> {
        self.status().last_error.as_ref().map(|(at, _)| *at)
    }

    /// Reads the directory again and activates it if it compiles and its
    /// examples pass; otherwise keeps the active set and remembers why.
    pub fn reload(&self) -> Result<(), RulesErrors> {
        let mut status = self.status();
        status.reloads += 1;
        status.seen = fingerprint(&self.dir);
        let previous = self.current.load_full();
        match RuleSet::load_dir(&self.dir) {
            Ok(set) => {
                metrics::counter!("replydesk_rules_reload_total", "result" => "ok").increment(1);
                record_active(Some(&previous), &set);
                let (files, rules, examples) = set.counts();
                tracing::info!(
                    dir = %self.dir.display(), version = set.version(), previous = previous.version(),
                    files, rules, examples, "rules reloaded and active"
                );
                self.current.store(Arc::new(set));
                status.loaded_at = wall_clock_now();
                status.last_error = None;
                Ok(())
            }
            Err(errors) => {
                metrics::counter!("replydesk_rules_reload_total", "result" => "error").increment(1);
                metrics::gauge!("replydesk_rules_reload_failing").set(1.0);
                tracing::error!(
                    dir = %self.dir.display(), problems = errors.0.len(), active_version = previous.version(),
                    "rules reload rejected; the last good rules set stays active"
                );
                for e in &errors.0 {
                    tracing::error!(file = %e.file.display(), line = e.line, reason = %e.reason, "rules problem");
                }
                status.last_error = Some((wall_clock_now(), errors.clone()));
                Err(errors)
            }
        }
    }

    /// Watches the rules directory and reloads after each change. The
    /// directory, not the files, is watched: editors save by writing a new
    /// file and renaming it over the old one. Watching stops when the
    /// handle is dropped.
    pub fn watch(self: &Arc<Self>) -> Result<WatchHandle, RulesError> {
        let live: Weak<LiveRules> = Arc::downgrade(self);
        let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
            if let Some(live) = live.upgrade() {
                live.on_events(result);
            }
        })
        .map_err(|e| self.watch_error(&e))?;
        debouncer
            .watch(&self.dir, RecursiveMode::NonRecursive)
            .map_err(|e| self.watch_error(&e))?;
        tracing::info!(dir = %self.dir.display(), "watching rules directory for changes");
        Ok(WatchHandle {
            _debouncer: debouncer,
        })
    }

    fn on_events(&self, result: DebounceEventResult) {
        match result {
            Ok(events) => {
                // Reading a file (the editor, this desk itself) is reported as
                // an access event; only writes, renames and removals count.
                let touches_rules = events
                    .iter()
                    .filter(|e| {
                        matches!(
                            e.kind,
                            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                        )
                    })
                    .flat_map(|e| e.paths.iter())
                    .any(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(is_rules_file_name)
                    });
                let changed = touches_rules && fingerprint(&self.dir) != self.status().seen;
                if changed {
                    // Failures are logged and kept by reload itself.
                    let _ = self.reload();
                }
            }
            Err(errors) => {
                for e in errors {
                    tracing::warn!(dir = %self.dir.display(), error = %e, "rules directory watch error");
                }
            }
        }
    }

    fn watch_error(&self, e: &dyn std::fmt::Display) -> RulesError {
        RulesError {
            file: self.dir.clone(),
            line: 0,
            reason: format!("cannot watch the rules directory: {e}"),
        }
    }

    fn status(&self) -> MutexGuard<'_, Status> {
        // A panic elsewhere while holding the lock leaves Status consistent.
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A digest of the directory's rules files, names and contents; `None`
/// when the directory cannot be read.
fn fingerprint(dir: &Path) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_rules_file_name)
        })
        .collect();
    files.sort();
    let mut hash = Sha256::new();
    for f in files {
        hash.update(f.file_name()?.as_encoded_bytes());
        hash.update([0]);
        hash.update(std::fs::read(&f).unwrap_or_default());
        hash.update([0]);
    }
    Some(hash.finalize().into())
}

/// Keeps the directory watched while alive.
pub struct WatchHandle {
    _debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
}

impl std::fmt::Debug for WatchHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchHandle")
    }
}

fn record_active(previous: Option<&RuleSet>, set: &RuleSet) {
    if let Some(previous) = previous {
        metrics::gauge!("replydesk_rules_active_info", "version" => previous.version().to_string())
            .set(0.0);
    }
    metrics::gauge!("replydesk_rules_active_info", "version" => set.version().to_string()).set(1.0);
    let (_, rules, examples) = set.counts();
    metrics::gauge!("replydesk_rules_active_rules").set(rules as f64);
    metrics::gauge!("replydesk_rules_active_examples").set(examples as f64);
    metrics::gauge!("replydesk_rules_reload_failing").set(0.0);
}

/// The wall clock, for the informational "loaded at" shown to
/// administrators; no decision depends on it, so it need not come from the
/// desk's controllable clock.
#[allow(clippy::disallowed_methods)]
fn wall_clock_now() -> SystemTime {
    SystemTime::now()
}
