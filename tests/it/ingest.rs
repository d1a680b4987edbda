//! Receiving webhooks: handshake, signatures, every message and status type,
//! retries, concurrency, dead letters and limits.

use crate::helpers::*;
use crate::on_both_databases;
use serde_json::{Value, json};

fn by_provider_id<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["provider_id"] == id)
        .unwrap_or_else(|| panic!("no stored event with provider id {id}"))
}

on_both_databases! {
    async fn meta_handshake_echoes_the_challenge_only_for_the_right_token(app: TestApp) {
        let ok = app.client.get(app.url(&format!(
            "/webhooks/meta/main?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
        ))).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.text().await.unwrap(), "1158201444");
        let wrong = app.client.get(app.url(
            "/webhooks/meta/main?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"
        )).send().await.unwrap();
        assert_eq!(wrong.status(), 403);
        let unknown = app.client.get(app.url(
            &format!("/webhooks/meta/other?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1")
        )).send().await.unwrap();
        assert_eq!(unknown.status(), 404);
    }
}

on_both_databases! {
    async fn unsigned_or_wrongly_signed_webhooks_are_refused_and_nothing_is_stored(app: TestApp) {
        let body = meta_text("16315551234", "wamid.sig", "hello", 1_795_687_000);
        let cases: Vec<(&str, Option<String>)> = vec![
            ("missing", None),
            ("garbage", Some("sha256=00".into())),
            ("not hex", Some("sha256=zz".into())),
            ("wrong secret", Some(replydesk::providers::meta::sign("another-secret", body.as_bytes()))),
            ("other body", Some(replydesk::providers::meta::sign(META_SECRET, b"{}"))),
            ("no prefix", Some(replydesk::providers::meta::sign(META_SECRET, body.as_bytes()).replace("sha256=", ""))),
        ];
        for (case, sig) in cases {
            let r = app.post_meta_to("main", body.as_bytes(), sig.as_deref()).await;
            assert_eq!(r.status(), 401, "case {case}");
        }
        let r = app.post_twilio_raw(b"MessageSid=SM1&From=whatsapp%3A%2B31612345678&Body=hi".to_vec(), Some("bm9wZQ==")).await;
        assert_eq!(r.status(), 401, "twilio with a bad signature");
        assert_eq!(app.count("SELECT COUNT(*) FROM webhook_payloads").await, 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM events").await, 0);
        let good = app.post_meta(&body).await;
        assert_eq!(good.status(), 200);
        assert_eq!(app.count("SELECT COUNT(*) FROM events").await, 1);
    }
}

on_both_databases! {
    async fn every_meta_message_type_is_normalized(app: TestApp) {
        // Bodies written from Meta's "Webhooks components" reference, one per type.
        let wa = "16315551234";
        let ts = 1_795_687_000;
        let messages = vec![
            json!({"id": "wamid.text", "type": "text", "text": {"body": "What are your prices?"}}),
            json!({"id": "wamid.button", "type": "button", "context": {"from": "15550783881", "id": "wamid.sent1"},
                   "button": {"payload": "STOP_PROMOTIONS", "text": "Stop promotions"}}),
            json!({"id": "wamid.ibutton", "type": "interactive",
                   "interactive": {"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Yes, call me"}}}),
            json!({"id": "wamid.list", "type": "interactive",
                   "interactive": {"type": "list_reply", "list_reply": {"id": "slot-3", "title": "Tuesday 10:00", "description": "Morning"}}}),
            json!({"id": "wamid.reaction", "type": "reaction", "reaction": {"message_id": "wamid.sent1", "emoji": "👍"}}),
            json!({"id": "wamid.image", "type": "image", "image": {"caption": "my broken parcel", "mime_type": "image/jpeg", "sha256": "abc", "id": "media1"}}),
            json!({"id": "wamid.audio", "type": "audio", "audio": {"mime_type": "audio/ogg; codecs=opus", "id": "media2", "voice": true}}),
            json!({"id": "wamid.video", "type": "video", "video": {"mime_type": "video/mp4", "id": "media3"}}),
            json!({"id": "wamid.document", "type": "document", "document": {"caption": "invoice", "filename": "invoice.pdf", "mime_type": "application/pdf", "id": "media4"}}),
            json!({"id": "wamid.sticker", "type": "sticker", "sticker": {"mime_type": "image/webp", "id": "media5", "animated": false}}),
            json!({"id": "wamid.location", "type": "location", "location": {"latitude": 52.3, "longitude": 4.75, "name": "Schiphol", "address": "Evert van de Beekstraat"}}),
            json!({"id": "wamid.contacts", "type": "contacts", "contacts": [{"name": {"formatted_name": "Bo"}, "phones": [{"phone": "+31 6 1234 5678"}]}]}),
            json!({"id": "wamid.order", "type": "order", "order": {"catalog_id": "c1", "text": "two please", "product_items": [{"product_retailer_id": "p1", "quantity": 2, "item_price": 10, "currency": "EUR"}]}}),
            json!({"id": "wamid.system", "type": "system", "system": {"body": "User changed number", "type": "user_changed_number", "wa_id": "16315550000"}}),
            json!({"id": "wamid.unsupported", "type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]}),
            json!({"id": "wamid.future", "type": "hologram", "hologram": {"depth": 3}}),
            json!({"id": "wamid.referral", "type": "text", "text": {"body": "Is this on sale?"},
                   "referral": {"source_url": "https://fb.me/x", "source_type": "ad", "source_id": "ad1", "headline": "Sale", "ctwa_clid": "clid1"}}),
        ];
        for (i, mut m) in messages.into_iter().enumerate() {
            m["timestamp"] = json!((ts + i as i64).to_string());
            let r = app.post_meta(&meta_message(wa, m)).await;
            assert_eq!(r.status(), 200);
        }
        let events = app.all_events().await;
        let ev = |id: &str| by_provider_id(&events, id).clone();
        let text = ev("wamid.text");
        assert_eq!(text["type"], "text");
        assert_eq!(text["text"], "What are your prices?");
        assert_eq!(text["contact"]["phone"], "+16315551234");
        assert_eq!(text["contact"]["name"], "Ana Cliente");
        assert_eq!(text["occurred_at"], ts * 1000);
        let button = ev("wamid.button");
        assert_eq!((button["type"].as_str(), button["payload"].as_str(), button["title"].as_str()),
                   (Some("button"), Some("STOP_PROMOTIONS"), Some("Stop promotions")));
        assert_eq!(button["context_id"], "wamid.sent1");
        assert_eq!((ev("wamid.ibutton")["payload"].as_str(), ev("wamid.ibutton")["title"].as_str()), (Some("yes-1"), Some("Yes, call me")));
        assert_eq!(ev("wamid.list")["payload"], "slot-3");
        assert_eq!(ev("wamid.reaction")["text"], "👍");
        assert_eq!(ev("wamid.reaction")["context_id"], "wamid.sent1");
        assert_eq!((ev("wamid.image")["type"].as_str(), ev("wamid.image")["text"].as_str()), (Some("image"), Some("my broken parcel")));
        assert_eq!(ev("wamid.image")["detail"]["image"]["id"], "media1");
        assert_eq!(ev("wamid.audio")["type"], "audio");
        assert_eq!(ev("wamid.video")["type"], "video");
        assert_eq!(ev("wamid.document")["title"], "invoice.pdf");
        assert_eq!(ev("wamid.sticker")["type"], "sticker");
        assert_eq!(ev("wamid.location")["title"], "Schiphol");
        assert_eq!(ev("wamid.location")["detail"]["location"]["latitude"], 52.3);
        assert_eq!(ev("wamid.contacts")["type"], "contacts");
        assert_eq!(ev("wamid.order")["text"], "two please");
        assert_eq!(ev("wamid.system")["text"], "User changed number");
        assert_eq!(ev("wamid.unsupported")["error_code"], "131051");
        assert_eq!(ev("wamid.future")["type"], "unknown");
        assert_eq!(ev("wamid.future")["detail"]["message"]["hologram"]["depth"], 3, "unknown types keep their raw JSON");
        assert_eq!(ev("wamid.referral")["detail"]["referral"]["ctwa_clid"], "clid1");
        assert!(events.iter().all(|e| e["kind"] == "message" && e["direction"] == "in"));
        let replies = events.iter().filter(|e| !e["classification"].is_null()).count();
        assert_eq!(replies, events.len(), "every inbound reply is classified");
    }
}

on_both_databases! {
    async fn statuses_are_stored_once_per_message_and_status_with_their_errors(app: TestApp) {
        let wa = "16315551234";
        for (status, code) in [("sent", None), ("delivered", None), ("read", None), ("failed", Some(131_026))] {
            let r = app.post_meta(&meta_status(wa, "wamid.out1", status, 1_795_687_000, code)).await;
            assert_eq!(r.status(), 200);
        }
        // A retry of "delivered" changes nothing.
        app.post_meta(&meta_status(wa, "wamid.out1", "delivered", 1_795_687_000, None)).await;
        let events = app.all_events().await;
        let statuses: Vec<&str> = events.iter().map(|e| e["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["sent", "delivered", "read", "failed"]);
        let failed = &events[3];
        assert_eq!(failed["error_code"], "131026");
        assert_eq!(failed["kind"], "status");
        assert_eq!(failed["contact"]["phone"], "+16315551234");
    }
}

on_both_databases! {
    async fn other_change_fields_are_kept_as_events(app: TestApp) {
        let prefs = meta_envelope("user_preferences", json!({
            "messaging_product": "whatsapp", "metadata": metadata(),
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "16315551234"}],
            "user_preferences": [{"wa_id": "16315551234", "detail": "User requested to stop marketing messages",
                                  "category": "marketing_messages", "value": "stop", "timestamp": 1_795_687_000}]
        }));
        let echo = meta_envelope("smb_message_echoes", json!({
            "messaging_product": "whatsapp", "metadata": metadata(),
            "message_echoes": [{"from": "15550783881", "to": "16315551234", "id": "wamid.echo1",
                                "timestamp": "1795687001", "type": "text", "text": {"body": "Thanks, we'll call you"}}]
        }));
        let template = meta_envelope("message_template_status_update", json!({
            "event": "APPROVED", "message_template_id": 123, "message_template_name": "spring_sale", "message_template_language": "en_US", "reason": null
        }));
        for body in [&prefs, &echo, &template] {
            assert_eq!(app.post_meta(body).await.status(), 200);
        }
        let events = app.all_events().await;
        let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["preference", "echo", "notice"]);
        assert_eq!(events[0]["payload"], "stop");
        assert_eq!(events[0]["contact"]["phone"], "+16315551234");
        assert_eq!(events[1]["direction"], "out");
        assert_eq!(events[1]["text"], "Thanks, we'll call you");
        assert_eq!(events[2]["title"], "message_template_status_update");
        assert!(events[1]["classification"].is_null(), "the business's own messages are not classified");
    }
}

on_both_databases! {
    async fn twilio_messages_and_statuses_are_normalized(app: TestApp) {
        let inbound = params(&[
            ("MessageSid", "SM11"), ("AccountSid", "AC1"), ("From", "whatsapp:+31612345678"),
            ("To", "whatsapp:+14155238886"), ("Body", "Quanto custa?"), ("ProfileName", "Bea"), ("NumMedia", "0"),
        ]);
        let button = params(&[
            ("MessageSid", "SM12"), ("From", "whatsapp:+31612345678"), ("Body", "Stop promotions"),
            ("ButtonPayload", "stop_promo"), ("ButtonText", "Stop promotions"),
        ]);
        let media = params(&[
            ("MessageSid", "SM13"), ("From", "whatsapp:+31612345678"), ("Body", ""), ("NumMedia", "1"),
            ("MediaUrl0", "https://api.twilio.com/media/ME1"), ("MediaContentType0", "image/jpeg"),
        ]);
        let failed = params(&[("MessageSid", "SM99"), ("MessageStatus", "undelivered"), ("ErrorCode", "63024"), ("To", "whatsapp:+31612345678")]);
        for p in [&inbound, &button, &media, &failed] {
            let r = app.post_twilio(p).await;
            assert_eq!(r.status(), 200);
            assert!(r.text().await.unwrap().contains("<Response>"));
        }
        let events = app.all_events().await;
        let ev = |id: &str| by_provider_id(&events, id).clone();
        assert_eq!(ev("SM11")["text"], "Quanto custa?");
        assert_eq!(ev("SM11")["contact"]["phone"], "+31612345678");
        assert_eq!(ev("SM11")["contact"]["name"], "Bea");
        assert_eq!((ev("SM12")["type"].as_str(), ev("SM12")["payload"].as_str()), (Some("button"), Some("stop_promo")));
        assert_eq!(ev("SM13")["type"], "image");
        assert_eq!(ev("SM13")["detail"]["media"][0]["url"], "https://api.twilio.com/media/ME1");
        assert_eq!((ev("SM99")["status"].as_str(), ev("SM99")["error_code"].as_str()), (Some("failed"), Some("63024")));
    }
}

on_both_databases! {
    async fn a_provider_retry_changes_nothing(app: TestApp) {
        let body = meta_text("16315551234", "wamid.retry", "hi", 1_795_687_000);
        for _ in 0..3 {
            assert_eq!(app.post_meta(&body).await.status(), 200);
        }
        // The same message id in a re-serialized body is still the same message.
        let reserialized = body.replace("\"hi\"", "\"hi\" ");
        let r: Value = app.post_meta(&reserialized).await.json().await.unwrap();
        assert_eq!(r["stored"], 0);
        assert_eq!(r["duplicates"], 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM events").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM contacts").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM webhook_payloads").await, 2, "identical bodies are one payload row");
    }
}

on_both_databases! {
    async fn concurrent_posts_of_distinct_and_duplicate_messages_store_each_once(app: TestApp) {
        let bodies: Vec<String> = (0..200)
            .map(|i| meta_text(&format!("1631555{:04}", i % 37), &format!("wamid.c{}", i % 120), "hola", 1_795_687_000 + i))
            .collect();
        let posts = bodies.iter().map(|b| app.post_meta(b));
        let answers = futures::future::join_all(posts).await;
        assert!(answers.iter().all(|r| r.status() == 200));
        assert_eq!(app.count("SELECT COUNT(*) FROM events").await, 120);
        assert_eq!(app.count("SELECT COUNT(DISTINCT dedupe_key) FROM events").await, 120);
        assert_eq!(app.count("SELECT COUNT(*) FROM contacts").await, 37);
    }
}

on_both_databases! {
    async fn a_verified_body_that_does_not_parse_is_kept_as_a_dead_letter(app: TestApp) {
        let body = b"{\"object\": \"whatsapp_business_account\", \"entry\": [ this is not json";
        let sig = replydesk::providers::meta::sign(META_SECRET, body);
        let r = app.post_meta_to("main", body, Some(&sig)).await;
        assert_eq!(r.status(), 200, "answered 200 so Meta does not retry it for days");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["dead_letter"], true);
        use sqlx::Row;
        let row = sqlx::query("SELECT body, problem FROM webhook_payloads").fetch_one(app.db().reader()).await.unwrap();
        let kept: Vec<u8> = row.try_get(0).unwrap();
        let problem: String = row.try_get(1).unwrap();
        assert_eq!(kept, body.to_vec(), "the body is kept whole");
        assert!(problem.contains("not JSON"), "{problem}");
        // A message whose sender is not a phone number or user id is a dead
        // letter too, while its valid neighbours are stored.
        let mixed = meta_envelope("messages", json!({
            "messaging_product": "whatsapp", "metadata": metadata(),
            "messages": [
                {"from": "WHATSAPP_ID", "id": "wamid.bad", "timestamp": "1795687000", "type": "text", "text": {"body": "x"}},
                {"from": "16315551234", "id": "wamid.good", "timestamp": "1795687000", "type": "text", "text": {"body": "y"}}
            ]
        }));
        let v: Value = app.post_meta(&mixed).await.json().await.unwrap();
        assert_eq!((v["stored"].as_i64(), v["dead_letter"].as_bool()), (Some(1), Some(true)));
        assert_eq!(app.count("SELECT COUNT(*) FROM webhook_payloads WHERE problem IS NOT NULL").await, 2);
    }
}

