//! Which signal wins: the current preference state of one contact, channel
//! and purpose, derived from its ledger events by the precedence rules of
//! the product design ("which signal wins", summarised in the README).
//!
//! 1. A manual do-not-contact (set by a person in review or by an
//!    administrator) wins over everything until an administrator lifts it. Next, a review hold the policy placed
//!    holds the contact until a person clears it.
//! 2. Between the customer's own statements (opt-out, opt-in) the latest by
//!    the provider's event time wins, not the arrival order.
//! 3. Unreachability suppresses WhatsApp until evidence of reachability (a
//!    later inbound message or delivered status).
//! 4. Transient errors never reach the ledger, so they never suppress.
//!
//! Ties at the same instant resolve towards suppression, and then by id, so
//! the answer never depends on the order events arrived in.

use serde::Serialize;

use crate::clock::Millis;
use crate::model::{PrefChannel, Purpose};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    OptOut,
    OptIn,
    Unreachable,
    DncSet,
    DncLift,
    /// The policy holds the contact for a person to decide.
    ReviewSet,
    ReviewCleared,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::OptOut => "opt_out",
            Effect::OptIn => "opt_in",
            Effect::Unreachable => "unreachable",
            Effect::DncSet => "dnc_set",
            Effect::DncLift => "dnc_lift",
            Effect::ReviewSet => "review_set",
            Effect::ReviewCleared => "review_cleared",
        }
    }

    pub fn parse(s: &str) -> Option<Effect> {
        Effect::ALL.into_iter().find(|e| e.as_str() == s)
    }

    pub const ALL: [Effect; 7] = [
        Effect::OptOut,
        Effect::OptIn,
        Effect::Unreachable,
        Effect::DncSet,
        Effect::DncLift,
        Effect::ReviewSet,
        Effect::ReviewCleared,
    ];

    /// At the same instant, the suppressing signal wins.
    fn suppresses(self) -> bool {
        matches!(
            self,
            Effect::OptOut | Effect::DncSet | Effect::Unreachable | Effect::ReviewSet
        )
    }
}

/// One ledger row, as the precedence rules need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEvent {
    pub id: String,
    pub channel: PrefChannel,
    pub purpose: Purpose,
    pub effect: Effect,
    pub signal: String,
    pub source: String,
    pub occurred_at: Millis,
    pub evidence_message_id: Option<String>,
    pub evidence_status: Option<String>,
    pub evidence_code: Option<String>,
    pub actor: Option<String>,
    pub reason: Option<String>,
    /// The policy line that produced this row, when one did.
    pub policy: Option<String>,
}

/// Why a contact may or may not be messaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Nothing in the ledger speaks against it.
    NoSignal,
    /// The customer opted in after (or without) opting out.
    OptedIn,
    /// An administrator lifted a do-not-contact and nothing else suppresses.
    DncLifted,
    /// A later reply or delivery proved the number reachable again.
    Reachable,
    DoNotContact,
    /// The policy holds the contact until a person reviews it.
    UnderReview,
    OptedOut,
    Unreachable,
    /// Allowed by the ledger, but the policy took the contact out of this journey.
    ExcludedFromJourney,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    /// The event that decided, when one did.
    pub deciding: Option<LedgerEvent>,
}

/// The question: may we message this contact on `channel` for `purpose`?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    pub channel: PrefChannel,
    pub purpose: Purpose,
}

/// Whether an event's scope covers the question. A statement about all
/// purposes covers marketing too; one about marketing says nothing about
/// service messages.
fn covers(event: &LedgerEvent, query: Query) -> bool {
    event.channel == query.channel
        && (event.purpose == Purpose::All || event.purpose == query.purpose)
}

/// The latest of `events` by event time; suppression first at a tie, then id.
fn latest<'a>(events: impl Iterator<Item = &'a LedgerEvent>) -> Option<&'a LedgerEvent> {
    events.max_by(|a, b| {
        a.occurred_at
            .cmp(&b.occurred_at)
            .then(a.effect.suppresses().cmp(&b.effect.suppresses()))
            .then(b.id.cmp(&a.id))
    })
}

