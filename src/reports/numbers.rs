//! The report for machines: `GET /api/v1/reports/journeys`. Built from the
//! same [`Report`] as the page, so the two agree. Field names are kept
//! stable; new fields are added, none renamed.

use serde::Serialize;

use super::query::{Line, Report};
use crate::clock::Millis;

#[derive(Debug, Serialize)]
pub struct JourneysAnswer {
    /// First and last UTC day of the period (inclusive).
    pub from: String,
    pub to: String,
    /// The currency of `conversion_value`.
    pub currency: String,
    /// When the report facts were last brought up to date.
    pub refreshed_at: Option<Millis>,
    pub journeys: Vec<JourneyNumbers>,
}

#[derive(Debug, Serialize)]
pub struct JourneyNumbers {
    /// `null` for sends registered without a journey.
    pub journey: Option<String>,
    /// Registered sends in the period.
    pub sent: i64,
    pub delivered: i64,
    pub read: i64,
    /// Failed and never delivered.
    pub failed: i64,
    /// Replies attributed to the sends.
    pub replies: i64,
    /// Sends answered with an opt-out.
    pub opt_outs: i64,
    /// Attributed conversions, plus unattributed ones that named the journey.
    pub conversions: i64,
    pub conversion_value: f64,
    /// Sends with at least one reply / conversion.
    pub replied: i64,
    pub converted: i64,
    pub delivery_rate: Option<f64>,
    pub opt_out_rate: Option<f64>,
    pub conversion_rate: Option<f64>,
    pub failed_by_effect: FailedByEffect,
    pub replies_by_category: RepliesByCategory,
    pub outcomes: Outcomes,
    pub fallback: Fallback,
    /// Conversations opened in the period from this journey's sends.
    pub conversations: i64,
    pub first_response_p50_ms: Option<Millis>,
    pub first_response_p90_ms: Option<Millis>,
    pub sla_breach_rate: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct FailedByEffect {
    pub unreachable: i64,
    pub opt_out: i64,
    pub content: i64,
    pub window: i64,
    pub transient: i64,
    pub account: i64,
}

#[derive(Debug, Serialize)]
pub struct RepliesByCategory {
    pub opt_out: i64,
    pub interest: i64,
    pub confusion: i64,
    pub service: i64,
    pub noise: i64,
}

/// Each send once: where it stopped.
#[derive(Debug, Serialize)]
pub struct Outcomes {
    pub no_delivery: i64,
    pub delivered_no_reply: i64,
    pub replied_no_conversion: i64,
    pub converted: i64,
}

#[derive(Debug, Serialize)]
pub struct Fallback {
    /// Failed sends whose fallback notice was queued / delivered to the sending platform.
    pub queued: i64,
    pub used: i64,
    pub converted: i64,
    /// Failed sends with no fallback.
    pub none: i64,
}

fn numbers(l: &Line) -> JourneyNumbers {
    let c = &l.counts;
    JourneyNumbers {
        journey: l.key.clone(),
        sent: c.sent,
        delivered: c.delivered,
        read: c.read,
        failed: c.failed,
        replies: c.replies,
        opt_outs: c.opted_out,
        conversions: l.conversions(),
        conversion_value: (l.conversion_value() * 100.0).round() / 100.0,
        replied: c.replied,
        converted: c.converted,
        delivery_rate: l.delivery_rate(),
        opt_out_rate: l.opt_out_rate(),
        conversion_rate: l.conversion_rate(),
        failed_by_effect: FailedByEffect {
            unreachable: c.f_unreachable,
            opt_out: c.f_opt_out,
            content: c.f_content,
            window: c.f_window,
            transient: c.f_transient,
            account: c.f_account,
        },
        replies_by_category: RepliesByCategory {
            opt_out: c.r_opt_out,
            interest: c.r_interest,
            confusion: c.r_confusion,
            service: c.r_service,
            noise: c.r_noise,
        },
        outcomes: Outcomes {
            no_delivery: c.sent - c.reached,
            delivered_no_reply: c.reached - c.replied,
            replied_no_conversion: c.replied - c.replied_converted,
            converted: c.converted,
        },
        fallback: Fallback {
            queued: c.fallback_queued,
            used: c.fallback_delivered,
            converted: c.fallback_converted,
            none: c.failed_no_fallback,
        },
        conversations: l.handling.opened,
        first_response_p50_ms: l.handling.percentile(0.5),
        first_response_p90_ms: l.handling.percentile(0.9),
        sla_breach_rate: l.handling.breach_rate(),
    }
}

/// The journeys of a report (grouped by journey), most sends first.
pub fn journeys(report: &Report) -> JourneysAnswer {
    JourneysAnswer {
        from: report.period.from_label(),
        to: report.period.to_label(),
        currency: report.currency.clone(),
        refreshed_at: report.refreshed_at,
        journeys: report.journeys.iter().map(numbers).collect(),
    }
}
