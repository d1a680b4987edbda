//! One contact, one identity, one open conversation: every boundary reads a
//! number the same way, WhatsApp's forms of a number are the E.164 a CRM
//! holds, a user id and a phone number revealed together are one person,
//! and the database holds one open conversation per contact and channel on
//! any number of instances.

use crate::helpers::*;
use crate::{each_database, on_both_databases, test_case};
use serde_json::{Value, json};

async fn api_get(app: &TestApp, key: &str, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let r = app
        .client
        .get(app.url(path))
        .query(query)
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn api_post(app: &TestApp, key: &str, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .client
        .post(app.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn opt_out(external_id: &str, contact: &str) -> Value {
    json!({"external_id": external_id, "contact": contact, "channel": "whatsapp", "purpose": "all",
           "effect": "opt_out", "source": "crm", "occurred_at": T0 - 60_000})
}

on_both_databases! {
    async fn a_number_the_desk_stored_gets_an_answer_from_every_api(app: TestApp) {
        // Meta's test numbers (+1 555 …) are possible, not valid: stored, and answered for.
        assert_eq!(app.post_meta(&meta_text("15551230000", "wamid.t1", "STOP", T0 / 1000)).await.status(), 200);
        let key = app.api_key().await;
        let (status, e) = api_get(&app, &key, "/api/v1/eligibility", &[("contact", "+15551230000")]).await;
        assert_eq!(status, 200, "{e}");
        assert_eq!((e["allowed"].as_bool(), e["reason"].as_str()), (Some(false), Some("opted_out")), "{e}");
        let (status, body) = api_post(&app, &key, "/api/v1/preferences", opt_out("crm-t1", "+1 555 123 0000")).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = api_post(&app, &key, "/api/v1/outbound",
            json!({"message_id": "wamid.o-t1", "contact": "+15551230000", "purpose": "utility"})).await;
        assert!(status == 200 || status == 201, "{status} {body}");
        assert_eq!(app.count("SELECT COUNT(*) FROM contacts WHERE phone = '+15551230000'").await, 1,
                   "the webhook, the preference and the registration name one contact");
        // What is not a number at all is still refused, naming the field.
        for (path, bad) in [
            ("/api/v1/eligibility", "not a number"),
            ("/api/v1/eligibility", "+1 555"),
            ("/api/v1/eligibility", "07700 900123"),
        ] {
            let (status, body) = api_get(&app, &key, path, &[("contact", bad)]).await;
            assert_eq!((status, body["field"].as_str()), (400, Some("contact")), "{bad}: {body}");
            assert!(!body["error"].as_str().unwrap_or_default().is_empty(), "{bad}: {body}");
        }
        for bad in ["call me maybe", "+999 1234 5678"] {
            let (status, body) = api_post(&app, &key, "/api/v1/outbound",
                json!({"message_id": "wamid.bad", "contact": bad, "purpose": "utility"})).await;
            assert_eq!((status, body["field"].as_str()), (400, Some("contact")), "{bad}: {body}");
        }
    }
}

/// (the wa_id WhatsApp sends, the E.164 a CRM holds)
const FORMS: [(&str, &str); 3] = [
    ("5215512345678", "+52 55 1234 5678"),
    ("551187654321", "+55 11 98765 4321"),
    ("5491123456789", "+54 11 2345 6789"),
];

on_both_databases! {
    async fn an_opt_out_under_whatsapps_form_of_a_number_answers_for_the_crms_form(app: TestApp) {
        let key = app.api_key().await;
        for (i, (wa, crm)) in FORMS.iter().enumerate() {
            assert_eq!(app.post_meta(&meta_text(wa, &format!("wamid.f{i}"), "STOP", T0 / 1000)).await.status(), 200);
            let (status, e) = api_get(&app, &key, "/api/v1/eligibility", &[("contact", crm), ("purpose", "marketing")]).await;
            assert_eq!((status, e["allowed"].as_bool()), (200, Some(false)), "{wa} asked as {crm}: {e}");
            // The contact keeps the form the provider used: replies go to it.
            let stored: (Option<String>, Option<String>) = {
                use sqlx::Row;
                let r = sqlx::query("SELECT phone, wa_id FROM contacts WHERE wa_id = $1")
                    .bind(*wa).fetch_one(app.db().reader()).await.unwrap();
                (r.try_get(0).unwrap(), r.try_get(1).unwrap())
            };
            let canonical = replydesk::contacts::parse_phone(crm).unwrap();
            assert_eq!(stored, (Some(canonical.clone()), Some((*wa).to_string())), "{wa}");
            let (_, page) = api_get(&app, &key, "/api/v1/suppressions", &[]).await;
            let listed = page["changes"].as_array().unwrap().iter().any(|c| c["contact"] == canonical.as_str());
            assert!(listed, "{canonical} is on the suppression list: {page}");
        }
        // The other way round: an opt-out posted under the CRM's form, asked under WhatsApp's.
        let (status, body) = api_post(&app, &key, "/api/v1/preferences", opt_out("crm-mx", "+52 81 1234 5678")).await;
        assert_eq!(status, 201, "{body}");
        let (_, e) = api_get(&app, &key, "/api/v1/eligibility", &[("contact", "+5218112345678")]).await;
        assert_eq!(e["allowed"], false, "{e}");
        assert_eq!(app.count("SELECT COUNT(*) FROM contacts").await, 4, "one contact per person, whatever the form");
    }
}

on_both_databases! {
    async fn the_contact_page_and_the_queue_search_find_a_number_in_either_form(app: TestApp) {
        let id = app.conversation_for("5215512345678", "wamid.q1", "How much does it cost?").await;
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        for q in ["+52 55 1234 5678", "+5215512345678", "1234 5678"] {
            let page = agent.get(&format!("/queue?q={}", urlencode(q))).await.text().await.unwrap();
            assert!(page.contains(&format!("/conversations/{id}")), "searching {q:?} finds the conversation");
        }
        let page = agent.get("/queue?q=%2B52%2055%209999%209999").await.text().await.unwrap();
        assert!(!page.contains(&format!("/conversations/{id}")), "another number does not");
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("q", s)]).unwrap()[2..].to_string()
}

const USER: &str = "US.13491208655302741918";

fn from_user_only(id: &str, ts: i64, text: &str) -> String {
    meta_envelope(
        "messages",
        json!({
            "messaging_product": "whatsapp", "metadata": metadata(),
            "contacts": [{"profile": {"name": "Sheena"}, "user_id": USER}],
            "messages": [{"from_user_id": USER, "id": id, "timestamp": ts.to_string(), "type": "text", "text": {"body": text}}]
        }),
    )
}

fn from_both(id: &str, ts: i64, text: &str) -> String {
    meta_envelope(
        "messages",
        json!({
            "messaging_product": "whatsapp", "metadata": metadata(),
            "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "16505551234", "user_id": USER}],
            "messages": [{"from": "16505551234", "from_user_id": USER, "id": id, "timestamp": ts.to_string(),
                          "type": "text", "text": {"body": text}}]
        }),
    )
}

on_both_databases! {
    async fn a_contact_known_by_user_id_and_later_by_phone_is_one_contact_with_one_ledger(app: TestApp) {
        let key = app.api_key().await;
        assert_eq!(app.post_meta(&from_user_only("wamid.u1", T0 / 1000, "Does it come in blue?")).await.status(), 200);
        app.route_now().await;
        // Another system opts the user out of marketing by the user id.
        let (status, body) = api_post(&app, &key, "/api/v1/preferences",
            json!({"external_id": "crm-u1", "contact": USER, "channel": "whatsapp", "purpose": "marketing",
                   "effect": "opt_out", "source": "crm", "occurred_at": T0 - 1})).await;
        assert_eq!(status, 201, "{body}");
        let (_, e) = api_get(&app, &key, "/api/v1/eligibility", &[("contact", USER)]).await;
        assert_eq!(e["allowed"], false, "asked by user id: {e}");
        // Then Meta announces the phone number beside the user id.
        assert_eq!(app.post_meta(&from_both("wamid.u2", T0 / 1000 + 60, "Any news?")).await.status(), 200);
        app.route_now().await;
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM contacts WHERE wa_user_id = '{USER}'")).await, 1, "one record");
        assert_eq!(app.count("SELECT COUNT(DISTINCT contact_id) FROM events").await, 1, "every event is the phone contact's");
        assert_eq!(app.count("SELECT COUNT(DISTINCT contact_id) FROM preference_events").await, 1);
        for asked in ["+16505551234", USER] {
            let (_, e) = api_get(&app, &key, "/api/v1/eligibility", &[("contact", asked)]).await;
            assert_eq!((e["allowed"].as_bool(), e["deciding_event"]["source"].as_str()), (Some(false), Some("api:crm")), "{asked}: {e}");
        }
        // Both replies are in one open conversation.
        assert_eq!(app.count("SELECT COUNT(*) FROM conversations WHERE status = 'open'").await, 1);
        assert_eq!(app.count("SELECT message_count FROM conversations WHERE status = 'open'").await, 2);
        // A later message with the user id alone is stored under the phone contact too.
        assert_eq!(app.post_meta(&from_user_only("wamid.u3", T0 / 1000 + 120, "Hello?")).await.status(), 200);
        app.route_now().await;
        assert_eq!(app.count("SELECT COUNT(DISTINCT contact_id) FROM events").await, 1);
        assert_eq!(app.count("SELECT message_count FROM conversations WHERE status = 'open'").await, 3);
        let events = app.all_events().await;
        assert!(events.iter().all(|e| e["contact"]["phone"] == "+16505551234"), "{events:?}");
    }
}

on_both_databases! {
    async fn the_database_refuses_a_second_open_conversation_and_an_agent_is_told_why(app: TestApp) {
        let first = app.conversation_for("16315559001", "wamid.d1", "How much does it cost?").await;
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        let r = lead.post(&format!("/conversations/{first}/resolve"), &[("outcome", "handled")]).await;
        assert!(r.status().is_success() || r.status().is_redirection(), "resolve answered {}", r.status());
        // Past the reopen window a new reply opens a new conversation.
        app.clock.advance(80 * 3_600_000);
        let body = meta_text("16315559001", "wamid.d2", "Still there?", app.now() / 1000);
        assert_eq!(app.post_meta(&body).await.status(), 200);
        app.route_now().await;
        assert_eq!(app.count("SELECT COUNT(*) FROM conversations WHERE status = 'open'").await, 1);
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        let r = lead.hx_post(&format!("/conversations/{first}/reopen"), &[]).await;
        let status = r.status();
        let page = format!("{status} {}", r.text().await.unwrap());
        assert!(page.contains("already has an open conversation"), "reopening beside the open one is refused, saying why: {page}");
        assert_eq!(app.count("SELECT COUNT(*) FROM conversations WHERE status = 'open'").await, 1);
        // Whatever writes, the index holds.
        let contact: String = sqlx::query_scalar("SELECT contact_id FROM conversations WHERE id = $1")
            .bind(&first).fetch_one(app.db().reader()).await.unwrap();
        let second = sqlx::query("INSERT INTO conversations (id, contact_id, channel, status, category, opened_at, last_inbound_at, updated_at) \
                                  VALUES ('x', $1, 'main', 'open', 'service', 0, 0, 0)")
            .bind(&contact).execute(app.db().writer()).await;
        assert!(second.is_err(), "a second open conversation is refused by the database");
    }
}

each_database! {
    async fn migration_0011_folds_open_duplicates_into_the_oldest(backend: Backend) {
        let app = TestApp::spawn_configured(backend, "", |c| c.workers.router = false).await;
        for (wa, id, text, ts) in [
            ("16315559101", "wamid.m1", "How much does it cost?", T0 / 1000),
            ("16315559101", "wamid.m2", "And delivery?", T0 / 1000 + 60),
            ("16315559102", "wamid.m3", "How much does it cost?", T0 / 1000),
        ] {
            assert_eq!(app.post_meta(&meta_text(wa, id, text, ts)).await.status(), 200);
        }
        app.state.router.run_once().await.unwrap();
        // Put the database back before 0011 and split the first contact's
        // conversation in two, as two racing routers left it.
        let db = app.db().writer();
        for sql in [
            "DROP INDEX conversations_one_open",
            "DROP TABLE maintenance_log",
            "ALTER TABLE conversations DROP COLUMN merged_into",
            "ALTER TABLE contacts DROP COLUMN wa_id",
            "DELETE FROM _sqlx_migrations WHERE version = 11",
        ] {
            sqlx::query(sql).execute(db).await.unwrap();
        }
        let (older, contact): (String, String) = {
            use sqlx::Row;
            let r = sqlx::query("SELECT c.id, c.contact_id FROM conversations c JOIN events e ON e.conversation_id = c.id WHERE e.provider_id = 'wamid.m1'")
                .fetch_one(db).await.unwrap();
            (r.try_get(0).unwrap(), r.try_get(1).unwrap())
        };
        sqlx::query("INSERT INTO conversations (id, contact_id, channel, status, category, message_count, opened_at, last_inbound_at, \
                       last_text, due_at, updated_at) VALUES ('newer', $1, 'main', 'open', 'interest', 1, $2, $2, 'And delivery?', $3, $2)")
            .bind(&contact).bind(T0 + 60_000).bind(T0 + 600_000).execute(db).await.unwrap();
        sqlx::query("UPDATE conversations SET message_count = 1, due_at = $2 WHERE id = $1")
            .bind(&older).bind(T0 + 3_600_000).execute(db).await.unwrap();
        sqlx::query("UPDATE events SET conversation_id = 'newer' WHERE provider_id = 'wamid.m2'").execute(db).await.unwrap();
        app.db().migrate().await.unwrap();
        assert_eq!(app.count("SELECT COUNT(*) FROM conversations WHERE status = 'open'").await, 2, "one per contact");
        assert_eq!(app.count("SELECT count FROM maintenance_log WHERE id = '0011_one_open_conversation'").await, 1);
        let kept: (String, i64, Option<i64>, Option<String>) = {
            use sqlx::Row;
            let r = sqlx::query("SELECT status, message_count, due_at, last_text FROM conversations WHERE id = $1")
                .bind(&older).fetch_one(app.db().reader()).await.unwrap();
            (r.try_get(0).unwrap(), r.try_get(1).unwrap(), r.try_get(2).unwrap(), r.try_get(3).unwrap())
        };
        assert_eq!(kept, ("open".into(), 2, Some(T0 + 600_000), Some("And delivery?".into())),
                   "the older keeps both messages, the more urgent clock and the latest text");
        let folded: (String, Option<String>, Option<String>) = {
            use sqlx::Row;
            let r = sqlx::query("SELECT status, resolution, merged_into FROM conversations WHERE id = 'newer'")
                .fetch_one(app.db().reader()).await.unwrap();
            (r.try_get(0).unwrap(), r.try_get(1).unwrap(), r.try_get(2).unwrap())
        };
        assert_eq!(folded, ("closed".into(), Some("merged".into()), Some(older.clone())));
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM events WHERE conversation_id = '{older}'")).await, 2);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM conversation_log WHERE conversation_id = '{older}' AND kind = 'merged'")).await, 1);
        // The folded conversation's page leads to the one it went into.
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let r = admin.get("/conversations/newer").await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], format!("/conversations/{older}").as_str());
    }
}

