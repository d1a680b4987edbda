//! Reports: conversion attribution, CSV import, report numbers for a
//! scenario counted by hand, and alerts that fire once per window.

use crate::helpers::*;
use crate::on_both_databases;
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Routes every waiting reply. On PostgreSQL the desk's own router may hold
/// some of them (SKIP LOCKED) when the test asks: wait for it to commit.
async fn route_all(app: &TestApp) {
    for _ in 0..500 {
        app.route_now().await;
        if app
            .count("SELECT COUNT(*) FROM events WHERE routed_at IS NULL")
            .await
            == 0
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("replies were not routed within 5 seconds");
}

/// Brings the report facts up to date, as the background worker does.
async fn refresh(app: &TestApp) {
    let codes = app.state.signals.status_codes.load();
    replydesk::reports::refresh(app.db(), &app.state.config, &codes, app.now())
        .await
        .unwrap();
}

async fn register(
    app: &TestApp,
    id: &str,
    phone: &str,
    journey: &str,
    sent_at: i64,
    fallback: bool,
) {
    let campaign = if journey == "welcome" { "nov" } else { "q4" };
    let mut body = json!({
        "message_id": id, "contact": phone, "journey": journey, "campaign": campaign,
        "template": format!("{journey}_1"), "purpose": "marketing", "sent_at": sent_at,
    });
    if fallback {
        body["fallback_channel"] = json!("email");
    }
    assert_eq!(
        app.register_outbound(body).await.status(),
        201,
        "registering {id}"
    );
}

async fn post_conversion(app: &TestApp, key: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url("/api/v1/conversions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

on_both_databases! {
    async fn conversions_are_attributed_by_message_id_then_window_else_kept_unattributed(app: TestApp) {
        let key = app.api_key().await;
        let x = "+31612345101";
        register(&app, "wamid.old", x, "welcome", T0 - 10 * DAY, false).await;
        register(&app, "wamid.a", x, "welcome", T0 - 3 * DAY, false).await;
        register(&app, "wamid.b", x, "renewal", T0 - DAY, false).await;
        register(&app, "wamid.z", "+31612345103", "welcome", T0 - 8 * DAY, false).await;
        let cases = [
            ("explicit id wins, even outside the window",
             json!({"external_id": "c1", "contact": x, "type": "purchase", "value": 10, "currency": "EUR", "occurred_at": iso(T0), "message_id": "wamid.old"}),
             "message_id", Some("wamid.old")),
            ("the latest send within the window",
             json!({"external_id": "c2", "contact": x, "type": "booking", "occurred_at": iso(T0)}),
             "window", Some("wamid.b")),
            ("only sends before the conversion count",
             json!({"external_id": "c3", "contact": x, "type": "form", "occurred_at": T0 - 2 * DAY}),
             "window", Some("wamid.a")),
            ("a named journey narrows the window",
             json!({"external_id": "c4", "contact": x, "type": "call", "occurred_at": iso(T0), "journey": "welcome"}),
             "window", Some("wamid.a")),
            ("an unknown message id falls back to the window",
             json!({"external_id": "c5", "contact": x, "type": "purchase", "occurred_at": iso(T0), "message_id": "wamid.nope"}),
             "window", Some("wamid.b")),
            ("a send older than the window does not count",
             json!({"external_id": "c6", "contact": "+31612345103", "type": "purchase", "occurred_at": iso(T0)}),
             "none", None),
            ("no send and a journey: kept under the journey",
             json!({"external_id": "c7", "contact": "+31612345102", "type": "quote_accepted", "occurred_at": iso(T0), "journey": "spring"}),
             "journey", None),
        ];
        for (case, body, by, message) in cases {
            let (status, answer) = post_conversion(&app, &key, body).await;
            assert_eq!(status, 201, "{case}: {answer}");
            assert_eq!(answer["created"], true, "{case}");
            assert_eq!(answer["attributed_to"]["by"], by, "{case}: {answer}");
            assert_eq!(answer["attributed_to"]["message_id"].as_str(), message, "{case}: {answer}");
        }
        let (_, unknown) = post_conversion(&app, &key, json!({"external_id": "c5", "contact": x, "type": "purchase", "occurred_at": iso(T0)})).await;
        assert_eq!(unknown["attributed_to"]["message_id"], "wamid.b", "a repeat answers what was recorded");
        // A repeat with other data changes nothing.
        let (status, again) = post_conversion(&app, &key, json!({"external_id": "c1", "contact": "+31612345102", "type": "refund", "occurred_at": iso(T0)})).await;
        assert_eq!((status, again["created"].as_bool()), (200, Some(false)));
        assert_eq!(again["attributed_to"]["message_id"], "wamid.old");
        assert_eq!(app.count("SELECT COUNT(*) FROM conversions").await, 7);
        assert_eq!(app.count("SELECT COUNT(*) FROM conversions WHERE external_id = 'c1' AND type = 'purchase'").await, 1);
    }
}

on_both_databases! {
    async fn a_bad_conversion_names_the_field(app: TestApp) {
        let key = app.api_key().await;
        let cases = [
            (json!({"external_id": "b1", "contact": "0612345678", "type": "purchase", "occurred_at": iso(T0)}), "contact"),
            (json!({"external_id": "b2", "contact": "+31612345101", "type": "purchase", "currency": "euro", "occurred_at": iso(T0)}), "currency"),
            (json!({"external_id": "b3", "contact": "+31612345101", "type": "purchase", "value": -5, "occurred_at": iso(T0)}), "value"),
            (json!({"external_id": "b4", "contact": "+31612345101", "type": "purchase", "occurred_at": "last tuesday"}), "occurred_at"),
            (json!({"external_id": "", "contact": "+31612345101", "type": "purchase", "occurred_at": iso(T0)}), "external_id"),
            (json!({"external_id": "b6", "contact": "+31612345101", "type": "a purchase!", "occurred_at": iso(T0)}), "type"),
        ];
        for (body, field) in cases {
            let (status, answer) = post_conversion(&app, &key, body).await;
            assert_eq!((status, answer["field"].as_str()), (400, Some(field)), "{answer}");
            assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
        }
        let r = app.client.post(app.url("/api/v1/conversions")).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 401, "an API key is required");
        assert_eq!(app.count("SELECT COUNT(*) FROM conversions").await, 0);
    }
}

const CSV: &str = "external_id,contact,type,value,currency,occurred_at,message_id,journey
csv-1,+31612340001,purchase,10.5,EUR,2026-11-26T09:00:00Z,,
csv-2,0612340002,purchase,,,2026-11-26T09:00:00Z,,
csv-3,+31612340003,purchase,abc,,2026-11-26T09:00:00Z,,
csv-4,+31612340004,booking,,,yesterday,,
csv-5,+31612340005,form,,,1795683600000,,spring
csv-1,+31612340001,purchase,10.5,EUR,2026-11-26T09:00:00Z,,
";

on_both_databases! {
    async fn a_csv_import_reports_bad_rows_by_line_applies_the_rest_and_can_run_twice(app: TestApp) {
        register(&app, "wamid.csv", "+31612340001", "welcome", T0 - HOUR * 3, false).await;
        let import = || replydesk::reports::conversions::import_csv(
            app.db(), &app.state.config, CSV.as_bytes(), "csv:test.csv", app.now(), |_| {});
        let first = import().await.unwrap();
        let lines: Vec<u64> = first.bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4, 5], "{:?}", first.bad);
        assert!(first.bad[0].reason.starts_with("contact:"), "{:?}", first.bad[0]);
        assert!(first.bad[1].reason.starts_with("value:"), "{:?}", first.bad[1]);
        assert!(first.bad[2].reason.starts_with("occurred_at:"), "{:?}", first.bad[2]);
        assert_eq!((first.rows, first.recorded, first.repeats, first.attributed), (6, 2, 1, 1));
        let second = import().await.unwrap();
        assert_eq!((second.recorded, second.repeats, second.bad.len()), (0, 3, 3), "a second run changes nothing");
        assert_eq!(app.count("SELECT COUNT(*) FROM conversions").await, 2);
        assert_eq!(app.count("SELECT COUNT(*) FROM conversions WHERE message_id = 'wamid.csv'").await, 1);
        let wrong = replydesk::reports::conversions::import_csv(
            app.db(), &app.state.config, "id,phone\n1,+31612340001\n".as_bytes(), "csv:x", app.now(), |_| {}).await;
        assert!(wrong.unwrap_err().to_string().contains("line 1"), "a wrong header is refused before any row");
    }
}

