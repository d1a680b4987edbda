//! Administration: what administrators change and inspect, without HTTP.
//!
//! Owns the rules files' version history (check, dry run, activation,
//! restore), turning agents' corrections into rules examples, people's
//! accounts as administrators manage them, the append-only audit log, and
//! re-processing dead letters and outbox deliveries. It does not own the
//! rules format or the classifier (`classify`), sign-in (`auth`) or the
//! configuration file (`config`): settings that live in files are only shown
//! here, never written to the database.

pub mod audit;
pub mod cli;
pub mod corrections;
pub mod deliveries;
pub mod dry_run;
pub mod jobs;
pub mod rules;
pub mod settings;
pub mod users;

use serde::Deserialize;

use crate::store::StoreError;

/// `[admin]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// How many days of stored replies a dry run replays by default.
    #[serde(default = "default_days")]
    pub dry_run_days: u32,
    /// The most replies one dry run replays (the most recent ones).
    #[serde(default = "default_cap")]
    pub dry_run_cap: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            dry_run_days: default_days(),
            dry_run_cap: default_cap(),
        }
    }
}

fn default_days() -> u32 {
    7
}
fn default_cap() -> usize {
    200_000
}

/// The longest period a dry run may replay.
pub const MAX_DRY_RUN_DAYS: u32 = 366;

impl AdminConfig {
    /// Checks the values; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=MAX_DRY_RUN_DAYS).contains(&self.dry_run_days) {
            return Err((
                "admin.dry_run_days",
                format!("expected a number of days from 1 to {MAX_DRY_RUN_DAYS}"),
            ));
        }
        if !(1..=10_000_000).contains(&self.dry_run_cap) {
            return Err((
                "admin.dry_run_cap",
                "expected a number of replies from 1 to 10000000".into(),
            ));
        }
        Ok(())
    }
}

/// Administration's share of the running desk: the lock that makes
/// activations one at a time, and this instance's name for the jobs it runs.
#[derive(Debug)]
pub struct AdminState {
    /// Held while a rules file is checked against the disk, written and
    /// activated, so two admins' activations never interleave.
    pub activation: tokio::sync::Mutex<()>,
    pub instance: String,
}

impl Default for AdminState {
    fn default() -> Self {
        AdminState {
            activation: tokio::sync::Mutex::new(()),
            instance: format!("desk-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

/// A problem in a rules file, as the editor shows it: the file's name (not
/// its path), the line, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// Why an administrative change was not made.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the rules have {} problem(s)", .0.len())]
    Rules(Vec<Problem>),
    /// The file changed on disk after the editor loaded it.
    #[error("{file} was changed on disk since you opened it")]
    ChangedOnDisk {
        file: String,
        disk_sha: String,
        diff: Vec<rules::DiffLine>,
    },
    #[error("cannot write the rules file: {0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        AdminError::Store(e.into())
    }
}

pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field,
        message: message.into(),
    }
}
