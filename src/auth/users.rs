//! Accounts: roles, team memberships, passwords (argon2id, hashed off the
//! async threads), and who may see which team's work.

use serde::Serialize;
use sqlx::Row;

use crate::clock::Millis;
use crate::config::Config;
use crate::store::{Db, StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Lead,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Lead => "lead",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "lead" => Some(Role::Lead),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A signed-in person.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    /// Teams whose work this person sees: memberships in the database plus
    /// the config's `[[team]]` members and leads.
    pub teams: Vec<String>,
}

impl User {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.email)
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn is_lead(&self) -> bool {
        self.role >= Role::Lead
    }

    /// Admins see every team; others their own teams.
    pub fn sees_team(&self, team: Option<&str>) -> bool {
        self.is_admin() || team.is_some_and(|t| self.teams.iter().any(|m| m == t))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("an account with this email already exists")]
    Exists,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

pub fn normalize_email(email: &str) -> Result<String, AccountError> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e.chars().any(char::is_whitespace);
    if valid {
        Ok(e)
    } else {
        Err(AccountError::Invalid(format!(
            "{email:?} is not an email address"
        )))
    }
}

pub fn check_password_strength(password: &str) -> Result<(), AccountError> {
    if password.chars().count() < 10 {
        return Err(AccountError::Invalid("use at least 10 characters".into()));
    }
    Ok(())
}

/// Creates an account, or fails if the email is taken.
pub async fn create(
    db: &Db,
    email: &str,
    role: Role,
    teams: &[String],
    password_hash: Option<&str>,
    now: Millis,
) -> Result<String, AccountError> {
    let email = normalize_email(email)?;
    let id = uuid::Uuid::now_v7().to_string();
    let mut tx = db.writer().begin().await.map_err(StoreError::from)?;
    let inserted = sqlx::query(
        "INSERT INTO users (id, email, role, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(&id)
    .bind(&email)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    if inserted.rows_affected() == 0 {
        return Err(AccountError::Exists);
    }
    for team in teams {
        sqlx::query(
            "INSERT INTO user_teams (user_id, team) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(team)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(id)
}

/// Sets a password (first admin, invitation, reset).
pub async fn set_password_hash(db: &Db, user_id: &str, hash: &str, now: Millis) -> StoreResult<()> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now)
        .bind(user_id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// An account's id and password hash by email, for signing in; disabled accounts are not found.
pub async fn credentials(db: &Db, email: &str) -> StoreResult<Option<(String, Option<String>)>> {
    let row =
        sqlx::query("SELECT id, password_hash FROM users WHERE email = $1 AND disabled_at IS NULL")
            .bind(email.trim().to_lowercase())
            .fetch_optional(db.reader())
            .await?;
    Ok(match row {
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
        None => None,
    })
}

/// Loads a user with their teams.
pub async fn load(db: &Db, config: &Config, user_id: &str) -> StoreResult<Option<User>> {
    let Some(row) = sqlx::query(
        "SELECT id, email, name, role FROM users WHERE id = $1 AND disabled_at IS NULL",
    )
    .bind(user_id)
    .fetch_optional(db.reader())
    .await?
    else {
        return Ok(None);
    };
    let email: String = row.try_get("email")?;
    let mut teams: Vec<String> =
        sqlx::query_scalar("SELECT team FROM user_teams WHERE user_id = $1 ORDER BY team")
            .bind(user_id)
            .fetch_all(db.reader())
            .await?;
    for team in &config.teams {
        if team
            .members
            .iter()
            .chain(&team.leads)
            .any(|m| m.eq_ignore_ascii_case(&email))
            && !teams.contains(&team.name)
        {
            teams.push(team.name.clone());
        }
    }
    let role: String = row.try_get("role")?;
    Ok(Some(User {
        id: row.try_get("id")?,
        email,
        name: row.try_get("name")?,
        role: Role::parse(&role).unwrap_or(Role::Agent),
        teams,
    }))
}

pub async fn admin_exists(db: &Db) -> StoreResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND password_hash IS NOT NULL")
        .fetch_one(db.reader())
        .await?;
    Ok(n > 0)
}

/// Whether an agent is marked away (round-robin skips them).
pub async fn is_away(db: &Db, email: &str) -> StoreResult<bool> {
    let away: Option<i64> = sqlx::query_scalar("SELECT away FROM agent_presence WHERE email = $1")
        .bind(email)
        .fetch_optional(db.reader())
        .await?;
    Ok(away == Some(1))
}

pub async fn set_away(db: &Db, email: &str, away: bool, now: Millis) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO agent_presence (email, away, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (email) DO UPDATE SET away = excluded.away, updated_at = excluded.updated_at",
    )
    .bind(email)
    .bind(i64::from(away))
    .bind(now)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Email addresses of the people who may work a team's conversations.
pub async fn team_members(db: &Db, config: &Config, team: &str) -> StoreResult<Vec<String>> {
    let mut out: Vec<String> = sqlx::query_scalar(
        "SELECT u.email FROM users u JOIN user_teams t ON t.user_id = u.id WHERE t.team = $1 AND u.disabled_at IS NULL ORDER BY u.email",
    )
    .bind(team)
    .fetch_all(db.reader())
    .await?;
    if let Some(t) = config.team(team) {
        for m in t.members.iter().chain(&t.leads) {
            let m = m.to_lowercase();
            if !out.contains(&m) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(
            normalize_email(" Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        assert!(normalize_email("ana").is_err());
        assert!(normalize_email("ana@localhost").is_err());
    }
}
