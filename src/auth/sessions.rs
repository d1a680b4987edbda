//! Sessions in the database (so every instance sees them), one-time links,
//! and login throttling counted in the database (a lockout holds across
//! instances).

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::clock::Millis;
use crate::store::{Db, StoreResult};

/// A session lasts 12 idle hours, and never more than 7 days.
pub const IDLE_MS: Millis = 12 * 3_600_000;
pub const ABSOLUTE_MS: Millis = 7 * 24 * 3_600_000;
/// Failed sign-ins allowed per email (and, ten times over, per address) in the window.
pub const MAX_FAILURES: i64 = 5;
pub const FAILURE_WINDOW_MS: Millis = 15 * 60_000;

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A live session: who, and the CSRF token bound to it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub csrf: String,
}

/// Starts a session; returns the cookie value (only its hash is stored).
pub async fn create(db: &Db, user_id: &str, now: Millis) -> StoreResult<String> {
    let token = random_token();
    sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(hash(&token))
        .bind(user_id)
        .bind(random_token())
        .bind(now)
        .bind(now)
        .bind(now + ABSOLUTE_MS)
        .execute(db.writer())
        .await?;
    Ok(token)
}

/// Finds a live session by cookie value and notes the activity.
pub async fn lookup(db: &Db, token: &str, now: Millis) -> StoreResult<Option<Session>> {
    let row = sqlx::query("SELECT user_id, csrf, last_seen_at FROM sessions WHERE id_hash = $1 AND expires_at > $2 AND last_seen_at > $3")
        .bind(hash(token))
        .bind(now)
        .bind(now - IDLE_MS)
        .fetch_optional(db.reader())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let last_seen: Millis = row.try_get(2)?;
    // Touch at most once a minute: a page view should not always be a write.
    if now - last_seen > 60_000 {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(hash(token))
            .execute(db.writer())
            .await?;
    }
    Ok(Some(Session {
        user_id: row.try_get(0)?,
        csrf: row.try_get(1)?,
    }))
}

pub async fn delete(db: &Db, token: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(hash(token))
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Ends every session of a user (password reset, disabling).
pub async fn delete_for_user(db: &Db, user_id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// A sign-in attempt, counted before its password is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Within the limits: judge the password, then call [`succeeded`] or
    /// leave the attempt standing as a failure.
    Go { id: String },
    /// Too many failures for this account or address; the wait in minutes.
    Locked { minutes: i64 },
}

/// Counts a sign-in attempt before any password is hashed, so that a burst
/// of parallel guesses is judged against the limit one by one: the attempt
/// is written and the count read in one transaction, serialized per account
/// and address (SQLite's one writer; PostgreSQL advisory locks, so several
/// desks on one database agree). A refused attempt is not kept, so it does
/// not lengthen the lockout.
pub async fn begin_attempt(db: &Db, email: &str, ip: &str, now: Millis) -> StoreResult<Attempt> {
    let since = now - FAILURE_WINDOW_MS;
    sqlx::query("DELETE FROM login_failures WHERE at <= $1")
        .bind(since)
        .execute(db.writer())
        .await?;
    let mut tx = db.writer().begin().await?;
    if db.backend() == crate::store::Backend::Postgres {
        // In a fixed order, so two attempts never wait on each other's locks.
        let mut keys = [format!("login:email:{email}"), format!("login:ip:{ip}")];
        keys.sort();
        for key in &keys {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
    }
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query("INSERT INTO login_failures (id, email, ip, at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(email)
        .bind(ip)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let mut counts = [0i64; 2];
    for (i, (column, value)) in [("email", email), ("ip", ip)].into_iter().enumerate() {
        let sql = format!("SELECT COUNT(*) FROM login_failures WHERE {column} = $1 AND at > $2");
        counts[i] = sqlx::query_scalar(&sql)
            .bind(value)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
    }
    if counts[0] <= MAX_FAILURES && counts[1] <= MAX_FAILURES * 10 {
        tx.commit().await?;
        return Ok(Attempt::Go { id });
    }
    tx.rollback().await?;
    let oldest: Option<Millis> = sqlx::query_scalar(
        "SELECT MIN(at) FROM login_failures WHERE (email = $1 OR ip = $2) AND at > $3",
    )
    .bind(email)
    .bind(ip)
    .bind(since)
    .fetch_one(db.reader())
    .await?;
    let wait = oldest.map_or(FAILURE_WINDOW_MS, |o| o + FAILURE_WINDOW_MS - now);
    Ok(Attempt::Locked {
        minutes: (wait + 59_999) / 60_000,
    })
}

/// Takes back an attempt that was never judged (no hashing slot was free).
pub async fn withdraw(db: &Db, attempt: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM login_failures WHERE id = $1")
        .bind(attempt)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// A sign-in succeeded: the account's failures are forgotten.
pub async fn succeeded(db: &Db, email: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1")
        .bind(email)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Creates a one-time link token for `purpose` (e.g. `first_admin`, `invite`).
pub async fn create_link(
    db: &Db,
    purpose: &str,
    email: Option<&str>,
    valid_ms: Millis,
    now: Millis,
) -> StoreResult<String> {
    let token = random_token();
    sqlx::query("INSERT INTO one_time_links (token_hash, purpose, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(hash(&token))
        .bind(purpose)
        .bind(email)
        .bind(now)
        .bind(now + valid_ms)
        .execute(db.writer())
        .await?;
    Ok(token)
}

/// A link that is valid now: its purpose and email.
pub async fn peek_link(
    db: &Db,
    token: &str,
    now: Millis,
) -> StoreResult<Option<(String, Option<String>)>> {
    let row = sqlx::query("SELECT purpose, email FROM one_time_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2")
        .bind(hash(token))
        .bind(now)
        .fetch_optional(db.reader())
        .await?;
    Ok(match row {
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
        None => None,
    })
}

/// Uses a link once; false if it was already used or has expired.
pub async fn use_link(db: &Db, token: &str, now: Millis) -> StoreResult<bool> {
    let done = sqlx::query("UPDATE one_time_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1")
        .bind(now)
        .bind(hash(token))
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Retires unused links of a purpose (a new first-admin link replaces the old one).
pub async fn retire_links(db: &Db, purpose: &str, now: Millis) -> StoreResult<()> {
    sqlx::query("UPDATE one_time_links SET used_at = $1 WHERE purpose = $2 AND used_at IS NULL")
        .bind(now)
        .bind(purpose)
        .execute(db.writer())
        .await?;
    Ok(())
}