/// Decides from the contact's ledger events and the times of any
/// reachability evidence (inbound messages, delivered statuses) on WhatsApp.
pub fn decide(query: Query, events: &[LedgerEvent], reach_evidence: &[Millis]) -> Decision {
    let relevant = || events.iter().filter(move |e| covers(e, query));
    let dnc = latest(relevant().filter(|e| matches!(e.effect, Effect::DncSet | Effect::DncLift)));
    if let Some(e) = dnc.filter(|e| e.effect == Effect::DncSet) {
        return deny(Reason::DoNotContact, e);
    }
    let review = latest(
        relevant().filter(|e| matches!(e.effect, Effect::ReviewSet | Effect::ReviewCleared)),
    );
    if let Some(e) = review.filter(|e| e.effect == Effect::ReviewSet) {
        return deny(Reason::UnderReview, e);
    }
    let statement =
        latest(relevant().filter(|e| matches!(e.effect, Effect::OptOut | Effect::OptIn)));
    if let Some(e) = statement.filter(|e| e.effect == Effect::OptOut) {
        return deny(Reason::OptedOut, e);
    }
    let unreachable = latest(relevant().filter(|e| e.effect == Effect::Unreachable));
    if let Some(e) = unreachable {
        match reach_evidence
            .iter()
            .copied()
            .filter(|t| *t > e.occurred_at)
            .max()
        {
            None => return deny(Reason::Unreachable, e),
            Some(_) => return allow(Reason::Reachable, Some(e)),
        }
    }
    match (statement, dnc) {
        (Some(e), _) => allow(Reason::OptedIn, Some(e)),
        (None, Some(e)) => allow(Reason::DncLifted, Some(e)),
        (None, None) => allow(Reason::NoSignal, None),
    }
}

fn deny(reason: Reason, e: &LedgerEvent) -> Decision {
    Decision {
        allowed: false,
        reason,
        deciding: Some(e.clone()),
    }
}