test_case! {
    needs [POSTGRES]
    /// Two desks on one PostgreSQL, both routing, webhooks for the same
    /// contacts arriving at both at once.
    async fn two_instances_on_one_postgresql_keep_one_open_conversation_per_contact() {
        let one = TestApp::spawn(Backend::Postgres).await;
        let url = one.pg_url().unwrap();
        let two = TestApp::spawn_configured(Backend::Postgres, "", |c| c.database_url = url.clone()).await;
        let contacts: i64 = 20;
        let rounds: i64 = 8;
        let mut posts = Vec::new();
        for round in 0..rounds {
            for c in 0..contacts {
                let desk = if (round + c) % 2 == 0 { &one } else { &two };
                let body = meta_text(&format!("163155592{c:02}"), &format!("wamid.pg{round}-{c}"),
                                     "Where is my order?", T0 / 1000 + round);
                let (client, url) = (desk.client.clone(), desk.url("/webhooks/meta/main"));
                posts.push(tokio::spawn(async move {
                    let sig = replydesk::providers::meta::sign(META_SECRET, body.as_bytes());
                    client.post(url).header("x-hub-signature-256", sig).body(body).send().await.unwrap().status()
                }));
            }
        }
        for p in posts {
            assert_eq!(p.await.unwrap(), 200);
        }
        // Both routers at once, until nothing waits.
        for _ in 0..100 {
            let (a, b) = tokio::join!(one.state.router.run_once(), two.state.router.run_once());
            a.unwrap();
            b.unwrap();
            if one.count("SELECT COUNT(*) FROM events WHERE routed_at IS NULL").await == 0 {
                break;
            }
        }
        let total = contacts * rounds;
        assert_eq!(one.count("SELECT COUNT(*) FROM events WHERE routed_at IS NULL").await, 0);
        assert_eq!(one.count("SELECT COUNT(*) FROM conversations WHERE status = 'open'").await, contacts,
                   "one open conversation per contact");
        assert_eq!(one.count("SELECT COUNT(*) FROM conversations").await, contacts, "and no other");
        assert_eq!(one.count("SELECT COUNT(*) FROM events e JOIN conversations c ON c.id = e.conversation_id WHERE c.status = 'open'").await,
                   total, "every reply is in its contact's open conversation");
        assert_eq!(one.count("SELECT CAST(SUM(message_count) AS BIGINT) FROM conversations").await, total);
        drop(two);
    }
}

