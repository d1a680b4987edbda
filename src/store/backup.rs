//! A consistent copy of a running SQLite desk: `VACUUM INTO` reads one
//! snapshot (in WAL mode the writer goes on meanwhile) and writes a compact
//! database file, which is then opened and checked with
//! `PRAGMA integrity_check`. Restoring is putting the file in place of the
//! database while the desk is stopped. PostgreSQL has `pg_dump` for this.

use sqlx::{Connection, Row};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{Backend, Db};

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    /// Events in the copy.
    pub events: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "the desk runs on PostgreSQL: back it up with pg_dump (see the README's Operations section)"
    )]
    Postgres,
    #[error("{0} already exists; choose a new file (a backup never overwrites one)")]
    Exists(PathBuf),
    #[error("the backup could not be written to {path}: {source}")]
    Write { path: PathBuf, source: sqlx::Error },
    #[error(
        "the copy at {path} does not pass SQLite's integrity check: {report}; it is not a usable backup"
    )]
    Damaged { path: PathBuf, report: String },
}

/// Writes a consistent copy of the database to `path`, which must not exist.
pub async fn to_file(db: &Db, path: &Path) -> Result<Written, BackupError> {
    if db.backend() == Backend::Postgres {
        return Err(BackupError::Postgres);
    }
    if path.exists() {
        return Err(BackupError::Exists(path.to_path_buf()));
    }
    let failed = |source| BackupError::Write {
        path: path.to_path_buf(),
        source,
    };
    let quoted = path.display().to_string().replace('\'', "''");
    sqlx::query(&format!("VACUUM INTO '{quoted}'"))
        .execute(db.reader())
        .await
        .map_err(failed)?;
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(failed)?
            .read_only(true);
    let mut copy = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(failed)?;
    let report: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(failed)?;
    if report != "ok" {
        return Err(BackupError::Damaged {
            path: path.to_path_buf(),
            report,
        });
    }
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&mut copy)
        .await
        .map_err(failed)?;
    copy.close().await.map_err(failed)?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or_default();
    Ok(Written {
        path: path.to_path_buf(),
        bytes,
        events,
    })
}
