//! Turning stored events into ledger rows: what a reply, a provider
//! preference change or a failed delivery says about the contact, and what
//! the business's policy makes of it (how far it reaches, journey
//! exclusion, review, who is told). Runs inside the ingest transaction, so a
//! STOP is in force before the webhook is answered.

use arc_swap::ArcSwap;
use serde_json::json;
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;
use std::sync::Arc;

use super::ledger::{self, NewPreference};
use super::policy::{Policy, Scope, SignalKind};
use super::precedence::Effect;
use super::status_codes::{StatusCodes, StatusEffect};
use crate::classify::PrefEffect;
use crate::clock::Millis;
use crate::config::Config;
use crate::ingest::event::{EventKind, NormalizedEvent};
use crate::model::{DeliveryStatus, MessageKind, PrefChannel, Provider, Purpose};
use crate::store::{StoreError, StoreResult, placeholders};

/// What the signal rules need besides the events: the effects of status
/// codes and the policy (both reloadable), and the configuration.
#[derive(Debug)]
pub struct SignalContext {
    pub status_codes: ArcSwap<StatusCodes>,
    pub policy: ArcSwap<Policy>,
    pub config: Arc<Config>,
}

impl SignalContext {
    pub fn new(
        status_codes: StatusCodes,
        policy: Policy,
        config: Arc<Config>,
    ) -> Arc<SignalContext> {
        Arc::new(SignalContext {
            status_codes: ArcSwap::from_pointee(status_codes),
            policy: ArcSwap::from_pointee(policy),
            config,
        })
    }
}

struct Outbound {
    contact_id: String,
    fallback_channel: Option<String>,
    journey: Option<String>,
    purpose: String,
}

/// One signal found in an event, before the policy adds to it.
pub(crate) struct Signal<'a> {
    pub kind: SignalKind,
    pub contact_id: String,
    pub ev: &'a NormalizedEvent,
    /// What the signal itself says (a rule's action, a provider's scope).
    pub own: Vec<Scope>,
    /// The journey of the message it answers or failed, when known.
    pub journey: Option<String>,
    /// Who said it: the customer, the provider, or another system (`api:…`).
    pub source: String,
}

