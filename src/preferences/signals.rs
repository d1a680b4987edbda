//! Turning stored events into ledger rows: what a reply, a provider
//! preference change or a failed delivery says about the contact. Runs inside
//! the ingest transaction, so a STOP is in force before the webhook is answered.

use arc_swap::ArcSwap;
use serde_json::json;
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;
use std::sync::Arc;

use super::ledger::{self, NewPreference};
use super::precedence::Effect;
use super::status_codes::{StatusCodes, StatusEffect};
use crate::classify::PrefEffect;
use crate::clock::Millis;
use crate::ingest::event::{EventKind, NormalizedEvent};
use crate::model::{DeliveryStatus, MessageKind, PrefChannel, Provider, Purpose};
use crate::store::{StoreResult, placeholders};

/// What the signal rules need besides the events.
#[derive(Debug)]
pub struct SignalContext {
    pub status_codes: ArcSwap<StatusCodes>,
    /// Where fallback notices go; without one they are kept, undelivered.
    pub fallback_url: Option<String>,
}

impl SignalContext {
    pub fn new(status_codes: StatusCodes, fallback_url: Option<String>) -> Arc<SignalContext> {
        Arc::new(SignalContext {
            status_codes: ArcSwap::from_pointee(status_codes),
            fallback_url,
        })
    }
}

struct Outbound {
    contact_id: String,
    fallback_channel: Option<String>,
    journey: Option<String>,
    purpose: String,
}

/// Records the preference signals carried by newly stored events.
pub(crate) async fn record_from_events(
    tx: &mut Transaction<'static, Any>,
    events: &[&NormalizedEvent],
    provider_of: impl Fn(&NormalizedEvent) -> Provider,
    now: Millis,
    ctx: &SignalContext,
) -> StoreResult<()> {
    let mut rows = Vec::new();
    for ev in events {
        match ev.kind {
            EventKind::Message if !ev.outbound => rows.extend(from_reply(ev)),
            EventKind::Preference => rows.extend(from_provider_preference(ev)),
            _ => {}
        }
    }
    let failed: Vec<&NormalizedEvent> = events
        .iter()
        .copied()
        .filter(|e| {
            e.kind == EventKind::Status
                && e.status == Some(DeliveryStatus::Failed)
                && e.error_code.is_some()
        })
        .collect();
    if !failed.is_empty() {
        let outbound = registered(tx, &failed).await?;
        let codes = ctx.status_codes.load();
        for ev in failed {
            let provider = provider_of(ev);
            let code = ev.error_code.as_deref().unwrap_or_default();
            let meaning = codes.lookup(provider, code);
            let sent = ev.provider_id.as_deref().and_then(|id| outbound.get(id));
            let contact_id = ev
                .contact
                .as_ref()
                .and_then(|c| c.contact_id())
                .or_else(|| sent.map(|o| o.contact_id.clone()));
            if meaning.effect == StatusEffect::Account {
                metrics::counter!("replydesk_account_errors_total", "provider" => provider.as_str()).increment(1);
                tracing::warn!(
                    provider = provider.as_str(),
                    code,
                    message = ev.provider_id.as_deref().unwrap_or("-"),
                    "delivery failed because of the business account, not the contact: check the channel's account with the provider"
                );
            }
            if let Some(contact_id) = &contact_id {
                rows.extend(from_failure(ev, contact_id, meaning.effect));
            }
            if let (true, Some(sent)) = (meaning.fallback, sent) {
                queue_fallback(tx, ev, sent, meaning.effect, ctx, now).await?;
            }
        }
    }
    if !rows.is_empty() {
        ledger::insert(tx, &rows, now).await?;
    }
    Ok(())
}

fn base(
    ev: &NormalizedEvent,
    contact_id: String,
    channel: PrefChannel,
    purpose: Purpose,
    effect: Effect,
    signal: &str,
    source: &'static str,
) -> NewPreference {
    NewPreference {
        dedupe_key: format!(
            "{}|{}|{}|{}",
            ev.dedupe_key,
            channel.as_str(),
            purpose.as_str(),
            effect.as_str()
        ),
        contact_id,
        channel,
        purpose,
        effect,
        signal: signal.to_string(),
        source,
        evidence_message_id: ev.provider_id.clone(),
        evidence_status: ev.status.map(|s| s.as_str().to_string()),
        evidence_code: ev.error_code.clone(),
        rule_id: None,
        actor: None,
        reason: None,
        occurred_at: ev.occurred_at,
    }
}

