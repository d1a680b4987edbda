//! The preference policy: what each signal reaches, journey exclusion,
//! review, policy changes, and preference events from other systems.

use crate::helpers::*;
use crate::on_both_databases;
use serde_json::{Value, json};

/// A copy of the shipped rules directory the test may edit.
fn rules_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml" || e == "md") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

async fn app_with_rules(backend: Backend, rules: &std::path::Path) -> TestApp {
    let rules = rules.to_path_buf();
    TestApp::spawn_configured(backend, "", move |c| c.rules_dir = rules).await
}

fn button(wa: &str, id: &str, payload: &str, ts: i64) -> String {
    meta_message(
        wa,
        json!({"id": id, "timestamp": ts.to_string(), "type": "button", "button": {"payload": payload, "text": payload}}),
    )
}

on_both_databases! {
    async fn each_default_policy_line_reaches_what_it_says(app: TestApp) {
        let t = 1_795_687_000;
        app.post_meta(&meta_text("16315551001", "wamid.k", "STOP", t)).await;
        app.post_meta(&button("16315551002", "wamid.b", "Stop promotions", t)).await;
        app.post_meta(&meta_status("16315551003", "wamid.s", "failed", t, Some(131_050))).await;
        app.post_meta(&meta_status("16315551004", "wamid.u", "failed", t, Some(131_026))).await;
        // (phone, whatsapp marketing, whatsapp service, email marketing, signal)
        let cases = [
            ("+16315551001", false, false, true, "keyword_opt_out"),
            ("+16315551002", false, true, true, "button_opt_out"),
            ("+16315551003", false, true, true, "status_marketing_opt_out"),
            ("+16315551004", false, false, true, "unreachable"),
        ];
        for (phone, wm, ws, em, signal) in cases {
            let e = app.eligibility(phone, "whatsapp", "marketing").await;
            assert_eq!(e["allowed"].as_bool(), Some(wm), "{signal}: whatsapp marketing");
            assert_eq!(e["deciding_event"]["signal"], signal);
            let line = e["policy"].as_str().unwrap_or_default();
            assert!(line.starts_with("preference_policy.toml:") && line.ends_with(&format!("[{signal}]")), "{signal}: the answer names its policy line: {line}");
            assert!(e["explanation"].as_str().unwrap().contains("Policy: preference_policy.toml:"), "{e}");
            assert_eq!(app.allowed(phone, "whatsapp", "all").await, ws, "{signal}: whatsapp service");
            assert_eq!(app.allowed(phone, "email", "marketing").await, em, "{signal}: email is not touched by default");
        }
    }
}