on_both_databases! {
    async fn an_oversized_body_is_refused_with_413(app: TestApp) {
        let big = vec![b' '; app.state.config.max_body_bytes + 1];
        let sig = replydesk::providers::meta::sign(META_SECRET, &big);
        let r = app.post_meta_to("main", &big, Some(&sig)).await;
        assert_eq!(r.status(), 413);
        assert_eq!(app.count("SELECT COUNT(*) FROM webhook_payloads").await, 0);
    }
}

on_both_databases! {
    async fn a_user_known_only_by_business_scoped_id_is_a_contact_joined_later(app: TestApp) {
        let only_user = meta_envelope("messages", json!({
            "messaging_product": "whatsapp", "metadata": metadata(),
            "contacts": [{"profile": {"name": "Sheena"}, "user_id": "US.13491208655302741918"}],
            "messages": [{"from_user_id": "US.13491208655302741918", "id": "wamid.u1", "timestamp": "1795687000",
                          "type": "text", "text": {"body": "Does it come in blue?"}}]
        }));
        assert_eq!(app.post_meta(&only_user).await.status(), 200);
        let events = app.all_events().await;
        assert_eq!(events[0]["contact"]["wa_user_id"], "US.13491208655302741918");
        assert!(events[0]["contact"]["phone"].is_null(), "known by the user id alone");
        let both = meta_envelope("messages", json!({
            "messaging_product": "whatsapp", "metadata": metadata(),
            "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234", "user_id": "US.13491208655302741918"}],
            "messages": [{"from": "16505551234", "from_user_id": "US.13491208655302741918", "id": "wamid.u2",
                          "timestamp": "1795687100", "type": "text", "text": {"body": "Any news?"}}]
        }));
        assert_eq!(app.post_meta(&both).await.status(), 200);
        let events = app.all_events().await;
        for e in &events {
            assert_eq!((e["contact"]["phone"].as_str(), e["contact"]["wa_user_id"].as_str()),
                       (Some("+16505551234"), Some("US.13491208655302741918")), "{e}");
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM contacts").await, 1,
                   "the record known by the user id was joined into the phone contact");
    }
}

