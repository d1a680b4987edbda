//! People in the browser: sign-in, roles on every route, CSRF, throttling,
//! the queue and the actions on a conversation.

use crate::helpers::*;
use crate::on_both_databases;

const INTEREST: &str = "How much does it cost?";
const SERVICE: &str = "My order arrived broken, I need help";

on_both_databases! {
    async fn every_route_answers_each_role_as_it_should(app: TestApp) {
        let sales = app.conversation_for("16315550101", "wamid.r1", INTEREST).await;
        let service = app.conversation_for("16315550102", "wamid.r2", SERVICE).await;
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let other = app.sign_in_as("svc@example.com", "agent").await;
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let anonymous = Session {
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            csrf: String::new(),
            base: app.base.clone(),
        };
        let sales_page = format!("/conversations/{sales}");
        let service_page = format!("/conversations/{service}");
        let contact: String = sqlx::query_scalar("SELECT contact_id FROM conversations WHERE id = $1").bind(&sales).fetch_one(app.db().reader()).await.unwrap();
        let contact_page = format!("/contacts/{contact}");
        // (path, anonymous, sales agent, service agent, sales lead, admin)
        let gets: Vec<(&str, [u16; 5])> = vec![
            ("/queue", [303, 200, 200, 200, 200]),
            ("/queue/rows", [303, 200, 200, 200, 200]),
            (&sales_page, [303, 200, 404, 200, 200]),
            (&service_page, [303, 404, 200, 404, 200]),
            ("/team", [303, 403, 403, 200, 200]),
            ("/breaches", [303, 403, 403, 200, 200]),
            ("/reports", [303, 403, 403, 200, 200]),
            ("/reports.csv?table=daily", [303, 403, 403, 200, 200]),
            ("/reviews", [303, 200, 200, 200, 200]),
            (&contact_page, [303, 200, 404, 200, 200]),
            ("/admin/rules", [303, 403, 403, 403, 200]),
            ("/admin/audit", [303, 403, 403, 403, 200]),
            ("/admin/settings", [303, 403, 403, 403, 200]),
            ("/conversations/does-not-exist", [303, 404, 404, 404, 404]),
            ("/api/v1/events", [401, 401, 401, 401, 401]),
            ("/healthz", [200, 200, 200, 200, 200]),
            ("/login", [200, 303, 303, 303, 303]),
        ];
        let who = [&anonymous, &agent, &other, &lead, &admin];
        for (path, expected) in &gets {
            for (i, session) in who.iter().enumerate() {
                let got = session.get(path).await.status().as_u16();
                assert_eq!(got, expected[i], "GET {path} as {}", ["anonymous", "sales agent", "service agent", "sales lead", "admin"][i]);
            }
        }
        let note = format!("{sales_page}/note");
        let dnc = format!("{contact_page}/do-not-contact");
        let posts: Vec<(&str, [u16; 5])> = vec![
            (&note, [303, 303, 404, 303, 303]),
            ("/me/away", [303, 303, 303, 303, 303]),
            // Refused before the form is read; the admin's lacks its fields.
            (&dnc, [303, 403, 403, 403, 422]),
        ];
        for (path, expected) in &posts {
            for (i, session) in who.iter().enumerate() {
                let got = session.post(path, &[("text", "checked"), ("away", "0")]).await.status().as_u16();
                assert_eq!(got, expected[i], "POST {path} as {}", ["anonymous", "sales agent", "service agent", "sales lead", "admin"][i]);
            }
        }
        // The anonymous note did not land; the three allowed ones did.
        assert_eq!(app.count("SELECT COUNT(*) FROM conversation_log WHERE kind = 'note'").await, 3);
    }
}

