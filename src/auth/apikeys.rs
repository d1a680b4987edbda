//! Creating, checking and revoking API keys.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use crate::clock::Millis;
use crate::store::{Db, StoreError, StoreResult};

/// What a key may do. Chosen when the key is made, shown in the key list,
/// and checked on every call (a missing scope is a 403 that names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Stored events (message texts, full numbers) and reports.
    Read,
    /// Eligibility answers and the suppression list, for sending platforms.
    Eligibility,
    /// Recording preference events from other systems (opt-outs, opt-ins).
    Preferences,
    /// Recording conversions.
    Conversions,
    /// Registering messages a sending platform sent.
    Outbound,
    /// Sending messages to customers from the desk.
    Send,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::Read,
        Scope::Eligibility,
        Scope::Preferences,
        Scope::Conversions,
        Scope::Outbound,
        Scope::Send,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Eligibility => "eligibility",
            Scope::Preferences => "preferences",
            Scope::Conversions => "conversions",
            Scope::Outbound => "outbound",
            Scope::Send => "send",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text.trim())
    }

    /// Reads `read,preferences`; the error names what is not a scope.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, String> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = Scope::parse(part).ok_or_else(|| {
                format!(
                    "{part:?} is not a scope; choose from {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                )
            })?;
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        if out.is_empty() {
            return Err(format!(
                "give the key at least one scope: {}",
                Scope::ALL.map(Scope::as_str).join(", ")
            ));
        }
        out.sort();
        Ok(out)
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A machine client, as identified by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub key_id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl ApiClient {
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// A key as listed: never its secret.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub name: String,
    pub id: String,
    pub scopes: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
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

/// Creates a key named `name` with `scopes`; fails with `Conflict` if the
/// name is taken.
pub async fn create(db: &Db, name: &str, scopes: &[Scope], now: Millis) -> StoreResult<NewKey> {
    let mut rng = rand::rng();
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let token = format!("rdk_{id}_{}", hex::encode(secret));
    sqlx::query("INSERT INTO api_keys (id, name, secret_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(name)
        .bind(hash(&token))
        .bind(Scope::join(scopes))
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
        "SELECT name, secret_hash, last_used_at, scopes FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
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
    let scopes: String = row.try_get("scopes")?;
    Ok(Some(ApiClient {
        key_id: id.to_string(),
        name: row.try_get("name")?,
        // A scope this build does not know (written by a newer one) grants nothing.
        scopes: scopes.split(',').filter_map(Scope::parse).collect(),
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

/// Lists keys (never their secrets).
pub async fn list(db: &Db) -> StoreResult<Vec<KeyInfo>> {
    let rows = sqlx::query(
        "SELECT name, id, scopes, created_at, last_used_at, revoked_at FROM api_keys ORDER BY name",
    )
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyInfo {
                name: r.try_get(0)?,
                id: r.try_get(1)?,
                scopes: r.try_get(2)?,
                created_at: r.try_get(3)?,
                last_used_at: r.try_get(4)?,
                revoked_at: r.try_get(5)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}