/// A classified reply whose rule carries a preference action.
fn from_reply(ev: &NormalizedEvent) -> Vec<NewPreference> {
    let Some(c) = &ev.classification else {
        return Vec::new();
    };
    let (Some(action), Some(contact_id)) =
        (c.action, ev.contact.as_ref().and_then(|c| c.contact_id()))
    else {
        return Vec::new();
    };
    let button = matches!(
        ev.msg_type,
        Some(MessageKind::Button | MessageKind::Interactive)
    );
    let (effect, signal) = match (action.effect, button) {
        (PrefEffect::OptOut, false) => (Effect::OptOut, "keyword_opt_out"),
        (PrefEffect::OptOut, true) => (Effect::OptOut, "button_opt_out"),
        (PrefEffect::OptIn, false) => (Effect::OptIn, "keyword_opt_in"),
        (PrefEffect::OptIn, true) => (Effect::OptIn, "button_opt_in"),
    };
    let channels = action
        .channel
        .map_or_else(|| PrefChannel::ALL.to_vec(), |c| vec![c]);
    channels
        .into_iter()
        .map(|channel| {
            let mut row = base(
                ev,
                contact_id.clone(),
                channel,
                action.purpose,
                effect,
                signal,
                "customer",
            );
            row.rule_id = Some(c.rule_id.to_string());
            row
        })
        .collect()
}

/// Meta's `user_preferences`: the customer stopped or resumed marketing
/// messages in WhatsApp itself.
fn from_provider_preference(ev: &NormalizedEvent) -> Vec<NewPreference> {
    let Some(contact_id) = ev.contact.as_ref().and_then(|c| c.contact_id()) else {
        return Vec::new();
    };
    let (effect, signal) = match ev.payload.as_deref() {
        Some("stop") => (Effect::OptOut, "provider_marketing_stop"),
        Some("resume" | "signup") => (Effect::OptIn, "provider_marketing_resume"),
        _ => return Vec::new(),
    };
    vec![base(
        ev,
        contact_id,
        PrefChannel::Whatsapp,
        Purpose::Marketing,
        effect,
        signal,
        "provider",
    )]
}

fn from_failure(
    ev: &NormalizedEvent,
    contact_id: &str,
    effect: StatusEffect,
) -> Option<NewPreference> {
    let code = ev.error_code.as_deref().unwrap_or_default();
    let (purpose, effect, signal) = match effect {
        StatusEffect::Unreachable => (
            Purpose::All,
            Effect::Unreachable,
            format!("unreachable_{code}"),
        ),
        StatusEffect::Blocked => (Purpose::All, Effect::Unreachable, format!("blocked_{code}")),
        StatusEffect::MarketingOptOut => (
            Purpose::Marketing,
            Effect::OptOut,
            format!("marketing_stop_{code}"),
        ),
        StatusEffect::OptOut => (Purpose::All, Effect::OptOut, format!("unsubscribed_{code}")),
        _ => return None,
    };
    Some(base(
        ev,
        contact_id.to_string(),
        PrefChannel::Whatsapp,
        purpose,
        effect,
        &signal,
        "provider",
    ))
}

/// Registered outbound messages among the failed statuses, by message id.
async fn registered(
    tx: &mut Transaction<'static, Any>,
    failed: &[&NormalizedEvent],
) -> StoreResult<HashMap<String, Outbound>> {
    let ids: Vec<&str> = failed
        .iter()
        .filter_map(|e| e.provider_id.as_deref())
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT message_id, contact_id, fallback_channel, journey, purpose FROM outbound_messages WHERE message_id IN ({})",
        placeholders(1, ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in &ids {
        q = q.bind(*id);
    }
    let mut out = HashMap::new();
    for row in q.fetch_all(&mut **tx).await? {
        out.insert(
            row.try_get::<String, _>(0)?,
            Outbound {
                contact_id: row.try_get(1)?,
                fallback_channel: row.try_get(2)?,
                journey: row.try_get(3)?,
                purpose: row.try_get(4)?,
            },
        );
    }
    Ok(out)
}

/// Records a fallback notice for a registered message that failed, once per
/// message, in the outbox; the delivery worker posts it to the fallback URL.
async fn queue_fallback(
    tx: &mut Transaction<'static, Any>,
    ev: &NormalizedEvent,
    sent: &Outbound,
    effect: StatusEffect,
    ctx: &SignalContext,
    now: Millis,
) -> StoreResult<()> {
    let Some(channel) = &sent.fallback_channel else {
        return Ok(());
    };
    let message_id = ev.provider_id.clone().unwrap_or_default();
    let payload = json!({
        "type": "fallback",
        "message_id": message_id,
        "contact_id": sent.contact_id,
        "fallback_channel": channel,
        "journey": sent.journey,
        "purpose": sent.purpose,
        "failure": { "code": ev.error_code, "title": ev.error_title, "effect": effect.as_str(), "at": ev.occurred_at },
    });
    crate::outbox::enqueue_in(
        tx,
        crate::outbox::NewDelivery {
            kind: "fallback",
            idempotency_key: format!("fallback:{message_id}"),
            target: ctx.fallback_url.clone().unwrap_or_default(),
            subject: None,
            payload: payload.to_string(),
        },
        now,
    )
    .await
}