/// Records the preference signals carried by newly stored events.
pub(crate) async fn record_from_events(
    tx: &mut Transaction<'static, Any>,
    events: &[&NormalizedEvent],
    provider_of: impl Fn(&NormalizedEvent) -> Provider,
    now: Millis,
    ctx: &SignalContext,
) -> StoreResult<()> {
    let policy = ctx.policy.load();
    let mut signals = Vec::new();
    for ev in events {
        match ev.kind {
            EventKind::Message if !ev.outbound => signals.extend(from_reply(ev, &policy)),
            EventKind::Preference => signals.extend(from_provider_preference(ev)),
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
        failures(tx, &failed, &provider_of, now, ctx, &policy, &mut signals).await?;
    }
    // The batch's ledger rows go in together, after every signal's other
    // effects, as `apply` orders them for one signal.
    let mut rows = Vec::new();
    for signal in &signals {
        rows.extend(effects(tx, signal, &policy, now, ctx).await?);
    }
    if !rows.is_empty() {
        ledger::insert(tx, &rows, now).await?;
    }
    Ok(())
}

async fn failures<'a>(
    tx: &mut Transaction<'static, Any>,
    failed: &[&'a NormalizedEvent],
    provider_of: &impl Fn(&NormalizedEvent) -> Provider,
    now: Millis,
    ctx: &SignalContext,
    policy: &Policy,
    signals: &mut Vec<Signal<'a>>,
) -> StoreResult<()> {
    let outbound = registered(tx, failed).await?;
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
            metrics::counter!("replydesk_account_errors_total", "provider" => provider.as_str())
                .increment(1);
            tracing::warn!(
                provider = provider.as_str(),
                code,
                message = ev.provider_id.as_deref().unwrap_or("-"),
                "delivery failed because of the business account, not the contact: check the channel's account with the provider"
            );
        }
        if let (true, Some(sent)) = (meaning.fallback, sent) {
            queue_fallback(tx, ev, sent, meaning.effect, ctx, now).await?;
        }
        let Some(contact_id) = contact_id else {
            continue;
        };
        record_failure(tx, &contact_id, ev, provider, meaning.effect, now).await?;
        let journey = sent.and_then(|s| s.journey.clone());
        let whatsapp = |purpose| {
            vec![Scope {
                channel: PrefChannel::Whatsapp,
                purpose,
            }]
        };
        let signal = |kind, own| Signal {
            kind,
            contact_id: contact_id.clone(),
            ev,
            own,
            journey: journey.clone(),
            source: "provider".into(),
        };
        match meaning.effect {
            StatusEffect::Unreachable => {
                signals.push(signal(SignalKind::Unreachable, whatsapp(Purpose::All)))
            }
            StatusEffect::Blocked => {
                signals.push(signal(SignalKind::Block, whatsapp(Purpose::All)))
            }
            StatusEffect::MarketingOptOut => signals.push(signal(
                SignalKind::StatusMarketingOptOut,
                whatsapp(Purpose::Marketing),
            )),
            StatusEffect::OptOut => {
                signals.push(signal(SignalKind::StatusOptOut, whatsapp(Purpose::All)))
            }
            StatusEffect::Content => {
                let action = policy.action(SignalKind::ContentFailures);
                let count =
                    content_failures_since(tx, &contact_id, ev.occurred_at - action.window_ms)
                        .await?;
                // Exactly at the threshold: the signal fires once per crossing.
                if count == i64::from(action.threshold) {
                    signals.push(signal(SignalKind::ContentFailures, Vec::new()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn scopes_of(channel: Option<PrefChannel>, purpose: Purpose) -> Vec<Scope> {
    channel
        .map_or_else(|| PrefChannel::ALL.to_vec(), |c| vec![c])
        .into_iter()
        .map(|channel| Scope { channel, purpose })
        .collect()
}

/// A classified reply: an opt-out or opt-in by its rule's action, or a complaint by its rule.
fn from_reply<'a>(ev: &'a NormalizedEvent, policy: &Policy) -> Vec<Signal<'a>> {
    let (Some(c), Some(contact_id)) = (
        &ev.classification,
        ev.contact.as_ref().and_then(|c| c.contact_id()),
    ) else {
        return Vec::new();
    };
    let button = matches!(
        ev.msg_type,
        Some(MessageKind::Button | MessageKind::Interactive)
    );
    let mut out = Vec::new();
    if let Some(action) = c.action {
        let kind = match (action.effect, button) {
            (PrefEffect::OptOut, false) => SignalKind::KeywordOptOut,
            (PrefEffect::OptOut, true) => SignalKind::ButtonOptOut,
            (PrefEffect::OptIn, false) => SignalKind::KeywordOptIn,
            (PrefEffect::OptIn, true) => SignalKind::ButtonOptIn,
        };
        out.push(Signal {
            kind,
            contact_id: contact_id.clone(),
            ev,
            own: scopes_of(action.channel, action.purpose),
            journey: None,
            source: "customer".into(),
        });
    }
    if policy
        .action(SignalKind::Complaint)
        .rules
        .iter()
        .any(|r| **r == *c.rule_id)
    {
        out.push(Signal {
            kind: SignalKind::Complaint,
            contact_id,
            ev,
            own: Vec::new(),
            journey: None,
            source: "customer".into(),
        });
    }
    out
}

/// Meta's `user_preferences`: the customer stopped or resumed marketing
/// messages in WhatsApp itself.
fn from_provider_preference(ev: &NormalizedEvent) -> Option<Signal<'_>> {
    let contact_id = ev.contact.as_ref().and_then(|c| c.contact_id())?;
    let kind = match ev.payload.as_deref() {
        Some("stop") => SignalKind::ProviderMarketingStop,
        Some("resume" | "signup") => SignalKind::ProviderMarketingResume,
        _ => return None,
    };
    let own = vec![Scope {
        channel: PrefChannel::Whatsapp,
        purpose: Purpose::Marketing,
    }];
    Some(Signal {
        kind,
        contact_id,
        ev,
        own,
        journey: None,
        source: "provider".into(),
    })
}

/// Applies the policy to one signal: ledger rows for what it suppresses or
/// lifts (its own scope and the policy's, never less), and the exclusion,
/// review and notice the policy asks for.
pub(crate) async fn apply(
    tx: &mut Transaction<'static, Any>,
    s: &Signal<'_>,
    policy: &Policy,
    now: Millis,
    ctx: &SignalContext,
) -> StoreResult<()> {
    let rows = effects(tx, s, policy, now, ctx).await?;
    if !rows.is_empty() {
        ledger::insert(tx, &rows, now).await?;
    }
    Ok(())
}

/// Applies a signal's review, journey and notification effects and returns
/// the ledger rows it records, for the caller to write.
async fn effects(
    tx: &mut Transaction<'static, Any>,
    s: &Signal<'_>,
    policy: &Policy,
    now: Millis,
    ctx: &SignalContext,
) -> StoreResult<Vec<NewPreference>> {
    let action = policy.action(s.kind);
    let policy_line =
        (!action.line.is_empty()).then(|| format!("{} [{}]", action.line, s.kind.as_str()));
    let effect = if s.kind.is_opt_in() {
        Effect::OptIn
    } else if s.kind.is_reachability() {
        Effect::Unreachable
    } else {
        Effect::OptOut
    };
    let extra = if s.kind.is_opt_in() {
        &action.lift
    } else {
        &action.suppress
    };
    let mut scopes: Vec<Scope> = s.own.clone();
    for scope in extra {
        if !scopes.contains(scope) {
            scopes.push(*scope);
        }
    }
    let mut rows: Vec<NewPreference> = scopes
        .iter()
        .map(|scope| row(s, scope.channel, scope.purpose, effect, &policy_line))
        .collect();
    if action.review {
        rows.extend(
            PrefChannel::ALL
                .iter()
                .map(|c| row(s, *c, Purpose::All, Effect::ReviewSet, &policy_line)),
        );
        open_review(tx, s, &action.notify, &policy_line, ctx, now).await?;
    }
    if action.exclude_journey {
        exclude(tx, s, &policy_line, ctx, now).await?;
    }
    if let Some(team) = &action.notify {
        notify(tx, s, team, &policy_line, ctx, now).await?;
    }
    Ok(rows)
}

fn row(
    s: &Signal<'_>,
    channel: PrefChannel,
    purpose: Purpose,
    effect: Effect,
    policy: &Option<String>,
) -> NewPreference {
    let ev = s.ev;
    NewPreference {
        dedupe_key: format!(
            "{}|{}|{}|{}|{}",
            ev.dedupe_key,
            s.kind.as_str(),
            channel.as_str(),
            purpose.as_str(),
            effect.as_str()
        ),
        contact_id: s.contact_id.clone(),
        channel,
        purpose,
        effect,
        signal: s.kind.as_str().to_string(),
        source: s.source.clone(),
        evidence_message_id: ev.provider_id.clone(),
        evidence_status: ev.status.map(|st| st.as_str().to_string()),
        evidence_code: ev.error_code.clone(),
        rule_id: ev.classification.as_ref().map(|c| c.rule_id.to_string()),
        actor: None,
        reason: None,
        policy: policy.clone(),
        occurred_at: ev.occurred_at,
    }
}

/// The journey the signal came from: a failed registered message's, or the
/// registered message a reply quotes, or the latest sent to the contact
/// within the attribution window.
async fn journey_of(
    tx: &mut Transaction<'static, Any>,
    s: &Signal<'_>,
    ctx: &SignalContext,
) -> StoreResult<Option<String>> {
    if s.journey.is_some() {
        return Ok(s.journey.clone());
    }
    let window = crate::config::parse_duration_ms(&ctx.config.routing.attribution_window)
        .unwrap_or(72 * 3_600_000);
    let row = sqlx::query(
        "SELECT journey FROM outbound_messages WHERE journey IS NOT NULL AND \
         (message_id = $1 OR (contact_id = $2 AND sent_at <= $3 AND sent_at >= $4)) \
         ORDER BY CASE WHEN message_id = $1 THEN 0 ELSE 1 END, sent_at DESC LIMIT 1",
    )
    .bind(s.ev.context_id.clone().unwrap_or_default())
    .bind(&s.contact_id)
    .bind(s.ev.occurred_at)
    .bind(s.ev.occurred_at - window)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some(r) => r.try_get(0)?,
        None => None,
    })
}

async fn exclude(
    tx: &mut Transaction<'static, Any>,
    s: &Signal<'_>,
    policy: &Option<String>,
    ctx: &SignalContext,
    now: Millis,
) -> StoreResult<()> {
    let Some(journey) = journey_of(tx, s, ctx).await? else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO journey_exclusions (id, dedupe_key, contact_id, journey, signal, policy, evidence_message_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(format!("{}|{}|{journey}", s.ev.dedupe_key, s.kind.as_str()))
    .bind(&s.contact_id)
    .bind(&journey)
    .bind(s.kind.as_str())
    .bind(policy)
    .bind(&s.ev.provider_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn open_review(
    tx: &mut Transaction<'static, Any>,
    s: &Signal<'_>,
    notify: &Option<String>,
    policy: &Option<String>,
    ctx: &SignalContext,
    now: Millis,
) -> StoreResult<()> {
    let team = notify
        .clone()
        .or_else(|| ctx.config.routing.default_team.clone());
    sqlx::query(
        "INSERT INTO reviews (id, dedupe_key, contact_id, signal, policy, team, evidence_message_id, evidence_code, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(format!("{}|{}", s.ev.dedupe_key, s.kind.as_str()))
    .bind(&s.contact_id)
    .bind(s.kind.as_str())
    .bind(policy)
    .bind(team)
    .bind(&s.ev.provider_id)
    .bind(&s.ev.error_code)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Tells the team's leads, once per signal, through the outbox.
async fn notify(
    tx: &mut Transaction<'static, Any>,
    s: &Signal<'_>,
    team: &str,
    policy: &Option<String>,
    ctx: &SignalContext,
    now: Millis,
) -> StoreResult<()> {
    let leads = ctx
        .config
        .team(team)
        .map(|t| t.leads.clone())
        .unwrap_or_default();
    if leads.is_empty() {
        tracing::warn!(
            team,
            signal = s.kind.as_str(),
            "the preference policy asks to tell a team that has no leads"
        );
        return Ok(());
    }
    let base = ctx
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", ctx.config.bind));
    let link = format!("{}/contacts/{}", base.trim_end_matches('/'), s.contact_id);
    let what = s.kind.as_str().replace('_', " ");
    let line = policy.clone().unwrap_or_default();
    let text = format!(
        "A contact sent a signal your preference policy asks team {team} to know about: {what}.\n\nEvidence: message {}{}\nPolicy: {line}\n\nOpen the contact: {link}\n",
        s.ev.provider_id.as_deref().unwrap_or("-"),
        s.ev.error_code
            .as_deref()
            .map(|c| format!(", error {c}"))
            .unwrap_or_default()
    );
    let html = format!(
        "<p>A contact sent a signal your preference policy asks team {team} to know about: <strong>{what}</strong>.</p><p>Policy: {line}</p><p><a href=\"{link}\">Open the contact</a></p>"
    );
    let email = crate::notify::email::Email::new(
        leads,
        format!("Preference signal: {what} (team {team})"),
        text,
        html,
    );
    crate::notify::email::queue_email_in(
        tx,
        &format!("policy:{}:{}", s.kind.as_str(), s.ev.dedupe_key),
        &email,
        now,
    )
    .await
    .map_err(|e| match e {
        crate::notify::email::EmailError::Store(s) => s,
        other => StoreError::Conflict(other.to_string()),
    })
}

async fn record_failure(
    tx: &mut Transaction<'static, Any>,
    contact_id: &str,
    ev: &NormalizedEvent,
    provider: Provider,
    effect: StatusEffect,
    _now: Millis,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO delivery_failures (id, contact_id, message_id, provider, code, effect, at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (message_id, code) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(contact_id)
    .bind(&ev.provider_id)
    .bind(provider.as_str())
    .bind(ev.error_code.as_deref().unwrap_or_default())
    .bind(effect.as_str())
    .bind(ev.occurred_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn content_failures_since(
    tx: &mut Transaction<'static, Any>,
    contact_id: &str,
    since: Millis,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM delivery_failures WHERE contact_id = $1 AND effect = 'content' AND at >= $2")
        .bind(contact_id)
        .bind(since)
        .fetch_one(&mut **tx)
        .await?)
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
            target: ctx.config.fallback.url.clone().unwrap_or_default(),
            subject: None,
            payload: payload.to_string(),
        },
        now,
    )
    .await
}

/// Reloads `status_codes.toml` and `preference_policy.toml` when they
/// change on disk, keeping the last good version when a file does not check.
#[derive(Debug)]
pub struct PolicyFiles {
    dir: std::path::PathBuf,
    teams: Vec<String>,
    seen: std::sync::Mutex<Vec<Option<(std::time::SystemTime, u64)>>>,
    pub last_error: std::sync::Mutex<Option<String>>,
}

impl PolicyFiles {
    pub fn new(dir: &std::path::Path, teams: Vec<String>) -> PolicyFiles {
        let files = PolicyFiles {
            dir: dir.to_path_buf(),
            teams,
            seen: std::sync::Mutex::new(Vec::new()),
            last_error: std::sync::Mutex::new(None),
        };
        let stamps = files.stamps();
        if let Ok(mut seen) = files.seen.lock() {
            *seen = stamps;
        }
        files
    }

    fn stamps(&self) -> Vec<Option<(std::time::SystemTime, u64)>> {
        ["status_codes.toml", "preference_policy.toml"]
            .iter()
            .map(|f| {
                std::fs::metadata(self.dir.join(f))
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())))
            })
            .collect()
    }

    /// Loads both files now; on a problem the active versions stay.
    pub fn reload(&self, ctx: &SignalContext) -> Result<(), String> {
        let result = StatusCodes::load_dir(&self.dir)
            .map_err(|e| e.to_string())
            .and_then(|codes| {
                let policy = Policy::load_dir(&self.dir, &self.teams).map_err(|e| e.to_string())?;
                Ok((codes, policy))
            });
        match result {
            Ok((codes, policy)) => {
                tracing::info!(policy = %policy.version, "status codes and preference policy reloaded");
                ctx.status_codes.store(Arc::new(codes));
                ctx.policy.store(Arc::new(policy));
                metrics::counter!("replydesk_policy_reload_total", "result" => "ok").increment(1);
                if let Ok(mut e) = self.last_error.lock() {
                    *e = None;
                }
                Ok(())
            }
            Err(error) => {
                tracing::error!(%error, "the changed policy files do not check; the desk keeps the last good status codes and policy");
                metrics::counter!("replydesk_policy_reload_total", "result" => "error")
                    .increment(1);
                if let Ok(mut e) = self.last_error.lock() {
                    *e = Some(error.clone());
                }
                Err(error)
            }
        }
    }

    /// Checks the files every `tick` and reloads them when they changed.
    pub async fn watch(
        self: Arc<Self>,
        ctx: Arc<SignalContext>,
        stop: tokio_util::sync::CancellationToken,
        tick: std::time::Duration,
    ) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(tick) => {},
            }
            let now = self.stamps();
            let changed = self.seen.lock().map(|mut seen| {
                let changed = *seen != now;
                *seen = now;
                changed
            });
            if changed.unwrap_or(false) {
                let _ = self.reload(&ctx);
            }
        }
    }
}