on_both_databases! {
    async fn a_block_goes_to_review_and_out_of_its_journey_until_people_decide(app: TestApp) {
        let phone = "+31612345001";
        app.register_outbound(json!({"message_id": "SMblock1", "contact": phone, "journey": "spring", "purpose": "marketing"})).await;
        let p = params(&[("MessageSid", "SMblock1"), ("MessageStatus", "failed"), ("ErrorCode", "63014"), ("To", &format!("whatsapp:{phone}"))]);
        assert_eq!(app.post_twilio(&p).await.status(), 200);
        for channel in ["whatsapp", "email"] {
            let e = app.eligibility(phone, channel, "all").await;
            assert_eq!(e["reason"], "under_review", "{channel}: held for a person");
        }
        // A lead of the owning team sees the review; nobody else's agent does.
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let page = admin.get("/reviews").await.text().await.unwrap();
        assert!(page.contains("block"), "the review queue lists the contact and its signal");
        let review: String = sqlx::query_scalar("SELECT id FROM reviews").fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(admin.post(&format!("/reviews/{review}"), &[("decision", "clear"), ("reason", "")]).await.status(), 400, "a decision needs a reason");
        assert_eq!(admin.post(&format!("/reviews/{review}"), &[("decision", "clear"), ("reason", "called them, all fine")]).await.status(), 303);
        let e = app.eligibility(phone, "whatsapp", "all").await;
        assert_eq!(e["reason"], "unreachable", "cleared from review, still blocked until a sign of life");
        assert!(app.allowed(phone, "email", "all").await, "email is free again");
        // A later reply proves the number reachable; the journey exclusion remains.
        app.clock.advance(60_000);
        app.post_twilio(&params(&[("MessageSid", "SMhi"), ("From", &format!("whatsapp:{phone}")), ("Body", "hola")])).await;
        assert!(app.allowed(phone, "whatsapp", "marketing").await);
        let key = app.api_key().await;
        let spring: Value = app.client.get(app.url("/api/v1/eligibility"))
            .query(&[("contact", phone), ("channel", "whatsapp"), ("purpose", "marketing"), ("journey", "spring")])
            .bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        assert_eq!((spring["allowed"].as_bool(), spring["reason"].as_str()), (Some(false), Some("excluded_from_journey")), "{spring}");
        assert_eq!(spring["exclusion"]["journey"], "spring");
        let exclusion: String = sqlx::query_scalar("SELECT id FROM journey_exclusions").fetch_one(app.db().reader()).await.unwrap();
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        assert_eq!(agent.post(&format!("/exclusions/{exclusion}/lift"), &[("reason", "x")]).await.status(), 403, "only admins lift");
        assert_eq!(admin.post(&format!("/exclusions/{exclusion}/lift"), &[("reason", "asked to rejoin")]).await.status(), 303);
        let spring: Value = app.client.get(app.url("/api/v1/eligibility"))
            .query(&[("contact", phone), ("channel", "whatsapp"), ("purpose", "marketing"), ("journey", "spring")])
            .bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        assert_eq!(spring["allowed"], true);
    }
}

on_both_databases! {
    async fn a_review_can_confirm_the_suppression_or_stop_all_contact(app: TestApp) {
        for (i, phone) in ["+31612345002", "+31612345003"].iter().enumerate() {
            let p = params(&[("MessageSid", &format!("SMb{i}")), ("MessageStatus", "failed"), ("ErrorCode", "63014"), ("To", &format!("whatsapp:{phone}"))]);
            app.post_twilio(&p).await;
        }
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let ids: Vec<(String, String)> = {
            use sqlx::Row;
            sqlx::query("SELECT r.id, k.phone FROM reviews r JOIN contacts k ON k.id = r.contact_id").fetch_all(app.db().reader()).await.unwrap()
                .iter().map(|r| (r.try_get(0).unwrap(), r.try_get(1).unwrap())).collect()
        };
        for (id, phone) in &ids {
            let decision = if phone == "+31612345002" { "confirm" } else { "do_not_contact" };
            admin.post(&format!("/reviews/{id}"), &[("decision", decision), ("reason", "their request")]).await;
        }
        // Confirmed: a sign of life no longer lifts WhatsApp; only an opt-in would.
        app.post_twilio(&params(&[("MessageSid", "SMc1"), ("From", "whatsapp:+31612345002"), ("Body", "hi")])).await;
        assert_eq!(app.eligibility("+31612345002", "whatsapp", "all").await["reason"], "opted_out");
        assert!(app.allowed("+31612345002", "email", "all").await);
        let dnc = app.eligibility("+31612345003", "email", "marketing").await;
        assert_eq!((dnc["reason"].as_str(), dnc["deciding_event"]["actor"].as_str()), (Some("do_not_contact"), Some("admin@example.com")));
    }
}

