//! Security: bounded password hashing, a lockout that holds under parallel
//! guesses, trusted proxies, the timeline across teams, `next=`, `assign`,
//! API key scopes, CSV cells, lead-scoped reports, sign-in without `Origin`,
//! `/metrics`, and every route's decision for every role and scope.

use crate::helpers::*;
use crate::{each_database, on_both_databases};
use replydesk::auth::apikeys::Scope;
use serde_json::json;
use std::collections::BTreeSet;

/// A client that signs in as a browser does (the form, then its token).
async fn sign_in_attempt(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = hidden_field(&form, "_login");
    send_sign_in(|| {
        client.post(app.url("/login")).form(&[
            ("email", email),
            ("password", password),
            ("_login", &token),
        ])
    })
    .await
}

on_both_databases! {
    async fn parallel_guesses_are_judged_against_the_limit_one_by_one(app: TestApp) {
        app.sign_in_as("agent@example.com", "agent").await;
        let guesses: Vec<_> = (0..30)
            .map(|i| {
                let app_url = app.base.clone();
                let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
                tokio::spawn(async move {
                    let r = client.post(format!("{app_url}/login")).header("origin", &app_url)
                        .form(&[("email", "agent@example.com"), ("password", format!("wrong guess {i}").as_str())])
                        .send().await.unwrap();
                    let status = r.status().as_u16();
                    (status, r.headers().contains_key("retry-after"), r.text().await.unwrap())
                })
            })
            .collect();
        let (mut judged, mut locked, mut busy) = (0, 0, 0);
        for g in guesses {
            let (status, retry_after, body) = g.await.unwrap();
            match status {
                200 if body.contains("Email or password is wrong.") => judged += 1,
                200 if body.contains("Too many failed sign-ins") => locked += 1,
                503 => {
                    assert!(retry_after, "a busy answer says when to come back");
                    busy += 1;
                }
                other => panic!("unexpected answer {other}: {body}"),
            }
        }
        assert!((1..=5).contains(&judged), "{judged} of 30 guesses judged (limit 5; {locked} locked, {busy} busy)");
        assert_eq!(judged + locked + busy, 30);
        // The account is locked now, even for the right password.
        let r = send_sign_in(|| app.client.post(app.url("/login")).header("origin", &app.base)
            .form(&[("email", "agent@example.com"), ("password", PASSWORD)])).await;
        let body = r.text().await.unwrap();
        if judged == 5 {
            assert!(body.contains("Too many failed sign-ins"), "{body}");
        }
    }
}

on_both_databases! {
    async fn a_flood_of_sign_ins_hashes_within_the_slots_and_webhooks_keep_flowing(app: TestApp) {
        let attempts: Vec<_> = (0..40)
            .map(|i| {
                let base = app.base.clone();
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    let r = client.post(format!("{base}/login")).header("origin", &base)
                        .form(&[("email", format!("nobody{i}@example.com").as_str()), ("password", "whatever it is")])
                        .send().await.unwrap();
                    (r.status().as_u16(), r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()))
                })
            })
            .collect();
        let body = meta_text("16315558001", "wamid.flood", "How much does it cost?", T0 / 1000);
        assert_eq!(app.post_meta(&body).await.status(), 200, "webhooks are answered during the flood");
        for a in attempts {
            let (status, retry_after) = a.await.unwrap();
            assert!(status == 200 || status == 503, "answered {status}");
            if status == 503 {
                assert_eq!(retry_after.as_deref(), Some("1"));
            }
        }
        let (peak, slots) = (replydesk::auth::passwords::peak(), replydesk::auth::passwords::slots());
        assert!(peak <= slots, "{peak} hashes ran at once; the bound is {slots}");
        // Attempts beyond the window are pruned when the next one is counted.
        app.clock.advance(16 * 60_000);
        sign_in_attempt(&app, "nobody@example.com", "whatever it is").await;
        assert_eq!(app.count("SELECT COUNT(*) FROM login_failures").await, 1, "old attempts are pruned");
    }
}

