//! Answering customers from the desk, against the stand-in provider: text
//! inside the window and refusal outside it, templates with parameters,
//! the ledger's gate, retries on throughput limits (sent once), permanent
//! errors in words, unknown outcomes left to a person, statuses to "read",
//! Twilio's form and auth, the API, and one sender per message across
//! instances.

use crate::each_database;
use crate::helpers::*;
use crate::stand_in::{Answer, StandIn};
use replydesk::auth::apikeys::Scope;
use serde_json::{Value, json};
use std::time::Duration;

const WA: &str = "16315558001";

async fn desk(backend: Backend, extra: &str) -> (TestApp, StandIn) {
    let provider = StandIn::start().await;
    let p = provider.clone();
    let app = TestApp::spawn_configured(backend, extra, move |c| p.channel_settings(c)).await;
    (app, provider)
}

/// A sales conversation with a customer who just asked for the price.
async fn asked(app: &TestApp) -> String {
    app.conversation_for(WA, "wamid.ASK1", "How much does it cost?")
        .await
}

async fn send_now(app: &TestApp) -> usize {
    app.state.reply_worker.run_once().await.unwrap()
}

async fn api_post(app: &TestApp, key: &str, conversation: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(&format!("/api/v1/conversations/{conversation}/messages")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn messages(app: &TestApp, key: &str, conversation: &str) -> Vec<Value> {
    let r = app
        .client
        .get(app.url(&format!("/api/v1/conversations/{conversation}/messages")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["messages"]
        .as_array()
        .unwrap()
        .clone()
}

fn outgoing(messages: &[Value]) -> Vec<Value> {
    messages
        .iter()
        .filter(|m| m["direction"] == "out")
        .cloned()
        .collect()
}

each_database! {
    async fn an_agent_answers_inside_the_window_once_from_the_number_the_customer_wrote_to(backend: Backend) {
        let (app, provider) = desk(backend, "").await;
        let id = asked(&app).await;
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let page = agent.get(&format!("/conversations/{id}")).await.text().await.unwrap();
        assert!(page.contains("Window closes in 24 h"), "the window is shown: {page}");
        assert!(
            page.contains("data-name=\"callback\" data-text=\"Hi Ana, this is Agent. When would be a good time to call you?\""),
            "canned responses are offered filled in for this contact and agent"
        );
        let key = hidden_field(&page, "idempotency_key");
        for _ in 0..2 {
            let r = agent.post(&format!("/conversations/{id}/reply"), &[("text", "It is 20 euros a month."), ("idempotency_key", &key)]).await;
            assert_eq!(r.status(), 303, "the page goes back to the conversation");
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM replies").await, 1, "the same form sent twice queues one reply");
        assert_eq!(send_now(&app).await, 1);
        assert_eq!(send_now(&app).await, 0, "nothing is sent twice");
        let got = provider.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].path_id, "106540352242922", "sent from the phone number id the customer wrote to");
        assert_eq!(got[0].body["messaging_product"], "whatsapp");
        assert_eq!(got[0].body["to"], WA, "addressed by the wa_id Meta gave");
        assert_eq!(got[0].body["type"], "text");
        assert_eq!(got[0].body["text"]["body"], "It is 20 euros a month.");
        assert!(got[0].body.get("context").is_none(), "a plain answer quotes nothing");
        let key = app.api_key().await;
        let out = outgoing(&messages(&app, &key, &id).await);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["status"], "sent");
        assert_eq!(out[0]["author"], "agent@example.com");
        let wamid = out[0]["provider_message_id"].as_str().unwrap().to_string();
        assert!(wamid.starts_with("wamid."), "{wamid}");
        let first: Option<i64> = sqlx::query_scalar("SELECT first_response_at FROM conversations WHERE id = $1")
            .bind(&id).fetch_one(app.db().reader()).await.unwrap();
        assert!(first.is_some(), "the provider's acceptance meets the first response");
        for status in ["delivered", "read"] {
            assert_eq!(app.post_meta(&meta_status(WA, &wamid, status, T0 / 1000 + 5, None)).await.status(), 200);
            assert_eq!(outgoing(&messages(&app, &key, &id).await)[0]["status"], status);
        }
        // A late "delivered" does not move a read message back.
        app.post_meta(&meta_status(WA, &wamid, "delivered", T0 / 1000 + 6, None)).await;
        assert_eq!(outgoing(&messages(&app, &key, &id).await)[0]["status"], "read");
        assert_eq!(provider.refused_auth(), 0);
    }
}

each_database! {
    async fn free_text_outside_the_window_is_refused_before_anything_leaves(backend: Backend) {
        let (app, provider) = desk(backend, "").await;
        let id = asked(&app).await;
        app.clock.advance(25 * 3_600_000);
        let key = app.api_key().await;
        let (status, body) = api_post(&app, &key, &id, json!({ "text": "Still there?", "idempotency_key": "late-1" })).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["reason"], "window_closed", "{body}");
        assert!(body["error"].as_str().unwrap().contains("within 24 hours"), "{body}");
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let page = agent.get(&format!("/conversations/{id}")).await.text().await.unwrap();
        assert!(page.contains("Window closed at"), "{page}");
        assert!(page.contains("choose a template"), "{page}");
        // A form posted without scripts shows the refusal on the page.
        let r = agent.post(&format!("/conversations/{id}/reply"), &[("text", "Still there?"), ("idempotency_key", "late-2")]).await;
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        assert!(body.contains("Not sent:") && body.contains("within 24 hours"), "{body}");
        assert_eq!(send_now(&app).await, 0);
        assert!(provider.received().is_empty());
        assert_eq!(app.count("SELECT COUNT(*) FROM replies").await, 0);
    }
}

each_database! {
    async fn an_approved_template_goes_with_its_language_and_parameters_outside_the_window(backend: Backend) {
        let (app, provider) = desk(backend, "").await;
        let id = asked(&app).await;
        let synced = replydesk::replies::templates::sync(app.db(), app.state.replies.senders(), app.now()).await.unwrap();
        assert!(synced.iter().all(|s| s.error.is_none()), "{synced:?}");
        let key = app.api_key().await;
        let list: Value = app.client.get(app.url("/api/v1/templates")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        let names: Vec<&str> = list["templates"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"order_update") && names.contains(&"spring_offer"), "{list}");
        assert!(!names.contains(&"draft_one"), "only approved templates are offered: {list}");
        app.clock.advance(30 * 3_600_000);
        let wrong = api_post(&app, &key, &id, json!({ "template": { "name": "order_update", "language": "en_US", "parameters": ["Ana"] }, "idempotency_key": "t-0" })).await;
        assert_eq!(wrong.0, 400, "a missing parameter is named: {:?}", wrong.1);
        assert_eq!(wrong.1["field"], "parameters");
        let (status, body) = api_post(&app, &key, &id, json!({ "template": { "name": "order_update", "language": "en_US", "parameters": ["Ana", "A-17"] }, "idempotency_key": "t-1" })).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["status"], "queued");
        send_now(&app).await;
        let got = provider.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body["type"], "template");
        assert_eq!(got[0].body["template"]["name"], "order_update");
        assert_eq!(got[0].body["template"]["language"]["code"], "en_US");
        assert_eq!(got[0].body["template"]["components"][0]["parameters"][1]["text"], "A-17");
        let out = outgoing(&messages(&app, &key, &id).await);
        assert_eq!(out[0]["text"], "Hello Ana, your order A-17 is on its way.", "the timeline shows the filled-in template");
    }
}