crate::each_database! {
    async fn a_policy_change_applies_to_new_events_only_and_a_broken_policy_is_kept_out(backend: Backend) {
        let rules = rules_copy();
        let app = app_with_rules(backend, rules.path()).await;
        app.post_meta(&meta_text(
            "16315551101",
            "wamid.before",
            "STOP",
            1_795_687_000,
        ))
        .await;
        // The business decides a WhatsApp STOP also stops email marketing.
        let path = rules.path().join("preference_policy.toml");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "kind = \"keyword_opt_out\"\nsuppress = [{ channel = \"whatsapp\", purpose = \"all\" }]",
            "kind = \"keyword_opt_out\"\nsuppress = [{ channel = \"whatsapp\", purpose = \"all\" }, { channel = \"email\", purpose = \"marketing\" }]",
            1,
        );
        std::fs::write(&path, text).unwrap();
        app.state.policy_files.reload(&app.state.signals).unwrap();
        app.post_meta(&meta_text(
            "16315551102",
            "wamid.after",
            "STOP",
            1_795_687_100,
        ))
        .await;
        assert!(
            app.allowed("+16315551101", "email", "marketing").await,
            "{backend:?}: history is never rewritten"
        );
        assert!(
            !app.allowed("+16315551102", "email", "marketing").await,
            "{backend:?}: the new policy reaches new events"
        );
        // A broken policy names its line and changes nothing.
        let good = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            format!("{good}\n[[signal]]\nkind = \"keyword_opt_out\"\n"),
        )
        .unwrap();
        let error = app
            .state
            .policy_files
            .reload(&app.state.signals)
            .unwrap_err();
        assert!(
            error.contains("preference_policy.toml:") && error.contains("listed twice"),
            "{error}"
        );
        app.post_meta(&meta_text(
            "16315551103",
            "wamid.later",
            "STOP",
            1_795_687_200,
        ))
        .await;
        assert!(
            !app.allowed("+16315551103", "email", "marketing").await,
            "{backend:?}: the last good policy stays active"
        );
        // Administrators are told on every page until the file is fixed.
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let page = admin.get("/queue").await.text().await.unwrap();
        assert!(
            page.contains("keeps the last good status codes and policy")
                && page.contains("listed twice"),
            "{backend:?}: the banner says what is wrong: {page}"
        );
        std::fs::write(&path, &good).unwrap();
        app.state.policy_files.reload(&app.state.signals).unwrap();
        let page = admin.get("/queue").await.text().await.unwrap();
        assert!(
            !page.contains("keeps the last good status codes"),
            "{backend:?}: the banner goes once the file checks"
        );
    }
}