each_database! {
    async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy(backend: Backend) {
        for (trusted, stored) in [("", "127.0.0.1"), ("trusted_proxies = [\"127.0.0.0/8\"]", "203.0.113.9")] {
            let app = TestApp::spawn_with(backend, trusted).await;
            let r = send_sign_in(|| app.client.post(app.url("/login")).header("origin", &app.base)
                // The client wrote the first entry; the proxy appended the second.
                .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
                .form(&[("email", "someone@example.com"), ("password", "not the password")])).await;
            assert_eq!(r.status(), 200);
            let ip: String = sqlx::query_scalar("SELECT ip FROM login_failures").fetch_one(app.db().reader()).await.unwrap();
            assert_eq!(ip, stored, "with {trusted:?}");
        }
    }
}

on_both_databases! {
    async fn another_teams_notes_and_messages_are_not_shown_on_the_timeline(app: TestApp) {
        let sales = app.conversation_for("16315558101", "wamid.tl1", "How much does it cost?").await;
        // Resolved, then a service question from the same customer opens a service conversation.
        sqlx::query("UPDATE conversations SET status = 'resolved', resolved_at = $1 WHERE id = $2")
            .bind(T0).bind(&sales).execute(app.db().writer()).await.unwrap();
        app.clock.advance(80 * 3_600_000);
        let service = app.conversation_for("16315558101", "wamid.tl2", "My parcel arrived broken, I need help").await;
        assert_ne!(sales, service);
        let svc = app.sign_in_as("svc@example.com", "agent").await;
        let r = svc.post(&format!("/conversations/{service}/note"), &[("text", "Customer threatens a chargeback")]).await;
        assert!(r.status().is_redirection(), "{}", r.status());
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let page = agent.get(&format!("/conversations/{sales}")).await.text().await.unwrap();
        assert!(!page.contains("chargeback"), "the service team's note is not shown to sales");
        assert!(!page.contains("parcel arrived broken"), "nor the service conversation's messages");
        assert!(page.contains("handled by another team"), "the timeline says something happened elsewhere");
        let page = svc.get(&format!("/conversations/{service}")).await.text().await.unwrap();
        assert!(page.contains("chargeback"), "the service team sees its own note");
    }
}

on_both_databases! {
    async fn next_goes_only_to_a_path_on_this_site(app: TestApp) {
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        for next in ["/%09/evil.example", "/%0d/evil.example", "//evil.example", "/%5Cevil.example", "https://evil.example", "/caf%C3%A9"] {
            let r = agent.get(&format!("/login?next={next}")).await;
            assert_eq!(r.status(), 303, "next={next}");
            assert_eq!(r.headers()["location"], "/queue", "next={next}");
        }
        let r = agent.get("/login?next=/reports").await;
        assert_eq!(r.headers()["location"], "/reports");
    }
}

on_both_databases! {
    async fn an_agent_cannot_take_a_colleagues_conversation_through_assign(app: TestApp) {
        let id = app.conversation_for("16315558201", "wamid.as1", "How much does it cost?").await;
        let bob = app.sign_in_as("bob@example.com", "agent").await;
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        bob.hx_post(&format!("/conversations/{id}/claim"), &[]).await;
        let assignee = || async {
            sqlx::query_scalar::<_, Option<String>>("SELECT assignee FROM conversations WHERE id = $1")
                .bind(&id).fetch_one(app.db().reader()).await.unwrap()
        };
        assert_eq!(assignee().await.as_deref(), Some("bob@example.com"));
        let page = agent.hx_post(&format!("/conversations/{id}/assign"), &[("agent", "agent@example.com")]).await.text().await.unwrap();
        assert!(page.contains("ask a lead to reassign"), "{page}");
        assert_eq!(assignee().await.as_deref(), Some("bob@example.com"), "still bob's");
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        lead.hx_post(&format!("/conversations/{id}/assign"), &[("agent", "agent@example.com")]).await;
        assert_eq!(assignee().await.as_deref(), Some("agent@example.com"), "a lead reassigns");
    }
}

