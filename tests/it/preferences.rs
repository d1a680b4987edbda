//! The preferences ledger end to end: signals from webhooks, precedence by
//! event time, status-code effects, eligibility and suppression APIs,
//! manual do-not-contact and fallback delivery.

use crate::helpers::*;
use crate::on_both_databases;
use serde_json::{Value, json};

const WA: &str = "16315551234";
const PHONE: &str = "+16315551234";

fn user_preferences(value: &str, ts: i64) -> String {
    meta_envelope(
        "user_preferences",
        json!({
            "messaging_product": "whatsapp", "metadata": metadata(),
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": WA}],
            "user_preferences": [{"wa_id": WA, "detail": "x", "category": "marketing_messages", "value": value, "timestamp": ts}]
        }),
    )
}

on_both_databases! {
    async fn the_latest_statement_by_event_time_wins_whatever_the_arrival_order(app: TestApp) {
        // The resume happened later but arrives first.
        assert_eq!(app.post_meta(&user_preferences("resume", 1_795_687_200)).await.status(), 200);
        assert_eq!(app.post_meta(&user_preferences("stop", 1_795_687_100)).await.status(), 200);
        let e = app.eligibility(PHONE, "whatsapp", "marketing").await;
        assert_eq!(e["allowed"], true, "{e}");
        assert_eq!(e["reason"], "opted_in");
        assert_eq!(e["deciding_event"]["signal"], "provider_marketing_resume");
        assert_eq!(e["deciding_event"]["occurred_at"], 1_795_687_200_000i64);
        // A newer stop wins.
        app.post_meta(&user_preferences("stop", 1_795_687_300)).await;
        let e = app.eligibility(PHONE, "whatsapp", "marketing").await;
        assert_eq!((e["allowed"].as_bool(), e["reason"].as_str()), (Some(false), Some("opted_out")));
        assert!(app.allowed(PHONE, "whatsapp", "all").await, "a marketing stop leaves service messages allowed");
        assert!(app.allowed(PHONE, "email", "marketing").await, "a WhatsApp stop says nothing about email by itself");
    }
}

on_both_databases! {
    async fn each_status_effect_does_what_the_file_says(app: TestApp) {
        // (wa_id, code, marketing allowed after, service allowed after)
        let cases: [(&str, i64, bool, bool); 8] = [
            ("16315550001", 131_026, false, false), // unreachable
            ("16315550002", 131_050, false, true),  // marketing opt-out
            ("16315550003", 130_429, true, true),   // transient
            ("16315550004", 131_047, true, true),   // window
            ("16315550005", 132_001, true, true),   // content (template)
            ("16315550006", 131_031, true, true),   // account: never the contact's fault
            ("16315550007", 999_999, true, true),   // unknown: transient
            ("16315550008", 131_000, true, true),   // generic: transient
        ];
        for (i, (wa, code, ..)) in cases.iter().enumerate() {
            let r = app.post_meta(&meta_status(wa, &format!("wamid.fail{i}"), "failed", 1_795_687_000, Some(*code))).await;
            assert_eq!(r.status(), 200);
        }
        for (wa, code, marketing, service) in cases {
            let phone = format!("+{wa}");
            assert_eq!(app.allowed(&phone, "whatsapp", "marketing").await, marketing, "code {code}, marketing");
            assert_eq!(app.allowed(&phone, "whatsapp", "all").await, service, "code {code}, service");
        }
        // Twilio: a block and an unsubscribe.
        for (sid, to, code) in [("SMb1", "+31612340001", "63014"), ("SMb2", "+31612340002", "21610"), ("SMb3", "+31612340003", "63016")] {
            let p = params(&[("MessageSid", sid), ("MessageStatus", "failed"), ("ErrorCode", code), ("To", &format!("whatsapp:{to}"))]);
            assert_eq!(app.post_twilio(&p).await.status(), 200);
        }
        let blocked = app.eligibility("+31612340001", "whatsapp", "all").await;
        // The default policy holds a block for review (it is also unreachable underneath).
        assert_eq!(blocked["reason"], "under_review");
        assert_eq!(blocked["deciding_event"]["signal"], "block");
        assert_eq!(blocked["deciding_event"]["evidence_code"], "63014");
        assert_eq!(app.eligibility("+31612340002", "whatsapp", "all").await["reason"], "opted_out");
        assert!(app.allowed("+31612340003", "whatsapp", "all").await, "outside the window is not a suppression");
    }
}