crate::test_case! {
    needs [SHARED]
    fn twilio_signature_vectors_from_twilio_verify() {
        let file = shared().join("conformance/webhooks/twilio/twilio-python__signature_vectors.json");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let token = v["auth_token"].as_str().unwrap();
        let mut checked = 0;
        for vector in v["vectors"].as_array().unwrap() {
            let name = vector["name"].as_str().unwrap();
            let url = vector["url"].as_str().unwrap();
            let signature = vector["signature"].as_str().unwrap();
            let expect_valid = vector["expect"] == "valid";
            let (body, is_form) = if let Some(body) = vector.get("body").and_then(Value::as_str) {
                (body.as_bytes().to_vec(), false)
            } else {
                let pairs: Vec<(String, String)> = if let Some(list) =
                    vector.get("params_list").and_then(Value::as_array)
                {
                    list.iter()
                        .map(|p| {
                            (
                                p[0].as_str().unwrap().to_string(),
                                p[1].as_str().unwrap().to_string(),
                            )
                        })
                        .collect()
                } else {
                    vector["params"]
                        .as_object()
                        .map(|o| {
                            o.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                (
                    serde_urlencoded::to_string(&pairs).unwrap().into_bytes(),
                    true,
                )
            };
            let got = replydesk::providers::twilio::verify_signature(
                token,
                url,
                &body,
                is_form,
                Some(signature),
            );
            assert_eq!(got, expect_valid, "vector {name}");
            checked += 1;
        }
        assert!(checked >= 6, "only {checked} vectors found");
    }
}

crate::each_database! {
    async fn shutdown_finishes_in_flight_webhooks_and_stops_every_worker(backend: Backend) {
        let app = TestApp::spawn_configured(backend, "", |c| {
            c.workers.outbox = true;
            c.workers.sla = true;
        })
        .await;
        let posts: Vec<_> = (0..50)
            .map(|i| {
                let id = format!("wamid.sd{i}");
                let body = meta_text("16315550300", &id, "hola", 1_795_687_000 + i);
                let client = app.client.clone();
                let url = app.url("/webhooks/meta/main");
                tokio::spawn(async move {
                    let sig = replydesk::providers::meta::sign(META_SECRET, body.as_bytes());
                    let status = client
                        .post(url)
                        .header("x-hub-signature-256", sig)
                        .body(body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16());
                    (id, status)
                })
            })
            .collect();
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(20), app.stop_and_reopen())
            .await
            .expect("the desk and its background workers stopped");
        let mut acked = Vec::new();
        for p in posts {
            if let Ok((id, Ok(200))) = p.await {
                acked.push(id);
            }
        }
        let stored: Vec<String> = sqlx::query_scalar("SELECT provider_id FROM events")
            .fetch_all(stopped.db.reader())
            .await
            .unwrap();
        for id in &acked {
            assert!(stored.contains(id), "{id} was answered 200 but not stored");
        }
    }
}