fn allow(reason: Reason, e: Option<&LedgerEvent>) -> Decision {
    Decision {
        allowed: true,
        reason,
        deciding: e.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(id: &str, effect: Effect, purpose: Purpose, at: Millis) -> LedgerEvent {
        LedgerEvent {
            id: id.into(),
            channel: PrefChannel::Whatsapp,
            purpose,
            effect,
            signal: "test".into(),
            source: "customer".into(),
            occurred_at: at,
            evidence_message_id: None,
            evidence_status: None,
            evidence_code: None,
            actor: None,
            reason: None,
            policy: None,
        }
    }

    const MARKETING: Query = Query {
        channel: PrefChannel::Whatsapp,
        purpose: Purpose::Marketing,
    };
    const ANY: Query = Query {
        channel: PrefChannel::Whatsapp,
        purpose: Purpose::All,
    };

    #[test]
    fn nothing_in_the_ledger_allows() {
        let d = decide(MARKETING, &[], &[]);
        assert!(d.allowed);
        assert_eq!(d.reason, Reason::NoSignal);
    }

    #[test]
    fn opt_in_before_opt_out_by_event_time_stays_suppressed() {
        // The opt-in arrived last but happened first.
        let events = [
            ev("b", Effect::OptOut, Purpose::All, 200),
            ev("a", Effect::OptIn, Purpose::All, 100),
        ];
        let d = decide(MARKETING, &events, &[]);
        assert!(!d.allowed);
        assert_eq!(d.deciding.unwrap().id, "b");
    }

    #[test]
    fn a_later_opt_in_lifts_an_opt_out() {
        let events = [
            ev("a", Effect::OptOut, Purpose::All, 100),
            ev("b", Effect::OptIn, Purpose::All, 200),
        ];
        assert_eq!(decide(ANY, &events, &[]).reason, Reason::OptedIn);
    }

    #[test]
    fn a_marketing_opt_out_leaves_service_messages_allowed() {
        let events = [ev("a", Effect::OptOut, Purpose::Marketing, 100)];
        assert!(!decide(MARKETING, &events, &[]).allowed);
        assert!(decide(ANY, &events, &[]).allowed);
    }

    #[test]
    fn a_marketing_opt_in_does_not_lift_an_opt_out_of_everything_for_service() {
        let events = [
            ev("a", Effect::OptOut, Purpose::All, 100),
            ev("b", Effect::OptIn, Purpose::Marketing, 200),
        ];
        assert!(
            decide(MARKETING, &events, &[]).allowed,
            "the customer asked for marketing again"
        );
        assert!(!decide(ANY, &events, &[]).allowed);
    }

    #[test]
    fn manual_do_not_contact_wins_over_a_later_opt_in() {
        let events = [
            ev("a", Effect::DncSet, Purpose::All, 100),
            ev("b", Effect::OptIn, Purpose::All, 200),
        ];
        assert_eq!(decide(MARKETING, &events, &[]).reason, Reason::DoNotContact);
        let lifted = [
            events[0].clone(),
            events[1].clone(),
            ev("c", Effect::DncLift, Purpose::All, 300),
        ];
        assert_eq!(decide(MARKETING, &lifted, &[]).reason, Reason::OptedIn);
    }

    #[test]
    fn unreachable_holds_until_a_later_sign_of_life() {
        let events = [ev("a", Effect::Unreachable, Purpose::All, 100)];
        assert_eq!(
            decide(ANY, &events, &[50]).reason,
            Reason::Unreachable,
            "older evidence does not count"
        );
        assert_eq!(decide(ANY, &events, &[150]).reason, Reason::Reachable);
    }

    #[test]
    fn reachability_does_not_lift_an_opt_out() {
        let events = [
            ev("a", Effect::OptOut, Purpose::All, 100),
            ev("b", Effect::Unreachable, Purpose::All, 150),
        ];
        assert_eq!(decide(ANY, &events, &[200]).reason, Reason::OptedOut);
    }

    #[test]
    fn a_review_holds_every_purpose_until_cleared_but_not_a_do_not_contact() {
        let events = [
            ev("a", Effect::OptIn, Purpose::All, 100),
            ev("b", Effect::ReviewSet, Purpose::All, 150),
        ];
        assert_eq!(decide(ANY, &events, &[]).reason, Reason::UnderReview);
        let cleared = [
            events[0].clone(),
            events[1].clone(),
            ev("c", Effect::ReviewCleared, Purpose::All, 200),
        ];
        assert_eq!(decide(ANY, &cleared, &[]).reason, Reason::OptedIn);
        let dnc = [ev("d", Effect::DncSet, Purpose::All, 50), events[1].clone()];
        assert_eq!(
            decide(ANY, &dnc, &[]).reason,
            Reason::DoNotContact,
            "do-not-contact still wins"
        );
    }

    #[test]
    fn at_the_same_instant_the_opt_out_wins() {
        let events = [
            ev("z", Effect::OptIn, Purpose::All, 100),
            ev("a", Effect::OptOut, Purpose::All, 100),
        ];
        assert!(!decide(ANY, &events, &[]).allowed);
    }

    #[test]
    fn other_channels_do_not_count() {
        let mut e = ev("a", Effect::OptOut, Purpose::All, 100);
        e.channel = PrefChannel::Email;
        assert!(decide(ANY, &[e], &[]).allowed);
    }

    fn arb_event() -> impl Strategy<Value = LedgerEvent> {
        let effects = prop_oneof![
            Just(Effect::OptOut),
            Just(Effect::OptIn),
            Just(Effect::Unreachable),
            Just(Effect::DncSet),
            Just(Effect::DncLift),
            Just(Effect::ReviewSet),
            Just(Effect::ReviewCleared)
        ];
        let purposes = prop_oneof![Just(Purpose::Marketing), Just(Purpose::All)];
        let channels = prop_oneof![Just(PrefChannel::Whatsapp), Just(PrefChannel::Email)];
        (0u32..1000, effects, purposes, channels, 0i64..20).prop_map(
            |(id, effect, purpose, channel, at)| {
                let mut e = ev(&format!("e{id}"), effect, purpose, at);
                e.channel = channel;
                e
            },
        )
    }

    proptest! {
        #[test]
        fn the_answer_does_not_depend_on_arrival_order(
            events in proptest::collection::vec(arb_event(), 0..12),
            reach in proptest::collection::vec(0i64..20, 0..3),
            seed in any::<u64>(),
        ) {
            let mut shuffled = events.clone();
            // A deterministic shuffle from the seed.
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let j = (s >> 33) as usize % (i + 1);
                shuffled.swap(i, j);
            }
            for q in [MARKETING, ANY, Query { channel: PrefChannel::Email, purpose: Purpose::Marketing }] {
                prop_assert_eq!(decide(q, &events, &reach), decide(q, &shuffled, &reach));
            }
        }
    }
}
