//! The database: one code path over SQLite (the embedded default) and
//! PostgreSQL (several instances sharing one database).
//!
//! Queries are portable SQL with `$N` placeholders run through sqlx's `Any`
//! driver; the few places where the SQL truly differs ask [`Db::backend`].
//! On SQLite, writes go through a one-connection pool so the file has exactly
//! one writer and readers never wait on it (WAL); on PostgreSQL both pools are
//! the same. This module owns connecting, migrations and storage errors; the
//! domain modules own their queries.

pub mod backup;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

use crate::config::SqliteSync;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A storage failure, mapped once where the store meets sqlx.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot create the database directory {dir}: {source}")]
    CreateDir { dir: String, source: std::io::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("not found")]
    NotFound,
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Query(sqlx::Error),
    /// A file kept beside the database (media in a directory).
    #[error("{0}")]
    File(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_string())
            }
            _ => StoreError::Query(error),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The connection pools and which database they talk to.
#[derive(Debug, Clone)]
pub struct Db {
    write: AnyPool,
    read: AnyPool,
    backend: Backend,
}

impl Db {
    /// Opens the database named by `url`, creating a SQLite file (and its
    /// directory) when missing.
    pub async fn connect(url: &str, sync: SqliteSync) -> StoreResult<Db> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            Db::connect_sqlite(url, sync).await
        } else {
            Db::connect_postgres(url).await
        }
    }

    async fn connect_sqlite(url: &str, sync: SqliteSync) -> StoreResult<Db> {
        let path = sqlite_path(url);
        if let Some(dir) = std::path::Path::new(&path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                dir: dir.display().to_string(),
                source,
            })?;
        }
        let full_url = if url.contains('?') {
            url.to_string()
        } else {
            format!("{url}?mode=rwc")
        };
        let options =
            AnyConnectOptions::from_str(&full_url).map_err(|source| StoreError::Connect {
                url: redact(url),
                source,
            })?;
        let synchronous = match sync {
            SqliteSync::Full => "FULL",
            SqliteSync::Normal => "NORMAL",
        };
        // No automatic checkpoints: they would run inside the writer's
        // commits, and copying the WAL back (with its fsync) stalled every
        // webhook waiting behind them. `checkpoints` does it beside the writer.
        // A 16 MiB page cache, not more: when a commit has rebalanced a
        // B-tree, SQLite walks the whole cache's hash table at its end, and
        // with 64 MiB that walk was a tenth of the ingest writer's time.
        let pragmas = format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
             PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;"
        );
        let pool = |max: u32| {
            let pragmas = pragmas.clone();
            AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .test_before_acquire(false)
                .after_connect(move |conn, _| {
                    let pragmas = pragmas.clone();
                    Box::pin(async move {
                        conn.execute(pragmas.as_str()).await?;
                        Ok(())
                    })
                })
        };
        let connect_err = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        let write = pool(1)
            .connect_with(options.clone())
            .await
            .map_err(connect_err)?;
        let read = pool(8).connect_with(options).await.map_err(connect_err)?;
        tokio::spawn(checkpoints(read.clone()));
        Ok(Db {
            write,
            read,
            backend: Backend::Sqlite,
        })
    }

    async fn connect_postgres(url: &str) -> StoreResult<Db> {
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact(url),
                source,
            })?;
        Ok(Db {
            write: pool.clone(),
            read: pool,
            backend: Backend::Postgres,
        })
    }

    /// Applies the migrations this build carries, then says once what
    /// their repairs did (see `maintenance_log`).
    pub async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.write).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.write).await?,
        }
        self.report_maintenance().await
    }

    /// Logs each repair not reported yet, and marks it reported.
    pub async fn report_maintenance(&self) -> StoreResult<()> {
        let rows = sqlx::query(
            "SELECT id, count, note FROM maintenance_log WHERE reported = 0 ORDER BY at, id",
        )
        .fetch_all(&self.write)
        .await?;
        for r in rows {
            use sqlx::Row;
            let (id, count, note): (String, i64, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if count > 0 {
                tracing::warn!(repair = %id, count, "{note}: {count}");
            } else {
                tracing::info!(repair = %id, "{note}: none");
            }
            sqlx::query("UPDATE maintenance_log SET reported = 1 WHERE id = $1")
                .bind(&id)
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool for statements that write. On SQLite it has one connection.
    pub fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// The pool for reads.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// Answers whether the database takes queries (for `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// Copies the SQLite WAL back into the database ten times a second, on a
/// reader connection, so the writer never does it inside a commit. A passive
/// checkpoint never blocks the writer or readers, but its fsyncs stall the
/// writer's appends to the WAL for as long as they take: measured at 2,000
/// webhooks/s, one checkpoint a second put p99 at 14 ms, ten a second at
/// 8 ms (5 ms with none at all).
///
/// The writer starts the WAL over only when every frame has been copied
/// back, and under sustained heavy load it appends more while each
/// checkpoint runs, so the WAL grows until the load eases (80 MB a second at
/// 4,000 webhooks/s). Making the writer wait for a checkpoint bounded it but
/// paused ingest for 100 to 250 ms each time, so the desk does not; once the
/// WAL starts over, `journal_size_limit` gives the space back. Ends when the
/// pool closes.
async fn checkpoints(pool: AnyPool) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let started = std::time::Instant::now();
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            Ok(_) => metrics::histogram!("replydesk_sqlite_checkpoint_seconds")
                .record(started.elapsed().as_secs_f64()),
            Err(_) if pool.is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, "SQLite checkpoint failed; the write-ahead log grows until the next one succeeds");
            }
        }
    }
}