on_both_databases! {
    async fn an_api_key_does_only_what_its_scopes_allow(app: TestApp) {
        let key = app.api_key_with(&[Scope::Eligibility]).await;
        let get = |path: &'static str| {
            let (client, url, key) = (app.client.clone(), app.url(path), key.clone());
            async move { client.get(url).bearer_auth(key).send().await.unwrap() }
        };
        assert_eq!(get("/api/v1/eligibility?contact=%2B16315558301").await.status(), 200);
        let events = get("/api/v1/events").await;
        assert_eq!(events.status(), 403);
        let body: serde_json::Value = events.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("`read`"), "{body}");
        let r = app.client.post(app.url("/api/v1/preferences")).bearer_auth(&key)
            .json(&json!({"external_id": "s1", "contact": "+16315558301", "channel": "whatsapp", "purpose": "all",
                          "effect": "opt_in", "source": "x", "occurred_at": 0})).send().await.unwrap();
        assert_eq!(r.status(), 403, "an eligibility key cannot opt a contact back in");
        assert_eq!(app.count("SELECT COUNT(*) FROM preference_events").await, 0);
        // Keys made before scopes keep what they could do, minus sending.
        sqlx::query("INSERT INTO api_keys (id, name, secret_hash, created_at) VALUES ('old', 'old', 'x', 0)")
            .execute(app.db().writer()).await.unwrap();
        let scopes: String = sqlx::query_scalar("SELECT scopes FROM api_keys WHERE id = 'old'").fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(scopes, "read,eligibility,preferences,conversions,outbound");
        // The stored secret is a hash that the token verifies against.
        let id = key.split('_').nth(1).unwrap();
        let stored: String = sqlx::query_scalar("SELECT secret_hash FROM api_keys WHERE id = $1").bind(id).fetch_one(app.db().reader()).await.unwrap();
        use sha2::Digest;
        assert_eq!(stored, hex::encode(sha2::Sha256::digest(key.as_bytes())));
    }
}

on_both_databases! {
    async fn csv_cells_that_a_spreadsheet_would_run_are_written_as_text(app: TestApp) {
        // A sending platform names its journey; the report's CSV shows it.
        let r = app.register_outbound(json!({"message_id": "wamid.csv", "contact": "+16315558401",
            "journey": "=HYPERLINK(\"http://evil.example\")", "purpose": "marketing", "sent_at": T0 - 3_600_000})).await;
        assert!(r.status().is_success());
        let codes = app.state.signals.status_codes.load();
        replydesk::reports::refresh(app.db(), &app.state.config, &codes, app.now()).await.unwrap();
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let csv = admin.get("/reports.csv?table=groups").await.text().await.unwrap();
        assert!(csv.contains("'=HYPERLINK"), "{csv}");
        let cells: Vec<&str> = csv.lines().flat_map(|l| l.split(',')).map(|c| c.trim_start_matches('"')).collect();
        assert!(!cells.iter().any(|c| c.starts_with('=')), "no cell starts a formula: {csv}");
    }
}

each_database! {
    async fn a_lead_reads_the_reports_of_their_teams_only(backend: Backend) {
        let app = TestApp::spawn_with(backend, "[reports.journey_owners]\nrenewal = \"sales\"\nwinback = \"service\"\n").await;
        for (id, journey) in [("wamid.j1", "renewal"), ("wamid.j2", "winback")] {
            let r = app.register_outbound(json!({"message_id": id, "contact": "+16315558501", "journey": journey,
                                                 "purpose": "marketing", "sent_at": T0 - 3_600_000})).await;
            assert!(r.status().is_success());
        }
        let codes = app.state.signals.status_codes.load();
        replydesk::reports::refresh(app.db(), &app.state.config, &codes, app.now()).await.unwrap();
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        let csv = lead.get("/reports.csv?table=groups").await.text().await.unwrap();
        assert!(csv.contains("renewal") && !csv.contains("winback"), "the sales lead's report: {csv}");
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let csv = admin.get("/reports.csv?table=groups").await.text().await.unwrap();
        assert!(csv.contains("renewal") && csv.contains("winback"), "an administrator's: {csv}");
    }
}