each_database! {
    async fn the_ledger_refuses_in_words_and_an_opted_out_customer_who_writes_again_gets_service_answers_only(backend: Backend) {
        let (app, provider) = desk(backend, "").await;
        let id = asked(&app).await;
        replydesk::replies::templates::sync(app.db(), app.state.replies.senders(), app.now()).await.unwrap();
        app.post_meta(&meta_text(WA, "wamid.STOP1", "STOP", T0 / 1000 + 60)).await;
        app.route_now().await;
        app.clock.advance(120_000);
        let key = app.api_key().await;
        let (status, body) = api_post(&app, &key, &id, json!({ "template": { "name": "spring_offer", "language": "en_US", "parameters": ["Ana"] }, "idempotency_key": "m-1" })).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["reason"], "opted_out", "{body}");
        let (status, body) = api_post(&app, &key, &id, json!({ "text": "Sorry to see you go", "idempotency_key": "s-1" })).await;
        assert_eq!(status, 409, "nothing after an opt-out until they write again: {body}");
        app.post_meta(&meta_text(WA, "wamid.BACK1", "Wait, what was the price again?", T0 / 1000 + 300)).await;
        app.route_now().await;
        app.clock.advance(300_000);
        let id = app.conversation_for(WA, "wamid.BACK2", "How much is it?").await;
        let (status, body) = api_post(&app, &key, &id, json!({ "text": "20 euros a month.", "idempotency_key": "s-2" })).await;
        assert_eq!(status, 202, "a service answer inside the window after they wrote again: {body}");
        let (status, body) = api_post(&app, &key, &id, json!({ "template": { "name": "spring_offer", "language": "en_US", "parameters": ["Ana"] }, "idempotency_key": "m-2" })).await;
        assert_eq!(status, 409, "marketing stays refused: {body}");
        send_now(&app).await;
        assert_eq!(provider.received().len(), 1);
    }
}

