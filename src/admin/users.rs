//! People's accounts as administrators manage them: invite with a one-time
//! link, change role and team memberships, disable (ending their sessions),
//! enable, and reset a password with a new link. Every change writes its
//! audit row in the same transaction.
//!
//! Accounts, roles and memberships live in the database; the configuration's
//! `[[team]]` members and leads are shown beside them but are edited in the
//! file.

use serde_json::json;
use sqlx::{Any, Row, Transaction};

use super::{AdminError, audit, invalid};
use crate::auth::sessions;
use crate::auth::users::{self, Role};
use crate::clock::Millis;
use crate::config::Config;
use crate::store::Db;

/// How long an invitation link works.
pub const INVITE_VALID_MS: Millis = 7 * 86_400_000;
/// How long a password-reset link works.
pub const RESET_VALID_MS: Millis = 24 * 3_600_000;

/// One account as the users page shows it.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    /// Memberships in the database.
    pub teams: Vec<String>,
    /// Teams that name this person in the configuration file.
    pub config_teams: Vec<String>,
    pub disabled: bool,
    /// Invited, no password chosen yet.
    pub pending: bool,
    pub created_at: Millis,
}

pub async fn list(db: &Db, config: &Config) -> Result<Vec<Account>, AdminError> {
    let rows = sqlx::query(
        "SELECT id, email, name, role, disabled_at, password_hash IS NULL, created_at FROM users ORDER BY email",
    )
    .fetch_all(db.reader())
    .await?;
    let memberships = sqlx::query("SELECT user_id, team FROM user_teams ORDER BY team")
        .fetch_all(db.reader())
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get(0)?;
        let email: String = r.try_get(1)?;
        let role: String = r.try_get(3)?;
        let disabled: Option<Millis> = r.try_get(4)?;
        let pending: bool = r
            .try_get::<bool, _>(5)
            .or_else(|_| r.try_get::<i64, _>(5).map(|n| n != 0))?;
        let teams = memberships
            .iter()
            .filter(|m| m.try_get::<String, _>(0).is_ok_and(|u| u == id))
            .map(|m| m.try_get(1))
            .collect::<Result<Vec<String>, _>>()?;
        let config_teams = config
            .teams
            .iter()
            .filter(|t| {
                t.members
                    .iter()
                    .chain(&t.leads)
                    .any(|m| m.eq_ignore_ascii_case(&email))
            })
            .map(|t| t.name.clone())
            .collect();
        out.push(Account {
            role: Role::parse(&role).unwrap_or(Role::Agent),
            name: r.try_get(2)?,
            created_at: r.try_get(6)?,
            disabled: disabled.is_some(),
            pending,
            teams,
            config_teams,
            email,
            id,
        });
    }
    Ok(out)
}

async fn account(db: &Db, config: &Config, id: &str) -> Result<Account, AdminError> {
    list(db, config)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or(AdminError::NotFound("account"))
}