fn sqlite_path(url: &str) -> String {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    rest.split('?').next().unwrap_or_default().to_string()
}

/// Hides a password in a database URL before it reaches a log or an error.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Which database a connection (or a transaction on one) talks to.
pub(crate) fn backend_of(conn: &sqlx::AnyConnection) -> Backend {
    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    }
}

/// The conflict clause for a multi-row `INSERT` or `UPDATE` inside a
/// transaction that is rolled back whole on any error. On SQLite a plain
/// multi-row write keeps a statement journal (a copy of every page it
/// touches, so a failed statement can undo itself), and that copying was a
/// tenth of the ingest writer's time; `OR FAIL` leaves the undoing to the
/// transaction's rollback. PostgreSQL has no such clause and no such cost.
pub(crate) fn or_fail(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => " OR FAIL",
        Backend::Postgres => "",
    }
}

/// `(…),(…)` placeholders for a multi-row statement. SQLite gets anonymous
/// `?`: with numbered parameters it spends most of a large insert looking
/// up parameter names (seen in a profile of the ingest path). PostgreSQL
/// needs `$N`.
pub(crate) fn values_rows(backend: Backend, rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push(',');
            }
            match backend {
                Backend::Sqlite => out.push('?'),
                Backend::Postgres => {
                    out.push('$');
                    out.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        out.push(')');
    }
    out
}

/// Splits `items` into chunks of 256, 128, …, 2 and 1 rows, so a multi-row
/// statement comes in a few shapes that the prepared-statement cache keeps,
/// and a batch of up to 511 rows costs at most nine statements.
pub(crate) fn fixed_chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = [256, 128, 64, 32, 16, 8, 4, 2, 1]
            .into_iter()
            .find(|s| items.len() >= *s)?;
        let (head, rest) = items.split_at(size);
        items = rest;
        Some(head)
    })
}

/// `$start,$start+1,…` for an `IN (…)` list.
pub(crate) fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    fn values_rows_numbers_every_parameter() {
        assert_eq!(values_rows(Backend::Postgres, 2, 2), "($1,$2),($3,$4)");
        assert_eq!(values_rows(Backend::Sqlite, 2, 2), "(?,?),(?,?)");
        assert_eq!(placeholders(3, 2), "$3,$4");
    }

    #[test]
    fn fixed_chunks_cover_everything_in_few_shapes() {
        let items: Vec<u32> = (0..300).collect();
        let sizes: Vec<usize> = fixed_chunks(&items).map(<[u32]>::len).collect();
        assert_eq!(sizes, [256, 32, 8, 4]);
        assert_eq!(fixed_chunks(&items).flatten().count(), 300);
    }
}