each_database! {
    async fn a_throughput_limit_is_retried_and_the_message_is_sent_once(backend: Backend) {
        let (app, provider) = desk(backend, "").await;
        let id = asked(&app).await;
        let key = app.api_key().await;
        provider.script([Answer::MetaError { status: 400, code: 130429, details: "Cloud API message throughput has been reached." }]);
        let (status, _) = api_post(&app, &key, &id, json!({ "text": "One moment", "idempotency_key": "r-1" })).await;
        assert_eq!(status, 202);
        send_now(&app).await;
        let out = outgoing(&messages(&app, &key, &id).await);
        assert_eq!(out[0]["status"], "queued", "back in the queue: {out:?}");
        assert!(out[0]["error"].as_str().unwrap().contains("throughput"), "{out:?}");
        assert_eq!(send_now(&app).await, 0, "not before its backoff");
        app.clock.advance(60_000);
        assert_eq!(send_now(&app).await, 1);
        let out = outgoing(&messages(&app, &key, &id).await);
        assert_eq!(out[0]["status"], "sent");
        assert_eq!(provider.received().len(), 2, "one refused request, one accepted");
    }
}

each_database! {
    async fn a_permanent_error_fails_with_its_meaning_and_an_unknown_outcome_waits_for_a_person(backend: Backend) {
        let (app, provider) = desk(backend, "[sending]\ntimeout_secs = 1").await;
        let id = asked(&app).await;
        let key = app.api_key().await;
        provider.script([
            Answer::MetaError { status: 400, code: 131026, details: "Message undeliverable" },
            Answer::Silence(Duration::from_secs(3)),
        ]);
        api_post(&app, &key, &id, json!({ "text": "First", "idempotency_key": "p-1" })).await;
        send_now(&app).await;
        api_post(&app, &key, &id, json!({ "text": "Second", "idempotency_key": "p-2" })).await;
        send_now(&app).await;
        app.clock.advance(3_600_000);
        assert_eq!(send_now(&app).await, 0, "neither is tried again on its own");
        assert_eq!(provider.received().len(), 2);
        let out = outgoing(&messages(&app, &key, &id).await);
        assert_eq!(out[0]["status"], "failed");
        assert!(out[0]["error"].as_str().unwrap().contains("not on WhatsApp"), "{out:?}");
        assert_eq!(out[1]["status"], "unconfirmed");
        assert!(out[1]["error"].as_str().unwrap().contains("may or may not have been sent"), "{out:?}");
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let page = agent.get(&format!("/conversations/{id}")).await.text().await.unwrap();
        assert!(page.contains("may or may not have been sent"), "the agent is told");
        // The agent checked with the customer and sends it again; a failed one cannot be.
        let unconfirmed = out[1]["id"].as_str().unwrap();
        let failed = out[0]["id"].as_str().unwrap();
        assert_eq!(agent.post(&format!("/conversations/{id}/replies/{failed}/again"), &[]).await.status(), 409);
        assert_eq!(agent.post(&format!("/conversations/{id}/replies/{unconfirmed}/again"), &[]).await.status(), 303);
        assert_eq!(send_now(&app).await, 1);
        assert_eq!(provider.received().len(), 3);
        let out = outgoing(&messages(&app, &key, &id).await);
        assert_eq!(out[1]["status"], "sent");
        let audited = app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'reply.send_again'").await;
        assert_eq!(audited, 1, "who decided to send again is in the audit log");
    }
}