each_database! {
    async fn contacts_stored_under_whatsapps_form_are_re_keyed_once(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        // As an earlier desk kept them: WhatsApp's form as the number, the id derived from it.
        let old = "+5215512345678";
        let old_id = replydesk::contacts::identity::id_for_phone(old);
        let db = app.db().writer();
        sqlx::query("INSERT INTO contacts (id, phone, name, created_at, updated_at) VALUES ($1, $2, 'Ana', $3, $3)")
            .bind(&old_id).bind(old).bind(T0).execute(db).await.unwrap();
        sqlx::query("INSERT INTO preference_events (id, dedupe_key, contact_id, channel, purpose, effect, signal, source, occurred_at, recorded_at) \
                     VALUES ('p1', 'p1', $1, 'whatsapp', 'all', 'opt_out', 'keyword_opt_out', 'customer', $2, $2)")
            .bind(&old_id).bind(T0).execute(db).await.unwrap();
        sqlx::query("DELETE FROM maintenance_log WHERE id = 'contacts_canonical_phones'").execute(db).await.unwrap();
        assert_eq!(replydesk::contacts::repair::canonical_phones(app.db(), T0).await.unwrap(), 1);
        assert!(!app.allowed("+52 55 1234 5678", "whatsapp", "marketing").await, "the opt-out moved with the contact");
        assert_eq!(app.count("SELECT COUNT(*) FROM contacts WHERE phone = '+525512345678' AND name = 'Ana' AND wa_id = '5215512345678'").await, 1);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM contacts WHERE id = '{old_id}'")).await, 0);
        assert_eq!(replydesk::contacts::repair::canonical_phones(app.db(), T0).await.unwrap(), 0, "once");
    }
}