async fn post_preference(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/preferences"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

on_both_databases! {
    async fn other_systems_post_preferences_into_the_same_ledger_by_event_time(app: TestApp) {
        let key = app.api_key().await;
        // The contact's email arrives with an outbound registration.
        app.register_outbound(json!({"message_id": "wamid.o1", "contact": "+16315551201", "email": "Ana@Example.com", "purpose": "marketing"})).await;
        let unsubscribe = json!({"external_id": "mc-1", "contact": "ana@example.com", "channel": "email", "purpose": "marketing",
                                 "effect": "opt_out", "source": "mailchimp", "occurred_at": "2026-11-26T09:00:00Z"});
        assert_eq!(post_preference(&app, &key, unsubscribe.clone()).await.status(), 201);
        let again = post_preference(&app, &key, unsubscribe).await;
        assert_eq!(again.status(), 200, "a repeat changes nothing");
        assert_eq!(again.json::<Value>().await.unwrap()["created"], false);
        let e = app.eligibility("+16315551201", "email", "marketing").await;
        assert_eq!((e["allowed"].as_bool(), e["deciding_event"]["source"].as_str()), (Some(false), Some("api:mailchimp")), "the phone's contact carries the email");
        assert!(app.allowed("+16315551201", "whatsapp", "marketing").await, "an email unsubscribe does not stop WhatsApp by default");
        // An opt-in that happened earlier but arrives later does not win.
        let earlier = json!({"external_id": "form-7", "contact": "ana@example.com", "channel": "email", "purpose": "marketing",
                             "effect": "opt_in", "source": "web-form", "occurred_at": "2026-11-26T08:00:00Z"});
        assert_eq!(post_preference(&app, &key, earlier).await.status(), 201);
        assert!(!app.allowed("+16315551201", "email", "marketing").await);
        let later = json!({"external_id": "form-8", "contact": "ana@example.com", "channel": "email", "purpose": "marketing",
                           "effect": "opt_in", "source": "web-form", "occurred_at": 1_795_685_400_000i64});
        post_preference(&app, &key, later).await;
        assert!(app.allowed("+16315551201", "email", "marketing").await, "a later opt-in wins");
        let before = app.count("SELECT COUNT(*) FROM preference_events").await;
        for (body, field) in [
            (json!({"external_id": "x1", "contact": "+16315551201", "channel": "fax", "purpose": "all", "effect": "opt_out", "source": "s", "occurred_at": 0}), "channel"),
            (json!({"external_id": "x2", "contact": "not a contact", "channel": "email", "purpose": "all", "effect": "opt_out", "source": "s", "occurred_at": 0}), "contact"),
            (json!({"external_id": "x3", "contact": "+16315551201", "channel": "email", "purpose": "all", "effect": "opt_out", "source": "s", "occurred_at": T0 + 3_600_000}), "occurred_at"),
            (json!({"external_id": "x4", "contact": "+16315551201", "channel": "email", "purpose": "all", "effect": "maybe", "source": "s", "occurred_at": 0}), "effect"),
        ] {
            let r = post_preference(&app, &key, body).await;
            assert_eq!(r.status(), 400, "{field}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["field"], field, "{v}");
            assert!(!v["error"].as_str().unwrap().is_empty());
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM preference_events").await, before, "nothing stored for bad input");
        assert_eq!(app.count("SELECT COUNT(*) FROM external_preferences WHERE external_id LIKE 'x%'").await, 0);
    }
}

on_both_databases! {
    async fn the_contact_page_explains_each_channel_and_purpose(app: TestApp) {
        let id = app.conversation_for("16315551301", "wamid.cp", "How much does it cost?").await;
        app.post_meta(&button("16315551301", "wamid.cp2", "Stop promotions", T0 / 1000 + 60)).await;
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let conversation = agent.get(&format!("/conversations/{id}")).await.text().await.unwrap();
        let contact_link = conversation.split("href=\"/contacts/").nth(1).unwrap().split('"').next().unwrap().to_string();
        let page = agent.get(&format!("/contacts/{contact_link}")).await.text().await.unwrap();
        assert!(page.contains("id=\"contact-state\""));
        assert!(page.contains("Rule 2: the customer&#39;s latest statement by event time is an opt-out (button opt out") || page.contains("Rule 2: the customer's latest statement by event time is an opt-out (button opt out"), "{page}");
        let other = app.sign_in_as("svc@example.com", "agent").await;
        assert_eq!(other.get(&format!("/contacts/{contact_link}")).await.status(), 404, "contact data only for those who may see it");
    }
}

on_both_databases! {
    async fn a_complaint_takes_the_contact_out_of_the_journey_that_prompted_it(app: TestApp) {
        let phone = "+16315551401";
        let sent = T0 - 3_600_000;
        app.register_outbound(json!({"message_id": "wamid.offer.c", "contact": phone, "journey": "winter_sale", "purpose": "marketing", "sent_at": sent})).await;
        app.post_meta(&meta_text("16315551401", "wamid.complaint", "This is unacceptable, I want to complain to a manager", T0 / 1000)).await;
        use sqlx::Row;
        let row = sqlx::query("SELECT category, rule_id FROM events WHERE provider_id = 'wamid.complaint'").fetch_one(app.db().reader()).await.unwrap();
        let (category, rule): (String, String) = (row.try_get(0).unwrap(), row.try_get(1).unwrap());
        assert_eq!((category.as_str(), rule.as_str()), ("service", "complaint"), "a service reply, by the complaint rule");
        let key = app.api_key().await;
        let answer: Value = app.client.get(app.url("/api/v1/eligibility"))
            .query(&[("contact", phone), ("channel", "whatsapp"), ("purpose", "marketing"), ("journey", "winter_sale")])
            .bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        assert_eq!((answer["allowed"].as_bool(), answer["reason"].as_str()), (Some(false), Some("excluded_from_journey")), "{answer}");
        assert!(answer["policy"].as_str().unwrap_or_default().ends_with("[complaint]"), "names the policy line: {answer}");
        assert!(app.allowed(phone, "whatsapp", "marketing").await, "other journeys may still write: a complaint is not an opt-out");
    }
}

on_both_databases! {
    async fn an_admin_sets_and_lifts_do_not_contact_and_every_decision_is_audited(app: TestApp) {
        let id = app.conversation_for("16315551501", "wamid.dnc", "How much does it cost?").await;
        let contact: String = sqlx::query_scalar("SELECT contact_id FROM conversations WHERE id = $1").bind(&id).fetch_one(app.db().reader()).await.unwrap();
        let phone = "+16315551501";
        let path = format!("/contacts/{contact}/do-not-contact");
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let page = agent.get(&format!("/contacts/{contact}")).await.text().await.unwrap();
        assert!(!page.contains("id=\"dnc-form\""), "agents do not get the form");
        assert_eq!(agent.post(&path, &[("action", "set"), ("reason", "x")]).await.status(), 403, "only admins set it here");

        let admin = app.sign_in_as("admin@example.com", "admin").await;
        assert!(admin.get(&format!("/contacts/{contact}")).await.text().await.unwrap().contains("id=\"dnc-set\""));
        assert_eq!(admin.post(&path, &[("action", "set"), ("reason", "")]).await.status(), 400, "a reason is required");
        assert_eq!(admin.post(&path, &[("action", "set"), ("reason", "legal request")]).await.status(), 303);
        assert_eq!(admin.post(&path, &[("action", "set"), ("reason", "again")]).await.status(), 409, "already set");
        for (channel, purpose) in [("whatsapp", "all"), ("email", "marketing")] {
            let e = app.eligibility(phone, channel, purpose).await;
            assert_eq!(e["reason"], "do_not_contact", "{channel}/{purpose}: {e}");
        }
        // A later opt-in does not undo it; only an administrator does.
        app.clock.advance(60_000);
        app.post_meta(&meta_text("16315551501", "wamid.dnc.start", "START", app.now() / 1000)).await;
        assert_eq!(app.eligibility(phone, "whatsapp", "marketing").await["reason"], "do_not_contact");
        let page = admin.get(&format!("/contacts/{contact}")).await.text().await.unwrap();
        assert!(page.contains("id=\"dnc-lift\""), "the page offers to lift it");
        assert_eq!(admin.post(&path, &[("action", "lift"), ("reason", "request withdrawn")]).await.status(), 303);
        assert!(app.allowed(phone, "whatsapp", "marketing").await, "lifted, and the customer's START is the latest statement");

        let audited = app.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('preference.dnc_set', 'preference.dnc_lift') AND actor = 'admin@example.com'").await;
        assert_eq!(audited, 2, "setting and lifting are in the audit log");
    }
}

on_both_databases! {
    async fn review_decisions_and_lifted_exclusions_are_in_the_audit_log(app: TestApp) {
        let phone = "+31612345091";
        app.register_outbound(json!({"message_id": "SMaudit1", "contact": phone, "journey": "spring", "purpose": "marketing"})).await;
        let p = params(&[("MessageSid", "SMaudit1"), ("MessageStatus", "failed"), ("ErrorCode", "63014"), ("To", &format!("whatsapp:{phone}"))]);
        assert_eq!(app.post_twilio(&p).await.status(), 200);
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let review: String = sqlx::query_scalar("SELECT id FROM reviews").fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(admin.post(&format!("/reviews/{review}"), &[("decision", "confirm"), ("reason", "they blocked us")]).await.status(), 303);
        let exclusion: String = sqlx::query_scalar("SELECT id FROM journey_exclusions").fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(admin.post(&format!("/exclusions/{exclusion}/lift"), &[("reason", "asked to rejoin")]).await.status(), 303);
        assert_eq!(admin.post(&format!("/exclusions/{exclusion}/lift"), &[("reason", "twice")]).await.status(), 409);
        let audit = admin.get("/admin/audit?action=preference.").await.text().await.unwrap();
        for expected in ["preference.review_decided", "they blocked us", "preference.exclusion_lifted", "asked to rejoin"] {
            assert!(audit.contains(expected), "the audit page shows {expected}: {audit}");
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'preference.%'").await, 2, "one row per decision");
    }
}

const CONTACTS_CSV: &str = "contact,email,name
+31612349001,Ana@Example.com,Ana Jansen
+31612349002,not-an-email,Bo
0612349003,c@example.com,
+31612349004,d@example.com
";

on_both_databases! {
    async fn a_contacts_import_gives_emails_to_phone_contacts_so_an_email_unsubscribe_reaches_them(app: TestApp) {
        let import = || replydesk::contacts::import_csv(app.db(), CONTACTS_CSV.as_bytes(), app.now(), |_| {});
        let first = import().await.unwrap();
        let bad: Vec<(u64, &str)> = first.bad.iter().map(|b| (b.line, b.reason.split(':').next().unwrap())).collect();
        assert_eq!(bad, [(3, "email"), (4, "contact")], "bad rows by line and field: {:?}", first.bad);
        assert_eq!((first.rows, first.created, first.updated, first.unchanged), (4, 2, 0, 0));
        let second = import().await.unwrap();
        assert_eq!((second.created, second.updated, second.unchanged, second.bad.len()), (0, 0, 2, 2), "a second run changes nothing");
        let email: String = sqlx::query_scalar("SELECT email FROM contacts WHERE phone = '+31612349001'").fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(email, "ana@example.com");
        let wrong = replydesk::contacts::import_csv(app.db(), "phone,mail\n".as_bytes(), app.now(), |_| {}).await;
        assert!(wrong.unwrap_err().to_string().starts_with("line 1: unknown column \"phone\""), "a wrong header is refused before any row");

        // The email system says Ana unsubscribed: it reaches her phone contact's email channel.
        let key = app.api_key().await;
        let body = json!({"external_id": "esp-1", "contact": "ana@example.com", "channel": "email", "purpose": "marketing",
            "effect": "opt_out", "source": "newsletter", "occurred_at": T0 - 60_000});
        assert_eq!(post_preference(&app, &key, body).await.status(), 201);
        assert!(!app.allowed("+31612349001", "email", "marketing").await, "the unsubscribe is on the contact the desk knows by phone");
        assert!(app.allowed("+31612349001", "whatsapp", "marketing").await, "and, by default, on email only");
    }
}

crate::test_case! {
    /// The command line, as an operator runs it: a summary, bad rows by line, exit 1.
    fn the_contacts_import_command_reports_bad_rows_and_exits_1() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("contacts.csv");
        std::fs::write(&file, CONTACTS_CSV).unwrap();
        let run = || {
            std::process::Command::new(env!("CARGO_BIN_EXE_replydesk"))
                .args(["contacts", "import"])
                .arg(&file)
                .env(
                    "REPLYDESK_DATABASE_URL",
                    format!("sqlite://{}/desk.db", dir.path().display()),
                )
                .env("REPLYDESK_RULES_DIR", repo().join("rules"))
                .current_dir(dir.path())
                .output()
                .unwrap()
        };
        let first = run();
        let (out, err) = (
            String::from_utf8_lossy(&first.stdout),
            String::from_utf8_lossy(&first.stderr),
        );
        assert_eq!(first.status.code(), Some(1), "{out}{err}");
        assert!(
            out.contains("4 rows: 2 contacts created, 0 updated, 0 already as in the file, 2 bad"),
            "{out}"
        );
        assert!(
            err.contains("line 3: email:") && err.contains("line 4: contact:"),
            "{err}"
        );
        let second = run();
        assert!(
            String::from_utf8_lossy(&second.stdout)
                .contains("0 contacts created, 0 updated, 2 already as in the file")
        );
    }
}