/// The scenario of the report test, on 2026-11-26 (T0 is 10:00 UTC):
///
/// welcome (campaign nov), four sends at 08:00:
///   A delivered, read, replied with interest, bought for 100 (window)
///   B delivered, replied STOP
///   C failed 131026 (unreachable), fallback to email queued; bought for 50 naming the send
///   D no status
/// renewal (campaign q4), two sends at 09:00:
///   E delivered; F failed 131047 (window), no fallback channel
/// plus a conversion of 30 naming journey renewal without any send, and one
/// of 20 with neither, from contacts never messaged.
async fn scenario(app: &TestApp) -> (String, String) {
    // Built once while empty, so what follows goes through the incremental refresh.
    refresh(app).await;
    let phones = [
        "31612345001",
        "31612345002",
        "31612345003",
        "31612345004",
        "31612345005",
        "31612345006",
    ];
    let e164 = |i: usize| format!("+{}", phones[i]);
    for (i, id) in ["wa.A", "wa.B", "wa.C", "wa.D"].iter().enumerate() {
        register(app, id, &e164(i), "welcome", T0 - 2 * HOUR, true).await;
    }
    register(app, "wa.E", &e164(4), "renewal", T0 - HOUR, false).await;
    register(app, "wa.F", &e164(5), "renewal", T0 - HOUR, false).await;
    let ts = (T0 - 90 * 60_000) / 1000;
    for (i, id, status, code) in [
        (0, "wa.A", "delivered", None),
        (0, "wa.A", "read", None),
        (1, "wa.B", "delivered", None),
        (2, "wa.C", "failed", Some(131_026)),
        (4, "wa.E", "delivered", None),
        (5, "wa.F", "failed", Some(131_047)),
    ] {
        assert_eq!(
            app.post_meta(&meta_status(phones[i], id, status, ts, code))
                .await
                .status(),
            200
        );
    }
    app.post_meta(&meta_text(
        phones[0],
        "wa.in.A",
        "How much does it cost?",
        T0 / 1000,
    ))
    .await;
    app.post_meta(&meta_text(phones[1], "wa.in.B", "STOP", T0 / 1000))
        .await;
    route_all(app).await;
    let key = app.api_key().await;
    for body in [
        json!({"external_id": "o-A", "contact": e164(0), "type": "purchase", "value": 100, "currency": "EUR", "occurred_at": iso(T0 + 60_000)}),
        json!({"external_id": "o-C", "contact": e164(2), "type": "purchase", "value": 50, "occurred_at": iso(T0), "message_id": "wa.C"}),
        json!({"external_id": "o-G", "contact": "+31612345007", "type": "booking", "value": 30, "occurred_at": iso(T0), "journey": "renewal"}),
        json!({"external_id": "o-H", "contact": "+31612345008", "type": "booking", "value": 20, "occurred_at": iso(T0)}),
    ] {
        assert_eq!(post_conversion(app, &key, body).await.0, 201);
    }
    let conversation = |id: &'static str| async move {
        sqlx::query_scalar::<_, String>("SELECT conversation_id FROM events WHERE provider_id = $1")
            .bind(id)
            .fetch_one(app.db().reader())
            .await
            .unwrap()
    };
    (conversation("wa.in.A").await, conversation("wa.in.B").await)
}