on_both_databases! {
    async fn a_form_without_the_session_token_or_from_another_site_is_refused(app: TestApp) {
        let id = app.conversation_for("16315550103", "wamid.c1", INTEREST).await;
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let path = format!("{}/conversations/{id}/note", app.base);
        let no_token = agent.client.post(&path).form(&[("text", "x")]).send().await.unwrap();
        assert_eq!(no_token.status(), 403);
        let wrong = agent.client.post(&path).form(&[("text", "x"), ("_csrf", "0000")]).send().await.unwrap();
        assert_eq!(wrong.status(), 403);
        let cross_site = agent.client.post(&path).header("origin", "https://evil.example").form(&[("text", "x"), ("_csrf", agent.csrf.as_str())]).send().await.unwrap();
        assert_eq!(cross_site.status(), 403);
        assert_eq!(app.count("SELECT COUNT(*) FROM conversation_log WHERE kind = 'note'").await, 0);
        let ok = agent.hx_post(&format!("/conversations/{id}/note"), &[("text", "called back")]).await;
        assert_eq!(ok.status(), 200);
        assert_eq!(app.count("SELECT COUNT(*) FROM conversation_log WHERE kind = 'note'").await, 1);
    }
}

on_both_databases! {
    async fn repeated_wrong_passwords_lock_the_account_for_a_while(app: TestApp) {
        app.sign_in_as("agent@example.com", "agent").await;
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let attempt = |password: &'static str| {
            let client = client.clone();
            let url = app.url("/login");
            let origin = app.base.clone();
            async move { send_sign_in(|| client.post(&url).header("origin", &origin).form(&[("email", "agent@example.com"), ("password", password)])).await }
        };
        for _ in 0..5 {
            let r = attempt("wrong password!").await;
            assert_eq!(r.status(), 200);
            assert!(r.text().await.unwrap().contains("Email or password is wrong."));
        }
        let locked = attempt(PASSWORD).await;
        assert_eq!(locked.status(), 200, "the right password is refused while locked");
        assert!(locked.text().await.unwrap().contains("Too many failed sign-ins"));
        app.clock.advance(16 * 60_000);
        assert_eq!(attempt(PASSWORD).await.status(), 303, "the lock lifts after the window");
    }
}

on_both_databases! {
    async fn the_first_administrator_is_created_through_a_one_time_link(app: TestApp) {
        let now = app.now();
        let token = replydesk::auth::sessions::create_link(app.db(), "first_admin", None, 3_600_000, now).await.unwrap();
        let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let page = client.get(app.url(&format!("/setup/{token}"))).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let short = client.post(app.url(&format!("/setup/{token}"))).form(&[("email", "boss@example.com"), ("password", "short"), ("confirm", "short")]).send().await.unwrap();
        let body = short.text().await.unwrap();
        assert!(body.contains("id=\"password-error\""), "the error is shown next to the field");
        let ok = client.post(app.url(&format!("/setup/{token}"))).form(&[("email", "boss@example.com"), ("password", PASSWORD), ("confirm", PASSWORD)]).send().await.unwrap();
        assert_eq!(ok.status(), 303);
        assert_eq!(client.get(app.url("/team")).send().await.unwrap().status(), 200, "signed in as an admin");
        let again = reqwest::Client::new().get(app.url(&format!("/setup/{token}"))).send().await.unwrap();
        assert_eq!(again.status(), 410, "the link works once");
        assert!(replydesk::auth::users::admin_exists(app.db()).await.unwrap());
    }
}

