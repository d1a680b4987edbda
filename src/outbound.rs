//! Outbound registrations: what the sending platform says it sent, so that
//! replies and statuses can be attributed to journeys and failed messages
//! can fall back to another channel.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::contacts::identity::{self, ContactKey};
use crate::store::{Db, StoreResult};

/// A registration as the sending platform posts it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub message_id: String,
    pub contact: String,
    #[serde(default)]
    pub journey: Option<String>,
    #[serde(default)]
    pub campaign: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
    /// marketing, utility, service, authentication, …
    pub purpose: String,
    /// Where to turn if WhatsApp fails, e.g. "email" or "sms".
    #[serde(default)]
    pub fallback_channel: Option<String>,
    /// When it was sent, epoch milliseconds; defaults to now.
    #[serde(default)]
    pub sent_at: Option<Millis>,
    /// The contact's email address, kept for fallback and cross-channel decisions.
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Registered {
    pub message_id: String,
    /// False when this message id was already registered: nothing changed.
    pub created: bool,
}

/// A registration that cannot be accepted, naming the field.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn check(reg: &Registration) -> Result<ContactKey, Invalid> {
    let bad = |field, message: &str| Invalid {
        field,
        message: message.to_string(),
    };
    if reg.message_id.trim().is_empty() || reg.message_id.len() > 256 {
        return Err(bad(
            "message_id",
            "expected the provider's message id (1 to 256 characters)",
        ));
    }
    if reg.purpose.trim().is_empty() || reg.purpose.len() > 64 {
        return Err(bad(
            "purpose",
            "expected a purpose such as marketing, utility or service",
        ));
    }
    for (field, value) in [
        ("journey", &reg.journey),
        ("campaign", &reg.campaign),
        ("template", &reg.template),
        ("fallback_channel", &reg.fallback_channel),
    ] {
        if value.as_ref().is_some_and(|v| v.len() > 200) {
            return Err(bad(field, "at most 200 characters"));
        }
    }
    ContactKey::parse_whatsapp(&reg.contact).map_err(|m| Invalid {
        field: "contact",
        message: m,
    })
}

/// Registers a sent message; a repeat of the same message id changes nothing.
pub async fn register(
    db: &Db,
    reg: &Registration,
    by: &str,
    now: Millis,
) -> Result<StoreResult<Registered>, Invalid> {
    let key = check(reg)?;
    Ok(write(db, reg, &key, by, now).await)
}

async fn write(
    db: &Db,
    reg: &Registration,
    key: &ContactKey,
    by: &str,
    now: Millis,
) -> StoreResult<Registered> {
    let mut tx = db.writer().begin().await?;
    let contact_id = identity::resolve(&mut tx, key, now).await?;
    if let Some(email) = reg
        .email
        .as_deref()
        .and_then(|e| crate::auth::users::normalize_email(e).ok())
    {
        sqlx::query("UPDATE contacts SET email = $1, updated_at = $2 WHERE id = $3")
            .bind(email)
            .bind(now)
            .bind(&contact_id)
            .execute(&mut *tx)
            .await?;
    }
    let done = sqlx::query(
        "INSERT INTO outbound_messages (message_id, contact_id, journey, campaign, template, purpose, fallback_channel, \
           sent_at, registered_at, registered_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(reg.message_id.trim())
    .bind(&contact_id)
    .bind(&reg.journey)
    .bind(&reg.campaign)
    .bind(&reg.template)
    .bind(reg.purpose.trim().to_lowercase())
    .bind(&reg.fallback_channel)
    .bind(reg.sent_at.unwrap_or(now))
    .bind(now)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Registered {
        message_id: reg.message_id.trim().to_string(),
        created: done.rows_affected() == 1,
    })
}