each_database! {
    async fn twilio_replies_go_as_a_form_with_basic_auth_and_unsubscribes_fail_in_words(backend: Backend) {
        let (app, provider) = desk(backend, "").await;
        let form = params(&[
            ("MessageSid", "SM11111111111111111111111111111111"), ("AccountSid", crate::stand_in::TWILIO_SID),
            ("From", "whatsapp:+31612345678"), ("To", "whatsapp:+14155238886"), ("Body", "How much does it cost?"),
            ("NumMedia", "0"), ("ProfileName", "Jan"), ("WaId", "31612345678"),
        ]);
        assert_eq!(app.post_twilio(&form).await.status(), 200);
        app.route_now().await;
        let key = app.api_key().await;
        let list: Value = app.client.get(app.url("/api/v1/conversations?contact=%2B31612345678")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        let c = &list["conversations"][0];
        assert_eq!(c["channel"], "tw", "{list}");
        assert!(c["window_closes_at"].as_i64().unwrap() > app.now());
        let id = c["id"].as_str().unwrap().to_string();
        provider.script([Answer::Accept, Answer::TwilioError { status: 400, code: 21610, message: "Attempt to send to unsubscribed recipient" }]);
        api_post(&app, &key, &id, json!({ "text": "Hello Jan", "idempotency_key": "tw-1" })).await;
        api_post(&app, &key, &id, json!({ "text": "Again", "idempotency_key": "tw-2" })).await;
        send_now(&app).await;
        let got = provider.received();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].provider, "twilio");
        assert_eq!(got[0].body["To"], "whatsapp:+31612345678");
        assert_eq!(got[0].body["From"], "whatsapp:+14155238886", "from the number the customer wrote to");
        assert_eq!(got[0].body["Body"], "Hello Jan");
        let out = outgoing(&messages(&app, &key, &id).await);
        let sent = out.iter().find(|m| m["text"] == "Hello Jan").unwrap();
        let sid = sent["provider_message_id"].as_str().unwrap();
        assert!(sid.starts_with("SM"));
        // Twilio's status callback for the desk's own message.
        let callback = params(&[
            ("MessageSid", sid), ("AccountSid", crate::stand_in::TWILIO_SID), ("MessageStatus", "delivered"),
            ("From", "whatsapp:+14155238886"), ("To", "whatsapp:+31612345678"), ("ChannelPrefix", "whatsapp"),
        ]);
        assert_eq!(app.post_twilio(&callback).await.status(), 200);
        let out = outgoing(&messages(&app, &key, &id).await);
        assert_eq!(out.iter().find(|m| m["text"] == "Hello Jan").unwrap()["status"], "delivered");
        let failed = out.iter().find(|m| m["text"] == "Again").unwrap();
        assert_eq!(failed["status"], "failed");
        assert!(failed["error"].as_str().unwrap().contains("unsubscribed"), "{failed}");
        assert_eq!(provider.refused_auth(), 0);
    }
}

each_database! {
    async fn only_keys_made_to_send_may_send_and_a_repeated_request_changes_nothing(backend: Backend) {
        let (app, provider) = desk(backend, "").await;
        let id = asked(&app).await;
        let reader = app.api_key_with(&[Scope::Read]).await;
        let (status, body) = api_post(&app, &reader, &id, json!({ "text": "Hi", "idempotency_key": "k-1" })).await;
        assert_eq!(status, 403, "{body}");
        let sender = app.api_key().await;
        let (status, first) = api_post(&app, &sender, &id, json!({ "text": "Hi", "idempotency_key": "k-1", "reply_to": "wamid.ASK1" })).await;
        assert_eq!(status, 202);
        assert_eq!(first["status"], "queued");
        let (status, again) = api_post(&app, &sender, &id, json!({ "text": "Hi", "idempotency_key": "k-1" })).await;
        assert_eq!(status, 202);
        assert_eq!(first["id"], again["id"], "the same key answers the same reply");
        let (status, body) = api_post(&app, &sender, &id, json!({ "text": "Hi" })).await;
        assert_eq!((status, body["field"].as_str()), (400, Some("idempotency_key")));
        let (status, body) = api_post(&app, &sender, &id, json!({ "text": "  ", "idempotency_key": "k-2" })).await;
        assert_eq!((status, body["field"].as_str()), (400, Some("text")));
        send_now(&app).await;
        let got = provider.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body["context"]["message_id"], "wamid.ASK1", "answers the message the client named");
    }
}

