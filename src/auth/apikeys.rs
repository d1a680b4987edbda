//! Creating, checking and revoking API keys.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use crate::clock::Millis;
use crate::store::{Db, StoreError, StoreResult};

/// A machine client, as identified by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub key_id: String,
    pub name: String,
}

/// A key as created: the full token is shown once and never stored.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    pub token: String,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a key named `name`; fails with `Conflict` if the name is taken.
pub async fn create(db: &Db, name: &str, now: Millis) -> StoreResult<NewKey> {
    let mut rng = rand::rng();
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let token = format!("rdk_{id}_{}", hex::encode(secret));
    sqlx::query("INSERT INTO api_keys (id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(name)
        .bind(hash(&token))
        .bind(now)
        .execute(db.writer())
        .await?;
    Ok(NewKey { id, token })
}

/// Checks a bearer token; `None` when it is unknown, malformed or revoked.
pub async fn verify(db: &Db, token: &str, now: Millis) -> StoreResult<Option<ApiClient>> {
    let Some(id) = token
        .strip_prefix("rdk_")
        .and_then(|rest| rest.split('_').next())
    else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT name, secret_hash, last_used_at FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored: String = row.try_get("secret_hash")?;
    if !bool::from(stored.as_bytes().ct_eq(hash(token).as_bytes())) {
        return Ok(None);
    }
    let last_used: Option<i64> = row.try_get("last_used_at")?;
    // Recording every use would put a write on every API call; a minute's
    // precision is enough to see which keys are alive.
    if last_used.is_none_or(|t| now - t > 60_000) {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(db.writer())
            .await?;
    }
    Ok(Some(ApiClient {
        key_id: id.to_string(),
        name: row.try_get("name")?,
    }))
}

/// Revokes the key named `name`.
pub async fn revoke(db: &Db, name: &str, now: Millis) -> StoreResult<()> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(name)
            .execute(db.writer())
            .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Lists keys (never their secrets): name, id, created, last used, revoked.
pub async fn list(
    db: &Db,
) -> StoreResult<Vec<(String, String, Millis, Option<Millis>, Option<Millis>)>> {
    let rows = sqlx::query(
        "SELECT name, id, created_at, last_used_at, revoked_at FROM api_keys ORDER BY name",
    )
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
                r.try_get(4)?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}