on_both_databases! {
    async fn the_report_counts_a_scenario_as_counted_by_hand(app: TestApp) {
        let (interest, _stop) = scenario(&app).await;
        // A lead answers the interested customer 10 minutes after the reply;
        // the SLA worker recorded a breach on that conversation.
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        app.clock.set(T0 + 10 * 60_000);
        assert_eq!(lead.hx_post(&format!("/conversations/{interest}/respond"), &[("kind", "call")]).await.status(), 200);
        sqlx::query("INSERT INTO sla_events (id, conversation_id, target, kind, level, due_at, at, team) \
                     VALUES ('sla-1', $1, 'first_response', 'breached', 1, $2, $2, 'sales')")
            .bind(&interest).bind(T0 + 5 * 60_000).execute(app.db().writer()).await.unwrap();
        refresh(&app).await;

        let key = app.api_key().await;
        let r = app.client.get(app.url("/api/v1/reports/journeys")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!((v["from"].as_str(), v["to"].as_str()), (Some("2026-10-28"), Some("2026-11-26")), "default: the last 30 days");
        let journeys = v["journeys"].as_array().unwrap();
        let journey = |name: Option<&str>| journeys.iter().find(|j| j["journey"].as_str() == name).unwrap_or_else(|| panic!("{name:?} in {v}"));
        let welcome = journey(Some("welcome"));
        let fields = ["sent", "delivered", "read", "failed", "replies", "opt_outs", "conversions"];
        let counts = |j: &Value| fields.map(|f| j[f].as_i64().unwrap());
        assert_eq!(counts(welcome), [4, 2, 1, 1, 2, 1, 2], "welcome: {welcome}");
        assert_eq!(welcome["conversion_value"], 150.0);
        assert_eq!(welcome["opt_out_rate"], 0.5, "1 opt-out of 2 delivered");
        assert_eq!(welcome["conversion_rate"], 0.5, "2 converted of 4 sent");
        assert_eq!(welcome["failed_by_effect"]["unreachable"], 1);
        assert_eq!(welcome["replies_by_category"], json!({"opt_out": 1, "interest": 1, "confusion": 0, "service": 0, "noise": 0}));
        assert_eq!(welcome["outcomes"], json!({"no_delivery": 2, "delivered_no_reply": 0, "replied_no_conversion": 1, "converted": 2}));
        assert_eq!(welcome["fallback"], json!({"queued": 1, "used": 0, "converted": 1, "none": 0}));
        assert_eq!(welcome["conversations"], 2);
        assert_eq!(welcome["first_response_p50_ms"], 10 * 60_000);
        assert_eq!(welcome["sla_breach_rate"], 1.0, "1 breach of 1 routed conversation");
        let renewal = journey(Some("renewal"));
        assert_eq!(counts(renewal), [2, 1, 0, 1, 0, 0, 1], "renewal: {renewal}");
        assert_eq!(renewal["conversion_value"], 30.0, "the conversion that named the journey");
        assert_eq!(renewal["failed_by_effect"]["window"], 1);
        assert_eq!(renewal["fallback"]["none"], 1);
        assert_eq!(renewal["first_response_p50_ms"], Value::Null);
        let none = journey(None);
        assert_eq!((none["sent"].as_i64(), none["conversions"].as_i64(), none["conversion_value"].as_f64()), (Some(0), Some(1), Some(20.0)));
        assert_eq!(journeys[0]["journey"], "welcome", "most sends first");

        // The page's CSV downloads hold the same numbers.
        let csv = |table: &'static str, by: &'static str| {
            let lead = &lead;
            async move {
                let r = lead.get(&format!("/reports.csv?table={table}&by={by}")).await;
                assert_eq!(r.status(), 200);
                assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
                r.text().await.unwrap()
            }
        };
        let funnel = csv("funnel", "journey").await;
        assert!(funnel.starts_with("Journey,Sent,Delivered,Read,Replied,Converted,Conversion rate\n"), "{funnel}");
        assert!(funnel.contains("\nwelcome,4,2,1,2,2,0.5000\n"), "{funnel}");
        assert!(funnel.contains("\nrenewal,2,1,0,0,0,0.0000\n"), "{funnel}");
        let groups = csv("groups", "campaign").await;
        assert!(groups.contains("\nnov,4,2,1,1,2,1,0.5000,2,0.5000,150.00\n"), "{groups}");
        assert!(groups.contains("\nq4,2,1,0,1,0,0,0.0000,0,0.0000,0.00\n"), "{groups}");
        let teams = csv("response", "team").await;
        assert!(teams.contains("\nsales,1,1,1,10,10,1,1.0000\n"), "{teams}");
        let outcomes = csv("outcomes", "journey").await;
        assert!(outcomes.contains("\nNo delivery,3,0.5000\n"), "C, D and F: {outcomes}");
        let daily = csv("daily", "journey").await;
        assert!(daily.contains("\n2026-11-26,6,3,1,2,2,1,4,200.00\n"), "{daily}");
        assert!(daily.contains("\n2026-11-25,0,0,0,0,0,0,0,0.00\n"), "days without sends are shown: {daily}");

        let page = lead.get("/reports").await.text().await.unwrap();
        for id in ["chart-daily", "chart-funnel", "table-daily", "table-funnel", "csv-daily", "attention"] {
            assert!(page.contains(&format!("id=\"{id}\"")), "{id} on the page");
        }
        assert!(page.contains("<polyline"), "the daily chart is drawn on the server");
    }
}

on_both_databases! {
    async fn an_agent_resolving_as_converted_records_one_conversion(app: TestApp) {
        register(&app, "wa.R", "+31612345201", "welcome", T0 - HOUR, false).await;
        refresh(&app).await;
        app.post_meta(&meta_text("31612345201", "wa.in.R", "How much does it cost?", T0 / 1000)).await;
        route_all(&app).await;
        let id: String = sqlx::query_scalar("SELECT conversation_id FROM events WHERE provider_id = 'wa.in.R'")
            .fetch_one(app.db().reader()).await.unwrap();
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let base = format!("/conversations/{id}");
        agent.hx_post(&format!("{base}/resolve"), &[("outcome", "converted")]).await;
        agent.hx_post(&format!("{base}/reopen"), &[]).await;
        agent.hx_post(&format!("{base}/resolve"), &[("outcome", "converted")]).await;
        assert_eq!(app.count("SELECT COUNT(*) FROM conversions").await, 1, "one per conversation");
        let (by, message): (String, String) = {
            use sqlx::Row;
            let r = sqlx::query("SELECT attributed_by, message_id FROM conversions").fetch_one(app.db().reader()).await.unwrap();
            (r.try_get(0).unwrap(), r.try_get(1).unwrap())
        };
        assert_eq!((by.as_str(), message.as_str()), ("conversation", "wa.R"));
        // Reports count it under the send.
        refresh(&app).await;
        let key = app.api_key().await;
        let v: Value = app.client.get(app.url("/api/v1/reports/journeys?from=2026-11-26&to=2026-11-26")).bearer_auth(&key)
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(v["journeys"][0]["conversions"], 1, "{v}");
    }
}

on_both_databases! {
    async fn the_reports_are_for_leads_and_the_api_checks_its_period(app: TestApp) {
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        assert_eq!(agent.get("/reports").await.status(), 403);
        assert_eq!(agent.get("/reports.csv?table=daily").await.status(), 403);
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        assert_eq!(lead.get("/reports").await.status(), 200, "an empty desk has a report too");
        assert_eq!(lead.get("/reports.csv?table=nope").await.status(), 400);
        let key = app.api_key().await;
        for (query, field) in [("from=yesterday", "from"), ("from=2026-11-20&to=2026-11-01", "from"), ("to=2026-02-30", "to")] {
            let r = app.client.get(app.url(&format!("/api/v1/reports/journeys?{query}"))).bearer_auth(&key).send().await.unwrap();
            assert_eq!(r.status(), 400, "{query}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["field"], field, "{query}: {v}");
        }
        let r = app.client.get(app.url("/api/v1/reports/journeys?from=2026-11-01T10:00:00Z&to=2026-11-02")).bearer_auth(&key).send().await.unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!((v["from"].as_str(), v["to"].as_str()), (Some("2026-11-01"), Some("2026-11-02")), "times widen to whole days");
    }
}

async fn replies(app: &TestApp, from: usize, to: usize, text: &str) {
    for i in from..to {
        let body = meta_text(
            &format!("3161299{i:04}"),
            &format!("wa.al.{i}"),
            text,
            app.now() / 1000,
        );
        assert_eq!(app.post_meta(&body).await.status(), 200);
    }
    route_all(app).await;
}

/// Alerts need an owner to email: the sales team (lead@example.com) owns
/// every channel and journey here.
const OWNED: &str = "[reports]\ndefault_owner = \"sales\"\n";

/// Runs an alert test body on both databases with [`OWNED`] in the config.
macro_rules! with_owners {
    (async fn $name:ident($app:ident: TestApp) $body:block) => {
        $crate::each_database! {
            async fn $name(backend: Backend) {
                let $app = TestApp::spawn_with(backend, OWNED).await;
                $body
            }
        }
    };
}

with_owners! {
    async fn an_opt_out_alert_fires_once_per_window_and_not_below_the_minimum(app: TestApp) {
        app.clock.set(T0 + 30 * 60_000);
        // 5 opt-outs in 19 replies: over 5%, but under the 20 replies the rule needs.
        replies(&app, 0, 5, "STOP").await;
        replies(&app, 5, 19, "How much does it cost?").await;
        let evaluate = || replydesk::reports::evaluate_alerts(app.db(), &app.state.config, app.now());
        assert_eq!(evaluate().await.unwrap(), 0, "below the minimum count");
        replies(&app, 19, 20, "How much does it cost?").await;
        assert_eq!(evaluate().await.unwrap(), 1, "20 replies, 25% opt-outs");
        app.clock.advance(60_000);
        assert_eq!(evaluate().await.unwrap(), 0, "recorded once per window");
        assert_eq!(app.count("SELECT COUNT(*) FROM alerts WHERE rule = 'opt_out_rate' AND scope = 'channel:main'").await, 1);
        // The owner's leads are emailed through the outbox, once.
        let (target, key): (String, String) = {
            use sqlx::Row;
            let r = sqlx::query("SELECT target, idempotency_key FROM outbox WHERE kind = 'email'").fetch_one(app.db().reader()).await.unwrap();
            (r.try_get(0).unwrap(), r.try_get(1).unwrap())
        };
        assert_eq!(target, "lead@example.com");
        assert_eq!(key, format!("alert:opt_out_rate:channel:main:{T0}"));
        // The next window slot still sees the replies in its sliding hour: a new alert.
        app.clock.set(T0 + 70 * 60_000);
        assert_eq!(evaluate().await.unwrap(), 1, "a new window, a new alert");
        app.clock.set(T0 + 2 * HOUR);
        assert_eq!(evaluate().await.unwrap(), 0, "the replies left the sliding window");
        assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'email'").await, 2);

        // Leads see the alerts on the Attention panel and acknowledge them.
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        let page = lead.get("/reports").await.text().await.unwrap();
        assert!(page.contains("Opt-out rate"), "the panel shows the alert");
        let id: String = sqlx::query_scalar("SELECT id FROM alerts ORDER BY at LIMIT 1").fetch_one(app.db().reader()).await.unwrap();
        let r = lead.hx_post(&format!("/reports/alerts/{id}/acknowledge"), &[]).await;
        assert_eq!(r.status(), 200);
        let panel = r.text().await.unwrap();
        assert!(panel.contains("id=\"attention\"") && !panel.contains(&id), "{panel}");
        assert_eq!(app.count("SELECT COUNT(*) FROM alerts WHERE acknowledged_by = 'lead@example.com'").await, 1);
        let fragment = lead.get("/reports/attention").await.text().await.unwrap();
        assert!(fragment.contains("Acknowledge"), "one alert is still open");
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        assert_eq!(agent.hx_post(&format!("/reports/alerts/{id}/acknowledge"), &[]).await.status(), 403);
    }
}

with_owners! {
    async fn dead_letters_and_failures_alert_their_channel_and_journey(app: TestApp) {
        let body = b"{\"object\": \"whatsapp_business_account\", \"entry\": [ not json";
        let sig = replydesk::providers::meta::sign(META_SECRET, body);
        assert_eq!(app.post_meta_to("main", body, Some(&sig)).await.status(), 200);
        // 51 sends in the hour: 45 delivered and 6 failed, 11.8% over the 10% threshold.
        for i in 0..51 {
            let id = format!("wa.f.{i}");
            let phone = format!("+3161288{i:04}");
            register(&app, &id, &phone, "welcome", app.now() - 60_000, false).await;
            let (status, code) = if i < 45 { ("delivered", None) } else { ("failed", Some(131_000)) };
            app.post_meta(&meta_status(&phone[1..], &id, status, app.now() / 1000, code)).await;
        }
        refresh(&app).await;
        let evaluate = || replydesk::reports::evaluate_alerts(app.db(), &app.state.config, app.now());
        assert_eq!(evaluate().await.unwrap(), 3, "dead letters on main; failures on main and on welcome");
        let rules: Vec<String> = sqlx::query_scalar("SELECT rule || ' ' || scope FROM alerts ORDER BY rule, scope")
            .fetch_all(app.db().reader()).await.unwrap();
        assert_eq!(rules, ["dead_letters channel:main", "failure_rate channel:main", "failure_rate journey:welcome"]);
        let summary: String = sqlx::query_scalar("SELECT summary FROM alerts WHERE scope = 'journey:welcome'")
            .fetch_one(app.db().reader()).await.unwrap();
        assert!(summary.contains("11.8%") && summary.contains("6 failed of 51"), "{summary}");
    }
}