each_database! {
    async fn a_reply_left_sending_by_a_stopped_instance_is_never_sent_again_on_its_own(backend: Backend) {
        let (app, provider) = desk(backend, "").await;
        let id = asked(&app).await;
        let key = app.api_key().await;
        api_post(&app, &key, &id, json!({ "text": "Lost?", "idempotency_key": "l-1" })).await;
        // As an instance that claimed it and died before the answer came.
        sqlx::query("UPDATE replies SET state = 'sending', lease_owner = 'gone', lease_until = $1, attempts = 1")
            .bind(app.now() + 1000).execute(app.db().writer()).await.unwrap();
        app.clock.advance(120_000);
        assert_eq!(send_now(&app).await, 0);
        assert!(provider.received().is_empty());
        let out = outgoing(&messages(&app, &key, &id).await);
        assert_eq!(out[0]["status"], "unconfirmed");
    }
}

crate::on_both_databases! {
    async fn agents_of_other_teams_cannot_answer(app: TestApp) {
        let id = asked(&app).await;
        let other = app.sign_in_as("svc@example.com", "agent").await;
        let r = other.post(&format!("/conversations/{id}/reply"), &[("text", "Hi"), ("idempotency_key", "x")]).await;
        assert_eq!(r.status(), 404);
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        let page = lead.get(&format!("/conversations/{id}")).await.text().await.unwrap();
        assert!(page.contains("has no access_token"), "a channel without send credentials says why: {page}");
        assert_eq!(app.count("SELECT COUNT(*) FROM replies").await, 0);
    }
}

each_database! {
    async fn two_senders_on_one_database_send_each_reply_once(backend: Backend) {
        let (app, provider) = desk(backend, "").await;
        let key = app.api_key().await;
        let mut conversations = Vec::new();
        for i in 0..20 {
            let wa = format!("1631555{i:04}");
            conversations.push(app.conversation_for(&wa, &format!("wamid.MANY{i}"), "How much does it cost?").await);
        }
        for (i, id) in conversations.iter().enumerate() {
            let (status, _) = api_post(&app, &key, id, json!({ "text": format!("Answer {i}"), "idempotency_key": "once" })).await;
            assert_eq!(status, 202);
        }
        let second = app.state.replies.worker(app.state.config.clone(), app.state.calendars.clone(), "second".into());
        let (a, b) = tokio::join!(send_now(&app), second.run_once());
        assert_eq!(a + b.unwrap(), 20);
        let got = provider.received();
        assert_eq!(got.len(), 20, "each reply handed to the provider once");
        let mut texts: Vec<String> = got.iter().map(|r| r.body["text"]["body"].as_str().unwrap().to_string()).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), 20);
    }
}

each_database! {
    async fn an_admin_syncs_templates_and_a_failed_status_of_a_reply_reaches_the_ledger(backend: Backend) {
        assert_eq!(crate::stand_in::TWILIO_AUTH, TWILIO_TOKEN, "the stand-in takes the token the desk signs with");
        let (app, provider) = desk(backend, "").await;
        let id = asked(&app).await;
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let page = admin.post("/admin/templates/sync", &[]).await.text().await.unwrap();
        assert!(page.contains("main: 3 templates, 2 approved."), "{page}");
        assert!(page.contains("tw: 1 templates, 1 approved."), "{page}");
        assert!(page.contains("spring_offer"), "the synced templates are listed");
        assert!(!page.contains(crate::stand_in::META_TOKEN), "the access token is never shown");
        let key = app.api_key().await;
        api_post(&app, &key, &id, json!({ "text": "Here is the price list", "idempotency_key": "f-1" })).await;
        send_now(&app).await;
        assert_eq!(provider.received().len(), 1);
        assert!(app.allowed("+16315558001", "whatsapp", "all").await);
        let wamid = outgoing(&messages(&app, &key, &id).await)[0]["provider_message_id"].as_str().unwrap().to_string();
        let failed = meta_status(WA, &wamid, "failed", T0 / 1000 + 30, Some(131026));
        assert_eq!(app.post_meta(&failed).await.status(), 200);
        let out = outgoing(&messages(&app, &key, &id).await);
        assert_eq!(out[0]["status"], "failed");
        assert!(out[0]["error"].as_str().unwrap().contains("not on WhatsApp"), "{out:?}");
        assert!(!app.allowed("+16315558001", "whatsapp", "all").await, "131026 makes the number unreachable, as for any registered send");
    }
}