on_both_databases! {
    async fn a_sign_in_without_origin_needs_the_forms_token(app: TestApp) {
        app.sign_in_as("agent@example.com", "agent").await;
        let r = app.client.post(app.url("/login")).form(&[("email", "agent@example.com"), ("password", PASSWORD)]).send().await.unwrap();
        assert_eq!(r.status(), 403, "no Origin, no token");
        let r = sign_in_attempt(&app, "agent@example.com", PASSWORD).await;
        assert_eq!(r.status(), 303, "the form's own token lets it in");
        let cross = app.client.post(app.url("/login")).header("origin", "https://evil.example")
            .form(&[("email", "agent@example.com"), ("password", PASSWORD)]).send().await.unwrap();
        assert_eq!(cross.status(), 403, "another site's form is refused");
    }
}

each_database! {
    async fn metrics_answer_only_the_configured_token(backend: Backend) {
        let app = TestApp::spawn_with(backend, "metrics_token = \"prom-secret\"").await;
        assert_eq!(app.client.get(app.url("/metrics")).send().await.unwrap().status(), 401);
        assert_eq!(app.client.get(app.url("/metrics")).bearer_auth("wrong").send().await.unwrap().status(), 401);
        let r = app.client.get(app.url("/metrics")).bearer_auth("prom-secret").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("replydesk_"));
    }
}

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Signed in, at least this role.
    Agent,
    Lead,
    Admin,
    /// An API key with this scope.
    Api(Scope),
    /// A provider, with a signature (refused without one).
    Webhook,
}

/// Every route of the desk and its decision. A route added without a line
/// here fails `every_route_has_an_access_decision`.
const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/", Access::Public),
    ("GET", "/login", Access::Public),
    ("POST", "/login", Access::Public),
    ("POST", "/logout", Access::Public),
    ("GET", "/setup/{token}", Access::Public),
    ("POST", "/setup/{token}", Access::Public),
    ("GET", "/static/{*path}", Access::Public),
    ("GET", "/healthz", Access::Public),
    ("GET", "/readyz", Access::Public),
    ("GET", "/metrics", Access::Public),
    ("GET", "/webhooks/meta/{channel}", Access::Webhook),
    ("POST", "/webhooks/meta/{channel}", Access::Webhook),
    ("POST", "/webhooks/twilio/{channel}", Access::Webhook),
    ("POST", "/me/away", Access::Agent),
    ("GET", "/queue", Access::Agent),
    ("GET", "/queue/rows", Access::Agent),
    ("GET", "/conversations/{id}", Access::Agent),
    ("POST", "/conversations/{id}/{action}", Access::Agent),
    ("POST", "/conversations/{id}/reply", Access::Agent),
    ("POST", "/conversations/{id}/attachment", Access::Agent),
    ("GET", "/media/{id}", Access::Agent),
    ("GET", "/media/{id}/thumb", Access::Agent),
    // Twilio fetches an agent's attachment here; the signed link is the access.
    ("GET", "/media/out/{id}", Access::Public),
    ("GET", "/conversations/{id}/template", Access::Agent),
    ("GET", "/conversations/{id}/replies/{reply}", Access::Agent),
    (
        "POST",
        "/conversations/{id}/replies/{reply}/again",
        Access::Agent,
    ),
    ("GET", "/contacts/{id}", Access::Agent),
    ("POST", "/contacts/{id}/do-not-contact", Access::Admin),
    ("GET", "/reviews", Access::Agent),
    ("POST", "/reviews/{id}", Access::Agent),
    ("POST", "/exclusions/{id}/lift", Access::Admin),
    ("GET", "/team", Access::Lead),
    ("GET", "/breaches", Access::Lead),
    ("POST", "/breaches/{id}/ack", Access::Lead),
    ("GET", "/reports", Access::Lead),
    ("GET", "/reports.csv", Access::Lead),
    ("GET", "/reports/attention", Access::Lead),
    ("POST", "/reports/alerts/{id}/acknowledge", Access::Lead),
    ("GET", "/admin", Access::Admin),
    ("GET", "/admin/rules", Access::Admin),
    ("GET", "/admin/rules/{file}", Access::Admin),
    ("POST", "/admin/rules/{file}/check", Access::Admin),
    ("POST", "/admin/rules/{file}/dry-run", Access::Admin),
    ("POST", "/admin/rules/{file}/activate", Access::Admin),
    ("GET", "/admin/rules/{file}/history", Access::Admin),
    ("POST", "/admin/rules/versions/{id}/restore", Access::Admin),
    ("GET", "/admin/dry-runs/{id}", Access::Admin),
    ("GET", "/admin/corrections", Access::Admin),
    ("POST", "/admin/corrections/{id}/example", Access::Admin),
    ("GET", "/admin/settings", Access::Admin),
    ("POST", "/admin/settings/status-codes/check", Access::Admin),
    ("POST", "/admin/templates/sync", Access::Admin),
    ("GET", "/admin/users", Access::Admin),
    ("POST", "/admin/users/invite", Access::Admin),
    ("POST", "/admin/users/{id}/{action}", Access::Admin),
    ("GET", "/admin/audit", Access::Admin),
    ("GET", "/admin/audit.csv", Access::Admin),
    ("GET", "/admin/deliveries", Access::Admin),
    (
        "POST",
        "/admin/deliveries/dead-letters/{id}/reprocess",
        Access::Admin,
    ),
    ("POST", "/admin/deliveries/outbox/{id}/retry", Access::Admin),
    ("GET", "/api/v1/events", Access::Api(Scope::Read)),
    (
        "GET",
        "/api/v1/eligibility",
        Access::Api(Scope::Eligibility),
    ),
    (
        "GET",
        "/api/v1/suppressions",
        Access::Api(Scope::Eligibility),
    ),
    (
        "GET",
        "/api/v1/suppressions.csv",
        Access::Api(Scope::Eligibility),
    ),
    ("POST", "/api/v1/outbound", Access::Api(Scope::Outbound)),
    (
        "POST",
        "/api/v1/preferences",
        Access::Api(Scope::Preferences),
    ),
    (
        "POST",
        "/api/v1/conversions",
        Access::Api(Scope::Conversions),
    ),
    ("GET", "/api/v1/reports/journeys", Access::Api(Scope::Read)),
    ("GET", "/api/v1/conversations", Access::Api(Scope::Read)),
    (
        "GET",
        "/api/v1/conversations/{id}/messages",
        Access::Api(Scope::Read),
    ),
    (
        "POST",
        "/api/v1/conversations/{id}/messages",
        Access::Api(Scope::Send),
    ),
    ("GET", "/api/v1/templates", Access::Api(Scope::Read)),
];