on_both_databases! {
    async fn unreachable_lasts_until_a_sign_of_life(app: TestApp) {
        app.post_meta(&meta_status(WA, "wamid.u1", "failed", 1_795_687_000, Some(131_026))).await;
        let e = app.eligibility(PHONE, "whatsapp", "all").await;
        assert_eq!(e["reason"], "unreachable");
        assert_eq!(e["deciding_event"]["evidence_code"], "131026");
        assert_eq!(e["deciding_event"]["evidence_message_id"], "wamid.u1");
        // An older delivered status is not evidence.
        app.post_meta(&meta_status(WA, "wamid.u0", "delivered", 1_795_686_000, None)).await;
        assert!(!app.allowed(PHONE, "whatsapp", "all").await);
        // A later reply is.
        app.post_meta(&meta_text(WA, "wamid.hi", "hello again", 1_795_687_500)).await;
        let e = app.eligibility(PHONE, "whatsapp", "all").await;
        assert_eq!((e["allowed"].as_bool(), e["reason"].as_str()), (Some(true), Some("reachable")));
    }
}

on_both_databases! {
    async fn a_manual_do_not_contact_wins_until_lifted(app: TestApp) {
        app.post_meta(&user_preferences("resume", 1_795_687_000)).await;
        let contact = replydesk::contacts::identity::id_for_phone(PHONE);
        let now = app.now();
        replydesk::preferences::set_do_not_contact(app.db(), &contact, true, "admin@example.com", "asked by phone", now).await.unwrap();
        // A later opt-in by the customer does not lift an administrator's do-not-contact.
        app.post_meta(&user_preferences("resume", (now / 1000) + 60)).await;
        for channel in ["whatsapp", "email"] {
            let e = app.eligibility(PHONE, channel, "all").await;
            assert_eq!(e["reason"], "do_not_contact", "{channel}");
            assert_eq!(e["deciding_event"]["actor"], "admin@example.com");
            assert_eq!(e["deciding_event"]["reason"], "asked by phone");
        }
        app.clock.advance(120_000);
        replydesk::preferences::set_do_not_contact(app.db(), &contact, false, "admin@example.com", "cleared", app.now()).await.unwrap();
        assert!(app.allowed(PHONE, "whatsapp", "marketing").await);
    }
}