/// A desk whose auto-replies are all enabled, and whose sales team keeps
/// afternoon hours (13:00-17:00 UTC on weekdays; T0 is a Friday at 10:00).
async fn auto_desk(backend: Backend) -> (TestApp, StandIn, tempfile::TempDir) {
    let rules = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, rules.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let shipped = std::fs::read_to_string(rules.path().join("auto_replies.toml")).unwrap();
    assert_eq!(
        shipped.matches("enabled = false").count(),
        3,
        "every auto-reply ships off"
    );
    std::fs::write(
        rules.path().join("auto_replies.toml"),
        shipped.replace("enabled = false", "enabled = true"),
    )
    .unwrap();
    let provider = StandIn::start().await;
    let (p, dir) = (provider.clone(), rules.path().to_path_buf());
    let app = TestApp::spawn_configured(backend, "", move |c| {
        c.rules_dir = dir;
        let office = vec!["13:00-17:00".to_string()];
        c.teams[0].hours = Some(replydesk::sla::hours::HoursConfig {
            timezone: "UTC".into(),
            monday: office.clone(),
            tuesday: office.clone(),
            wednesday: office.clone(),
            thursday: office.clone(),
            friday: office,
            ..Default::default()
        });
        p.channel_settings(c);
    })
    .await;
    (app, provider, rules)
}