/// Every `(method, path)` the web module registers, read from its source.
fn registered_routes() -> BTreeSet<(String, String)> {
    let route = regex::Regex::new(r#"\.route\(\s*"([^"]+)","#).unwrap();
    let method = regex::Regex::new(r"\b(get|post|put|patch|delete)\(").unwrap();
    let mut out = BTreeSet::new();
    let mut files = vec![repo().join("src/web")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let api = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("api"));
        let prefix = if api { "/api/v1" } else { "" };
        let starts: Vec<_> = route
            .captures_iter(&text)
            .map(|c| c.get(0).unwrap().start())
            .collect();
        for (i, c) in route.captures_iter(&text).enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(text.len());
            let handlers = &text[c.get(0).unwrap().end()..end];
            // The handlers of this route end where the builder's next call begins.
            // (or where the function that builds the router ends).
            let handlers = handlers.split("\n}").next().unwrap_or(handlers);
            let handlers = handlers.split("\n        .").next().unwrap_or(handlers);
            for m in method.captures_iter(handlers) {
                out.insert((m[1].to_uppercase(), format!("{prefix}{}", &c[1])));
            }
        }
    }
    out
}

crate::test_case! {
    fn every_route_has_an_access_decision() {
        let decided: BTreeSet<(String, String)> =
            ROUTES.iter().map(|(m, p, _)| ((*m).to_string(), (*p).to_string())).collect();
        let registered = registered_routes();
        assert!(registered.len() > 50, "only {} routes found in src/web", registered.len());
        let undecided: Vec<_> = registered.difference(&decided).collect();
        assert!(undecided.is_empty(), "routes without an access decision in ROUTES: {undecided:?}");
        let gone: Vec<_> = decided.difference(&registered).collect();
        assert!(gone.is_empty(), "ROUTES lists routes the desk no longer has: {gone:?}");
        // The API's own table agrees with this one.
        for (method, path, access) in ROUTES {
            if let Access::Api(scope) = access {
                assert!(replydesk::web::api_scopes().iter().any(|(m, p, s)| m == method && p == path && s == scope),
                        "{method} {path}: the desk's scope table disagrees");
            }
        }
    }
}

