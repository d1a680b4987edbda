//! Preference events from other systems (an email unsubscribe, a form
//! opt-in, a call-centre do-not-call), posted to `POST /api/v1/preferences`.
//! They go into the same ledger, under the same precedence rules and policy.

use serde::{Deserialize, Serialize};

use super::policy::{Scope, SignalKind};
use super::signals::{Signal, SignalContext, apply};
use crate::clock::Millis;
use crate::contacts::identity::{self, ContactKey};
use crate::ingest::event::{EventKind, NormalizedEvent};
use crate::model::{PrefChannel, Purpose};
use crate::store::{Db, StoreError};

/// An event as another system posts it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalEvent {
    pub external_id: String,
    /// E.164 phone number, WhatsApp user id or email address.
    pub contact: String,
    pub channel: String,
    pub purpose: String,
    /// `opt_out` or `opt_in`.
    pub effect: String,
    pub source: String,
    /// Epoch milliseconds or an RFC 3339 time.
    pub occurred_at: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct Recorded {
    pub external_id: String,
    /// False when this external id was recorded before: nothing changed.
    pub created: bool,
    pub contact_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ExternalError {
    fn from(e: sqlx::Error) -> Self {
        ExternalError::Store(e.into())
    }
}

/// How far in the future an event time may be (clocks differ a little).
const SKEW_MS: Millis = 5 * 60_000;

fn bad(field: &'static str, message: impl Into<String>) -> ExternalError {
    ExternalError::Invalid {
        field,
        message: message.into(),
    }
}

fn parse_time(v: &serde_json::Value) -> Result<Millis, ExternalError> {
    match v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| bad("occurred_at", "expected epoch milliseconds")),
        serde_json::Value::String(s) => s
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|e| {
                bad(
                    "occurred_at",
                    format!("{s:?} is not an RFC 3339 time such as 2026-11-26T10:00:00Z ({e})"),
                )
            }),
        _ => Err(bad(
            "occurred_at",
            "expected epoch milliseconds or an RFC 3339 time",
        )),
    }
}

struct Checked {
    contact: ContactKey,
    scope: Scope,
    kind: SignalKind,
    at: Millis,
}

fn check(e: &ExternalEvent, now: Millis) -> Result<Checked, ExternalError> {
    if e.external_id.trim().is_empty() || e.external_id.len() > 200 {
        return Err(bad(
            "external_id",
            "expected your own id for this event (1 to 200 characters)",
        ));
    }
    if e.source.trim().is_empty() || e.source.len() > 100 {
        return Err(bad(
            "source",
            "say which system or process this comes from (1 to 100 characters)",
        ));
    }
    let contact = ContactKey::parse(&e.contact).map_err(|m| bad("contact", m))?;
    let channel = PrefChannel::parse(&e.channel).ok_or_else(|| {
        bad(
            "channel",
            format!(
                "{:?} is not a channel; expected whatsapp or email",
                e.channel
            ),
        )
    })?;
    let purpose = Purpose::parse(&e.purpose).ok_or_else(|| {
        bad(
            "purpose",
            format!(
                "{:?} is not a purpose; expected marketing or all",
                e.purpose
            ),
        )
    })?;
    let kind = match e.effect.as_str() {
        "opt_out" => SignalKind::ExternalOptOut,
        "opt_in" => SignalKind::ExternalOptIn,
        other => {
            return Err(bad(
                "effect",
                format!("{other:?} is not an effect; expected opt_out or opt_in"),
            ));
        }
    };
    let at = parse_time(&e.occurred_at)?;
    if at > now + SKEW_MS {
        return Err(bad(
            "occurred_at",
            "is in the future; send the time the person actually asked",
        ));
    }
    Ok(Checked {
        contact,
        scope: Scope { channel, purpose },
        kind,
        at,
    })
}

/// Records an event from another system; a repeat of its external id changes nothing.
pub async fn record(
    db: &Db,
    ctx: &SignalContext,
    e: &ExternalEvent,
    client: &str,
    now: Millis,
) -> Result<Recorded, ExternalError> {
    let checked = check(e, now)?;
    let mut tx = db.writer().begin().await?;
    let contact_id = identity::resolve(&mut tx, &checked.contact, now).await?;
    let fresh = sqlx::query("INSERT INTO external_preferences (external_id, contact_id, source, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT (external_id) DO NOTHING")
        .bind(e.external_id.trim())
        .bind(&contact_id)
        .bind(format!("{client}/{}", e.source.trim()))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if fresh {
        let mut ev = NormalizedEvent::new(
            format!("ext:{}", e.external_id.trim()),
            EventKind::Preference,
            checked.at,
        );
        ev.payload = Some(e.effect.clone());
        let signal = Signal {
            kind: checked.kind,
            contact_id: contact_id.clone(),
            ev: &ev,
            own: vec![checked.scope],
            journey: None,
            source: format!("api:{}", e.source.trim()),
        };
        let policy = ctx.policy.load();
        apply(&mut tx, &signal, &policy, now, ctx).await?;
    }
    tx.commit().await?;
    Ok(Recorded {
        external_id: e.external_id.trim().to_string(),
        created: fresh,
        contact_id,
    })
}