async fn auto_replies_by(app: &TestApp, count: i64) -> Vec<String> {
    for _ in 0..100 {
        if app.count("SELECT COUNT(*) FROM replies").await >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anything more would come right behind.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query_scalar("SELECT author FROM replies ORDER BY created_at, id")
        .fetch_all(app.db().reader())
        .await
        .unwrap()
}

each_database! {
    async fn auto_replies_answer_out_of_hours_once_help_and_an_opt_out_each_in_the_customers_language(backend: Backend) {
        let (app, provider, _rules) = auto_desk(backend).await;
        let id = asked(&app).await;
        assert_eq!(auto_replies_by(&app, 1).await, ["auto:out_of_hours"]);
        app.post_meta(&meta_text(WA, "wamid.ASK2", "Hello? Anyone there?", T0 / 1000 + 60)).await;
        app.route_now().await;
        assert_eq!(auto_replies_by(&app, 2).await.len(), 1, "once per closed period");
        app.post_meta(&meta_text(WA, "wamid.HELP1", "help", T0 / 1000 + 120)).await;
        app.route_now().await;
        assert_eq!(auto_replies_by(&app, 2).await, ["auto:out_of_hours", "auto:help"]);
        // Sent before the STOP, as the running sender would (a reply still
        // queued when an opt-out arrives is held; see the test below).
        assert_eq!(send_now(&app).await, 2);
        app.post_meta(&meta_text(WA, "wamid.STOP9", "STOP", T0 / 1000 + 180)).await;
        app.route_now().await;
        assert_eq!(auto_replies_by(&app, 3).await, ["auto:out_of_hours", "auto:help", "auto:opt_out"]);
        send_now(&app).await;
        let got = provider.received();
        assert_eq!(got.len(), 3);
        assert!(got[0].body["text"]["body"].as_str().unwrap().contains("closed right now"));
        assert!(got[2].body["text"]["body"].as_str().unwrap().contains("not receive marketing messages"));
        // The next closed period (Friday evening) gets its own answer, in Dutch;
        // the customer wrote again after the opt-out, so a service answer may go.
        app.clock.advance(11 * 3_600_000);
        app.post_meta(&meta_text(WA, "wamid.NL1", "Goedenavond, ik zou graag willen weten hoeveel het abonnement per maand kost en of er een proefperiode is", T0 / 1000 + 11 * 3600)).await;
        app.route_now().await;
        let authors = auto_replies_by(&app, 4).await;
        assert_eq!(authors.len(), 4, "{authors:?}");
        let last: String = sqlx::query_scalar("SELECT body FROM replies WHERE author = 'auto:out_of_hours' ORDER BY created_at DESC, id DESC")
            .fetch_all(app.db().reader()).await.unwrap().remove(0);
        assert!(last.contains("gesloten"), "in the customer's language: {last}");
        let key = app.api_key().await;
        assert_eq!(outgoing(&messages(&app, &key, &id).await)[0]["author"], "auto:out_of_hours", "shown in the conversation");
    }
}

crate::test_case! {
    needs [POSTGRES]
    /// Two desks on one PostgreSQL, both sending at once: each reply leaves once.
    async fn two_desks_on_one_postgresql_send_each_reply_once() {
        let provider = StandIn::start().await;
        let p = provider.clone();
        let one = TestApp::spawn_configured(Backend::Postgres, "", move |c| p.channel_settings(c)).await;
        let url = one.pg_url().unwrap();
        let p = provider.clone();
        let two = TestApp::spawn_configured(Backend::Postgres, "", move |c| {
            c.database_url = url.clone();
            p.channel_settings(c);
        })
        .await;
        let key = one.api_key().await;
        for i in 0..30 {
            let id = one.conversation_for(&format!("1631556{i:04}"), &format!("wamid.TWO{i}"), "How much does it cost?").await;
            let (status, _) = api_post(&one, &key, &id, json!({ "text": format!("Answer {i}"), "idempotency_key": "two" })).await;
            assert_eq!(status, 202);
        }
        let (a, b) = tokio::join!(one.state.reply_worker.run_once(), two.state.reply_worker.run_once());
        assert_eq!(a.unwrap() + b.unwrap(), 30, "every reply claimed by one desk or the other");
        assert_eq!(provider.received().len(), 30, "each handed to the provider once");
        assert_eq!(two.count("SELECT COUNT(*) FROM replies WHERE state = 'sent'").await, 30);
    }
}

each_database! {
    async fn a_queued_template_is_asked_again_when_it_leaves_and_a_stop_in_between_holds_it(backend: Backend) {
        let (app, provider) = desk(backend, "").await;
        let id = asked(&app).await;
        replydesk::replies::templates::sync(app.db(), app.state.replies.senders(), app.now()).await.unwrap();
        let key = app.api_key().await;
        let (status, _) = api_post(&app, &key, &id, json!({ "template": { "name": "spring_offer", "language": "en_US", "parameters": ["Ana"] }, "idempotency_key": "m-late" })).await;
        assert_eq!(status, 202, "allowed when queued");
        app.post_meta(&meta_text(WA, "wamid.STOPLATE", "STOP", T0 / 1000 + 30)).await;
        app.route_now().await;
        send_now(&app).await;
        assert!(provider.received().is_empty(), "the opt-out that came first holds it");
        let out = outgoing(&messages(&app, &key, &id).await);
        assert_eq!(out[0]["status"], "failed");
        assert!(out[0]["error"].as_str().unwrap().starts_with("not sent:"), "{out:?}");
    }
}

each_database! {
    async fn do_not_contact_and_an_unreachable_number_refuse_every_reply_with_the_reason(backend: Backend) {
        let (app, provider) = desk(backend, "").await;
        let id = asked(&app).await;
        let key = app.api_key().await;
        // Unreachable: a desk reply fails with 131026.
        api_post(&app, &key, &id, json!({ "text": "First answer", "idempotency_key": "u-1" })).await;
        send_now(&app).await;
        let wamid = outgoing(&messages(&app, &key, &id).await)[0]["provider_message_id"].as_str().unwrap().to_string();
        app.post_meta(&meta_status(WA, &wamid, "failed", T0 / 1000 + 30, Some(131026))).await;
        let (status, body) = api_post(&app, &key, &id, json!({ "text": "Are you there?", "idempotency_key": "u-2" })).await;
        assert_eq!((status, body["reason"].as_str()), (409, Some("unreachable")), "{body}");
        // Do-not-contact, set by an administrator, refuses even inside the window.
        let contact: String = sqlx::query_scalar("SELECT contact_id FROM conversations WHERE id = $1").bind(&id).fetch_one(app.db().reader()).await.unwrap();
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        assert_eq!(admin.post(&format!("/contacts/{contact}/do-not-contact"), &[("action", "set"), ("reason", "legal request")]).await.status(), 303);
        let (status, body) = api_post(&app, &key, &id, json!({ "text": "Hello again", "idempotency_key": "u-3" })).await;
        assert_eq!((status, body["reason"].as_str()), (409, Some("do_not_contact")), "{body}");
        assert_eq!(provider.received().len(), 1, "nothing left after the first answer");
    }
}