fn concrete(path: &str) -> String {
    let param = regex::Regex::new(r"\{\*?[a-z_]+\}").unwrap();
    let path = param.replace_all(path, "x").to_string();
    match path.as_str() {
        "/static/x" => "/static/htmx.min.js".into(),
        "/api/v1/eligibility" => "/api/v1/eligibility?contact=%2B16315558901".into(),
        "/reports.csv" => "/reports.csv?table=daily".into(),
        "/media/out/x" => "/media/out/x?expires=1&sig=00".into(),
        other => other.to_string(),
    }
}

/// Refused: not signed in (sent to sign in), no key, forbidden.
fn refused(status: u16, location: Option<&str>) -> bool {
    matches!(status, 401 | 403)
        || (status == 303 && location.is_some_and(|l| l.starts_with("/login")))
}

on_both_databases! {
    async fn every_route_answers_each_role_and_scope_as_decided(app: TestApp) {
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let anonymous = Session {
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            csrf: String::new(),
            base: app.base.clone(),
        };
        let form = [("text", "x"), ("reason", "x")];
        let call = |s: &Session, method: &str, path: String| {
            let (client, base, csrf) = (s.client.clone(), s.base.clone(), s.csrf.clone());
            let method = method.to_string();
            async move {
                let url = format!("{base}{path}");
                let mut fields: Vec<(&str, &str)> = form.to_vec();
                fields.push(("_csrf", &csrf));
                let r = if method == "GET" { client.get(url).send().await } else { client.post(url).form(&fields).send().await }.unwrap();
                let location = r.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
                (r.status().as_u16(), location)
            }
        };
        for (method, path, access) in ROUTES {
            // Signing out ends the session the rest of the matrix uses.
            if *path == "/logout" {
                continue;
            }
            let url = concrete(path);
            if *access == Access::Webhook {
                let url = url.replace("/x", if path.contains("twilio") { "/tw" } else { "/main" });
                let r = if *method == "GET" {
                    app.client.get(app.url(&format!("{url}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"))).send().await.unwrap()
                } else {
                    app.client.post(app.url(&url)).body("{}").send().await.unwrap()
                };
                assert!(matches!(r.status().as_u16(), 401 | 403), "{method} {path} without a signature or token: {}", r.status());
                continue;
            }
            let roles = [("anonymous", &anonymous, 0), ("agent", &agent, 1), ("lead", &lead, 2), ("admin", &admin, 3)];
            let needed = match access {
                Access::Public => 0,
                Access::Agent => 1,
                Access::Lead => 2,
                Access::Admin => 3,
                Access::Api(_) | Access::Webhook => 4,
            };
            for (who, session, level) in roles {
                let (status, location) = call(session, method, url.clone()).await;
                assert!(status != 500, "{method} {path} as {who}: 500");
                let expect_refused = level < needed;
                assert_eq!(refused(status, location.as_deref()), expect_refused,
                           "{method} {path} as {who}: {status} {location:?}");
            }
            if let Access::Api(scope) = access {
                let others: Vec<Scope> = Scope::ALL.into_iter().filter(|s| s != scope).collect();
                for (key, allowed) in [(app.api_key_with(&others).await, false), (app.api_key_with(&[*scope]).await, true)] {
                    let r = if *method == "GET" {
                        app.client.get(app.url(&url)).bearer_auth(&key).send().await.unwrap()
                    } else {
                        app.client.post(app.url(&url)).bearer_auth(&key).json(&json!({})).send().await.unwrap()
                    };
                    let status = r.status().as_u16();
                    assert_eq!(matches!(status, 401 | 403), !allowed, "{method} {path} with{} `{}`: {status}",
                               if allowed { "" } else { "out" }, scope.as_str());
                    if !allowed {
                        assert!(r.text().await.unwrap().contains(&format!("`{}`", scope.as_str())), "{method} {path}: names the scope");
                    }
                }
            }
        }
    }
}