each_database! {
    async fn a_subject_access_export_holds_everything_about_the_person(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let conversation = app.conversation_for("16315558081", "wamid.SAR1", "How much does it cost?").await;
        assert_eq!(app.post_meta(&meta_text("16315558081", "wamid.SAR2", "STOP", T0 / 1000 + 60)).await.status(), 200);
        app.route_now().await;
        let all = replydesk::contacts::export::export(app.db(), "+16315558081").await.unwrap().expect("known");
        assert_eq!(all["contacts"][0]["phone"], "+16315558081");
        let texts: Vec<&str> = all["events"].as_array().unwrap().iter().filter_map(|e| e["body"].as_str()).collect();
        assert!(texts.contains(&"How much does it cost?") && texts.contains(&"STOP"), "{texts:?}");
        assert!(all["preference_events"].as_array().unwrap().iter().any(|p| p["effect"] == "opt_out"), "the ledger is in it");
        assert!(all["conversations"].as_array().unwrap().iter().any(|c| c["id"] == conversation.as_str()));
        assert!(!all["conversation_log"].as_array().unwrap().is_empty(), "and what was done in their conversations");
        assert!(replydesk::contacts::export::export(app.db(), "+16315550000").await.unwrap().is_none(), "nothing about a stranger");
    }
}