on_both_databases! {
    async fn the_eligibility_api_refuses_bad_questions_clearly(app: TestApp) {
        let key = app.api_key().await;
        for (query, field) in [
            (vec![("contact", "0612345678")], "contact"),
            (vec![("contact", "+1 555")], "contact"),
            (vec![("contact", PHONE), ("channel", "pigeon")], "channel"),
            (vec![("contact", PHONE), ("purpose", "gossip")], "purpose"),
        ] {
            let r = app.client.get(app.url("/api/v1/eligibility")).query(&query).bearer_auth(&key).send().await.unwrap();
            assert_eq!(r.status(), 400, "{query:?}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["field"], field, "{query:?}");
        }
        let unknown = app.eligibility("+44 7911 123456", "whatsapp", "marketing").await;
        assert_eq!((unknown["allowed"].as_bool(), unknown["reason"].as_str()), (Some(true), Some("no_signal")));
        assert_eq!(unknown["contact"], "+447911123456");
    }
}

on_both_databases! {
    async fn sending_platforms_can_sync_changes_and_export_the_list(app: TestApp) {
        app.post_meta(&user_preferences("stop", 1_795_687_000)).await;
        app.post_meta(&meta_status("16315550009", "wamid.x", "failed", 1_795_687_000, Some(131_026))).await;
        let key = app.api_key().await;
        let page: Value = app.client.get(app.url("/api/v1/suppressions?limit=1")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        assert_eq!(page["changes"].as_array().unwrap().len(), 1);
        let next = page["next"].as_str().unwrap().to_string();
        let rest: Value = app.client.get(app.url("/api/v1/suppressions")).query(&[("since", &next)]).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        let changes = rest["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0]["allowed_now"], false);
        let csv = app.client.get(app.url("/api/v1/suppressions.csv")).bearer_auth(&key).send().await.unwrap();
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = csv.text().await.unwrap();
        assert!(text.lines().next().unwrap().starts_with("contact,"));
        assert!(text.contains("+16315551234,,whatsapp,marketing,opted_out"), "{text}");
        assert!(text.contains("+16315550009,,whatsapp,all,unreachable"), "{text}");
        assert!(!text.contains("+16315551234,,whatsapp,all"), "service messages stay allowed");
    }
}

on_both_databases! {
    async fn outbound_registrations_are_idempotent_and_validated(app: TestApp) {
        let body = json!({"message_id": "wamid.out1", "contact": "+44 7911 123456", "journey": "spring-sale",
                          "campaign": "c1", "template": "spring_offer", "purpose": "marketing", "fallback_channel": "email"});
        assert_eq!(app.register_outbound(body.clone()).await.status(), 201);
        let again = app.register_outbound(body).await;
        assert_eq!(again.status(), 200);
        assert_eq!(again.json::<Value>().await.unwrap()["created"], false);
        let bad = app.register_outbound(json!({"message_id": "m2", "contact": "nope", "purpose": "marketing"})).await;
        assert_eq!(bad.status(), 400);
        assert_eq!(bad.json::<Value>().await.unwrap()["field"], "contact");
        let unknown_field = app.register_outbound(json!({"message_id": "m3", "contact": PHONE, "purpose": "x", "colour": "red"})).await;
        assert_eq!(unknown_field.status(), 400);
        assert_eq!(app.count("SELECT COUNT(*) FROM outbound_messages").await, 1);
    }
}

crate::each_database! {
    async fn a_failed_registered_message_falls_back_once_even_when_the_receiver_is_down_at_first(backend: Backend) {
        let receiver = Receiver::start().await;
        let extra = format!(
            "[fallback]\nurl = \"{}\"\nsecret = \"fallback-secret\"\n",
            receiver.url
        );
        let app = TestApp::spawn_with(backend, &extra).await;
        app.register_outbound(json!({"message_id": "wamid.f1", "contact": PHONE, "journey": "renewal", "purpose": "utility", "fallback_channel": "email"})).await;
        // The status carries no recipient: the registration names the contact.
        let status = meta_envelope(
            "messages",
            json!({"messaging_product": "whatsapp", "metadata": metadata(),
            "statuses": [{"id": "wamid.f1", "status": "failed", "timestamp": "1795687000", "errors": [{"code": 131026, "title": "Message undeliverable"}]}]}),
        );
        assert_eq!(app.post_meta(&status).await.status(), 200);
        assert_eq!(
            app.post_meta(&status).await.status(),
            200,
            "a retry queues nothing more"
        );
        assert_eq!(
            app.eligibility(PHONE, "whatsapp", "all").await["reason"],
            "unreachable"
        );
        assert_eq!(app.deliver_now().await, 0, "the receiver is down");
        assert_eq!(app.count("SELECT attempts FROM outbox").await, 1);
        app.clock.advance(10_000);
        assert_eq!(app.deliver_now().await, 0, "not due yet: backoff");
        receiver
            .accept
            .store(true, std::sync::atomic::Ordering::SeqCst);
        app.clock.advance(60_000);
        assert_eq!(app.deliver_now().await, 1);
        app.clock.advance(3_600_000);
        assert_eq!(app.deliver_now().await, 0, "sent once, never again");
        let received = receiver.received.lock().unwrap().clone();
        assert_eq!(received.len(), 1, "{backend:?}");
        let (headers, body) = &received[0];
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (
                v["message_id"].as_str(),
                v["fallback_channel"].as_str(),
                v["journey"].as_str()
            ),
            (Some("wamid.f1"), Some("email"), Some("renewal"))
        );
        assert_eq!(v["failure"]["effect"], "unreachable");
        let sig = headers["x-replydesk-signature"].to_str().unwrap();
        assert_eq!(
            sig,
            replydesk::outbox::sign_body("fallback-secret", body.as_bytes())
        );
        drop(app);
    }
}

on_both_databases! {
    async fn a_stop_reply_suppresses_before_the_webhook_is_answered_and_start_lifts_it(app: TestApp) {
        let r = app.post_meta(&meta_text(WA, "wamid.stop", "STOP", 1_795_687_000)).await;
        assert_eq!(r.status(), 200);
        // No routing, no worker: the ledger row was written with the reply.
        let e = app.eligibility(PHONE, "whatsapp", "marketing").await;
        assert_eq!((e["allowed"].as_bool(), e["reason"].as_str()), (Some(false), Some("opted_out")));
        assert_eq!(e["deciding_event"]["signal"], "keyword_opt_out");
        assert_eq!(e["deciding_event"]["evidence_message_id"], "wamid.stop");
        assert!(!app.allowed(PHONE, "whatsapp", "all").await);
        // A plain later reply opens a conversation but does not re-subscribe.
        app.post_meta(&meta_text(WA, "wamid.q", "How much does it cost?", 1_795_687_100)).await;
        assert!(!app.allowed(PHONE, "whatsapp", "marketing").await);
        // START does.
        app.post_meta(&meta_text(WA, "wamid.start", "START", 1_795_687_200)).await;
        let e = app.eligibility(PHONE, "whatsapp", "marketing").await;
        assert_eq!((e["allowed"].as_bool(), e["deciding_event"]["signal"].as_str()), (Some(true), Some("keyword_opt_in")));
        // A negated stop is not an opt-out.
        app.post_meta(&meta_text("16315550777", "wamid.neg", "don't stop sending me the offers", 1_795_687_300)).await;
        assert!(app.allowed("+16315550777", "whatsapp", "marketing").await);
    }
}