on_both_databases! {
    async fn actions_on_a_conversation_are_recorded_with_who_and_when(app: TestApp) {
        let id = app.conversation_for("16315550104", "wamid.a1", INTEREST).await;
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let base = format!("/conversations/{id}");
        let claimed = agent.hx_post(&format!("{base}/claim"), &[]).await;
        assert_eq!(claimed.status(), 200);
        assert!(claimed.text().await.unwrap().contains("Claimed by you"));
        let due_before = app.count(&format!("SELECT due_at FROM conversations WHERE id = '{id}'")).await;
        app.clock.advance(60_000);
        agent.hx_post(&format!("{base}/respond"), &[("kind", "call"), ("note", "left a voicemail")]).await;
        let due_after = app.count(&format!("SELECT due_at FROM conversations WHERE id = '{id}'")).await;
        assert!(due_after > due_before, "the first response stops the first-response clock");
        agent.hx_post(&format!("{base}/reclassify"), &[("category", "service"), ("note", "asks about an order")]).await;
        let empty_note = agent.hx_post(&format!("{base}/note"), &[("text", "  ")]).await;
        assert!(empty_note.text().await.unwrap().contains("id=\"note-error\""), "the error is shown next to the field");
        agent.hx_post(&format!("{base}/resolve"), &[("outcome", "follow_up_booked")]).await;
        agent.hx_post(&format!("{base}/reopen"), &[]).await;
        let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM conversation_log WHERE conversation_id = $1 AND actor = 'agent@example.com' ORDER BY at, id")
            .bind(&id).fetch_all(app.db().reader()).await.unwrap();
        assert_eq!(kinds, ["claimed", "response", "reclassified", "resolved", "reopened"]);
        let correction: (String, String, String) = {
            use sqlx::Row;
            let r = sqlx::query("SELECT original_category, original_rule, corrected FROM corrections").fetch_one(app.db().reader()).await.unwrap();
            (r.try_get(0).unwrap(), r.try_get(1).unwrap(), r.try_get(2).unwrap())
        };
        assert_eq!((correction.0.as_str(), correction.2.as_str()), ("interest", "service"));
        assert!(!correction.1.is_empty(), "the correction names the original rule");
        let page = agent.get(&base).await.text().await.unwrap();
        assert!(page.contains("left a voicemail") && page.contains("asks about an order"), "the timeline shows what was done");
    }
}

on_both_databases! {
    async fn the_queue_orders_by_due_time_filters_searches_and_pages(app: TestApp) {
        for i in 0..55 {
            app.post_meta(&meta_text(&format!("163155502{i:02}"), &format!("wamid.q{i}"), INTEREST, T0 / 1000 + i)).await;
        }
        app.post_meta(&meta_text("16315559999", "wamid.special", "Do you deliver the blue sofa to Utrecht? How much?", T0 / 1000 - 3600)).await;
        app.route_now().await;
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let page = agent.get("/queue?tab=team").await.text().await.unwrap();
        let rows = page.matches("<tr data-id=").count();
        assert_eq!(rows, 50, "a page holds 50 conversations");
        assert!(page.contains("Next page"));
        let first = page.find("blue sofa").expect("the oldest reply is first: it is due soonest");
        assert!(first < page.find(INTEREST).unwrap());
        assert!(page.contains("<span class=\"count\">56</span>"), "the tab shows the count");
        let next = page.split("href=\"/queue?").find(|h| h.contains("after=")).unwrap().split('"').next().unwrap().replace("&amp;", "&").replace("&#38;", "&");
        let second = agent.get(&format!("/queue?{next}")).await.text().await.unwrap();
        assert_eq!(second.matches("<tr data-id=").count(), 6);
        let found = agent.get("/queue?tab=team&q=sofa").await.text().await.unwrap();
        assert_eq!(found.matches("<tr data-id=").count(), 1, "search by text");
        assert!(found.contains("<span class=\"count\">1</span>") && !found.contains("<span class=\"count\">56</span>"), "the counts follow the search");
        let by_phone = agent.get("/queue?tab=team&q=5559999").await.text().await.unwrap();
        assert_eq!(by_phone.matches("<tr data-id=").count(), 1, "search by phone");
        let mine = agent.get("/queue?tab=mine").await.text().await.unwrap();
        assert!(mine.contains("Nothing here"), "an empty tab says so");
        let other_team = app.sign_in_as("svc@example.com", "agent").await;
        let theirs = other_team.get("/queue?tab=team").await.text().await.unwrap();
        assert_eq!(theirs.matches("<tr data-id=").count(), 0, "agents see only their teams");
        let rows = agent.client.get(format!("{}/queue/rows?tab=team", app.base)).header("hx-request", "true").send().await.unwrap().text().await.unwrap();
        assert!(rows.starts_with("<tbody id=\"rows\"") || rows.trim_start().starts_with("<tbody id=\"rows\""), "the live refresh returns the rows");
        assert!(rows.contains("hx-swap-oob"), "and the tab counts");
    }
}