fn check_teams(config: &Config, teams: &[String]) -> Result<Vec<String>, AdminError> {
    let mut out: Vec<String> = Vec::new();
    for t in teams.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if config.team(t).is_none() {
            return Err(invalid(
                "teams",
                format!("{t:?} is not a team; teams are the [[team]] entries of replydesk.toml"),
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// Creates an account without a password and returns the one-time link
/// token with which the person chooses one.
pub async fn invite(
    db: &Db,
    config: &Config,
    actor: &str,
    email: &str,
    role: Role,
    teams: &[String],
    now: Millis,
) -> Result<String, AdminError> {
    let email = users::normalize_email(email).map_err(|e| invalid("email", e.to_string()))?;
    let teams = check_teams(config, teams)?;
    let id = uuid::Uuid::now_v7().to_string();
    let mut tx = db.writer().begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, role, password_hash, created_at, updated_at) VALUES ($1, $2, $3, NULL, $4, $4) \
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(&id)
    .bind(&email)
    .bind(role.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(invalid(
            "email",
            "an account with this email already exists",
        ));
    }
    write_teams(&mut tx, &id, &teams).await?;
    let after = json!({ "email": email, "role": role.as_str(), "teams": teams });
    audit::record(
        &mut *tx,
        actor,
        "user.invite",
        &email,
        None,
        Some(&after),
        now,
    )
    .await?;
    tx.commit().await?;
    // The link is made after the commit: SQLite has one writer connection.
    Ok(sessions::create_link(db, "invite", Some(&email), INVITE_VALID_MS, now).await?)
}

async fn write_teams(
    tx: &mut Transaction<'static, Any>,
    user_id: &str,
    teams: &[String],
) -> Result<(), AdminError> {
    sqlx::query("DELETE FROM user_teams WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    for team in teams {
        sqlx::query("INSERT INTO user_teams (user_id, team) VALUES ($1, $2)")
            .bind(user_id)
            .bind(team)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Whether another active administrator would remain without this one.
async fn another_admin(db: &Db, user_id: &str) -> Result<bool, AdminError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1",
    )
    .bind(user_id)
    .fetch_one(db.reader())
    .await?;
    Ok(n > 0)
}

pub async fn set_role(
    db: &Db,
    config: &Config,
    actor: &str,
    user_id: &str,
    role: Role,
    now: Millis,
) -> Result<(), AdminError> {
    let a = account(db, config, user_id).await?;
    if a.role == role {
        return Err(invalid(
            "role",
            format!("{} is already {}", a.email, role.as_str()),
        ));
    }
    if a.role == Role::Admin && !another_admin(db, user_id).await? {
        return Err(invalid(
            "role",
            "the desk needs at least one active administrator",
        ));
    }
    let mut tx = db.writer().begin().await?;
    sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
        .bind(role.as_str())
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        actor,
        "user.role",
        &a.email,
        Some(&json!({ "role": a.role.as_str() })),
        Some(&json!({ "role": role.as_str() })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_teams(
    db: &Db,
    config: &Config,
    actor: &str,
    user_id: &str,
    teams: &[String],
    now: Millis,
) -> Result<(), AdminError> {
    let a = account(db, config, user_id).await?;
    let teams = check_teams(config, teams)?;
    if teams == a.teams {
        return Err(invalid("teams", "these are already the memberships"));
    }
    let mut tx = db.writer().begin().await?;
    write_teams(&mut tx, user_id, &teams).await?;
    audit::record(
        &mut *tx,
        actor,
        "user.teams",
        &a.email,
        Some(&json!({ "teams": a.teams })),
        Some(&json!({ "teams": teams })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Disables an account and ends its sessions at once, or enables it again.
pub async fn set_disabled(
    db: &Db,
    config: &Config,
    actor: &str,
    user_id: &str,
    disabled: bool,
    now: Millis,
) -> Result<(), AdminError> {
    let a = account(db, config, user_id).await?;
    if a.disabled == disabled {
        return Err(invalid("account", "nothing to change"));
    }
    if disabled && a.role == Role::Admin && !another_admin(db, user_id).await? {
        return Err(invalid(
            "account",
            "the desk needs at least one active administrator",
        ));
    }
    let mut tx = db.writer().begin().await?;
    sqlx::query("UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3")
        .bind(disabled.then_some(now))
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if disabled {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut *tx,
        actor,
        if disabled {
            "user.disable"
        } else {
            "user.enable"
        },
        &a.email,
        Some(&json!({ "disabled": a.disabled })),
        Some(&json!({ "disabled": disabled })),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A one-time link with which the person sets a new password. The old
/// password keeps working until the link is used (then every session ends).
pub async fn reset_link(
    db: &Db,
    config: &Config,
    actor: &str,
    user_id: &str,
    now: Millis,
) -> Result<String, AdminError> {
    let a = account(db, config, user_id).await?;
    if a.disabled {
        return Err(invalid("account", "enable the account first"));
    }
    audit::record(
        db.writer(),
        actor,
        "user.reset_password",
        &a.email,
        None,
        Some(&json!({ "link_valid_hours": RESET_VALID_MS / 3_600_000 })),
        now,
    )
    .await?;
    Ok(sessions::create_link(db, "reset", Some(&a.email), RESET_VALID_MS, now).await?)
}
