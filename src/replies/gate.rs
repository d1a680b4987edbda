//! The three questions every send answers before anything is stored or
//! leaves, in words (DESIGN.md, "Answering the customer"):
//! 1. Is the window open? Free text only within 24 hours of the customer's
//!    last message on this channel; after that only an approved template.
//! 2. May we contact them for this purpose? The ledger and the policy, as
//!    the eligibility API answers: a marketing template (or one whose
//!    category the desk does not know) never goes to an opted-out, reviewed,
//!    do-not-contact or journey-excluded contact. A customer who opted out of
//!    everything and wrote again after may get a service answer inside the
//!    window, and nothing else.
//! 3. Can they be reached? A blocked or unreachable contact is refused with
//!    the fallback the eligibility answer gives.

use serde::Serialize;

use crate::clock::Millis;
use crate::contacts::identity;
use crate::model::{PrefChannel, Purpose};
use crate::preferences::precedence::Reason;
use crate::preferences::{self, Eligibility};
use crate::store::{Db, StoreResult, placeholders};

/// WhatsApp's customer service window.
pub const WINDOW_MS: Millis = 24 * 3_600_000;

/// The customer service window of one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// When the customer last wrote on this channel.
    pub last_inbound_at: Option<Millis>,
    /// When free text stops being allowed.
    pub closes_at: Option<Millis>,
    pub open: bool,
}

/// What is being sent, for the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Free text: a service answer.
    Text,
    /// An approved template of this category (`None`: unknown, so marketing).
    Template(Option<TemplateCategory>),
    /// The confirmation of the opt-out the customer just sent.
    OptOutConfirmation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    pub fn parse(text: &str) -> Option<TemplateCategory> {
        match text.trim().to_ascii_lowercase().as_str() {
            "marketing" => Some(TemplateCategory::Marketing),
            "utility" => Some(TemplateCategory::Utility),
            "authentication" => Some(TemplateCategory::Authentication),
            _ => None,
        }
    }
}

/// Why a send is refused, in words, with the policy line and the fallback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// A stable word for machines: `window_closed`, `opted_out`, …
    pub reason: &'static str,
    pub explanation: String,
    pub policy: Option<String>,
    pub fallback: Option<PrefChannel>,
}

/// The purpose a send that passed the gate is recorded under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passed {
    Service,
    Marketing,
    Utility,
    Authentication,
    OptOutConfirmation,
}

impl Passed {
    pub fn as_str(self) -> &'static str {
        match self {
            Passed::Service => "service",
            Passed::Marketing => "marketing",
            Passed::Utility => "utility",
            Passed::Authentication => "authentication",
            Passed::OptOutConfirmation => "opt_out_confirmation",
        }
    }
}

/// The window of `contact_id` (and records of the same person) on `channel`.
pub async fn window(db: &Db, contact_id: &str, channel: &str, now: Millis) -> StoreResult<Window> {
    let mut conn = db.reader().acquire().await?;
    let ids = identity::same_person(&mut conn, contact_id).await?;
    let sql = format!(
        "SELECT MAX(occurred_at) FROM events WHERE contact_id IN ({}) AND kind = 'message' \
         AND direction = 'in' AND channel = ${}",
        placeholders(1, ids.len()),
        ids.len() + 1
    );
    let mut q = sqlx::query_scalar::<_, Option<Millis>>(&sql);
    for id in &ids {
        q = q.bind(id);
    }
    let last = q.bind(channel).fetch_one(&mut *conn).await?;
    let closes_at = last.map(|l| l + WINDOW_MS);
    Ok(Window {
        last_inbound_at: last,
        closes_at,
        open: closes_at.is_some_and(|c| now < c),
    })
}

/// Answers the three questions for one send to a conversation's contact.
pub async fn check(
    db: &Db,
    contact_id: &str,
    label: &str,
    journey: Option<&str>,
    window: Window,
    ask: Ask,
) -> StoreResult<Result<Passed, Refusal>> {
    if matches!(ask, Ask::Text | Ask::OptOutConfirmation) && !window.open {
        let closed = window.closes_at.map_or_else(
            || "the customer has not written on this channel".to_string(),
            |c| format!("the window closed at {}", crate::web::format::when(c)),
        );
        return Ok(Err(Refusal {
            reason: "window_closed",
            explanation: format!(
                "WhatsApp allows free text only within 24 hours of the customer's last message; {closed}. Choose an approved template."
            ),
            policy: None,
            fallback: None,
        }));
    }
    let purpose = match ask {
        Ask::Template(Some(TemplateCategory::Marketing) | None) => Purpose::Marketing,
        _ => Purpose::All,
    };
    let journey = journey.filter(|_| purpose == Purpose::Marketing);
    let e = preferences::eligibility_for_contact(
        db,
        contact_id,
        label,
        PrefChannel::Whatsapp,
        purpose,
        journey,
    )
    .await?;
    let passed = match ask {
        Ask::Text => Passed::Service,
        Ask::OptOutConfirmation => Passed::OptOutConfirmation,
        Ask::Template(Some(TemplateCategory::Utility)) => Passed::Utility,
        Ask::Template(Some(TemplateCategory::Authentication)) => Passed::Authentication,
        Ask::Template(_) => Passed::Marketing,
    };
    if e.allowed {
        return Ok(Ok(passed));
    }
    // An opt-out of everything still lets the desk answer a customer who
    // wrote again afterwards, with service free text inside the window, and
    // confirm the opt-out itself.
    let opted_out_at = e.deciding_event.as_ref().map(|d| d.occurred_at);
    let wrote_after = match (window.last_inbound_at, opted_out_at) {
        (Some(last), Some(at)) => last > at,
        _ => false,
    };
    let exception = e.reason == Reason::OptedOut
        && window.open
        && match ask {
            Ask::Text => wrote_after,
            Ask::OptOutConfirmation => true,
            Ask::Template(_) => false,
        };
    if exception {
        return Ok(Ok(passed));
    }
    Ok(Err(refusal(&e)))
}

fn refusal(e: &Eligibility) -> Refusal {
    let reason = match e.reason {
        Reason::DoNotContact => "do_not_contact",
        Reason::UnderReview => "under_review",
        Reason::OptedOut => "opted_out",
        Reason::Unreachable => "unreachable",
        Reason::ExcludedFromJourney => "excluded_from_journey",
        _ => "not_allowed",
    };
    let mut explanation = e.explanation.clone();
    if let Some(f) = e.fallback {
        explanation.push_str(&format!(" Reach them by {f} instead."));
    }
    Refusal {
        reason,
        explanation,
        policy: e.policy.clone(),
        fallback: e.fallback,
    }
}
