//! Administration: roles on every admin route, the rules editor's check,
//! dry run, activation, rollback and concurrent-edit detection, the
//! corrections loop, users, the audit log and dead letters. Each desk here
//! runs on its own copy of the rules directory, so activations never touch
//! the repository's files.

use crate::helpers::*;
use crate::on_both_databases;
use replydesk::admin::rules::sha256;
use std::path::Path;

/// Runs a test body on both databases, with the desk's rules copied into a
/// directory of the test's own.
macro_rules! admin_test {
    (async fn $name:ident($app:ident : TestApp, $rules:ident : TempRules) $body:block) => {
        $crate::each_database! {
            async fn $name(backend: Backend) {
                let ($app, $rules) = spawn_with_rules(backend).await;
                $body
            }
        }
    };
}

/// A copy of the repository's rules directory, removed after the test.
pub struct TempRules {
    pub dir: tempfile::TempDir,
}

impl TempRules {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path().join(file)).unwrap()
    }
}

async fn spawn_with_rules(backend: Backend) -> (TestApp, TempRules) {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let rules_dir = dir.path().to_path_buf();
    let app = TestApp::spawn_configured(backend, "", move |c| c.rules_dir = rules_dir).await;
    (app, TempRules { dir })
}

const FILE: &str = "70-noise.toml";

/// Two rules ahead of everything: "stop zebra" (an opt-out today) becomes
/// noise, and "zebra crossing" (service by default today) becomes interest.
const CANDIDATE_RULES: &str = r#"
[[rule]]
id = "test-stop-zebra"
category = "noise"
priority = 100
keywords = ["stop zebra"]

[[rule]]
id = "test-zebra-crossing"
category = "interest"
priority = 100
keywords = ["zebra crossing"]
"#;

fn candidate(rules: &TempRules) -> String {
    format!("{}{CANDIDATE_RULES}", rules.read(FILE))
}

/// Replies whose classification the candidate changes, and some it does not.
async fn seed_replies(app: &TestApp) {
    let texts = [
        ("stop zebra", 2),
        ("zebra crossing", 3),
        ("thanks", 4),
        ("how much is it", 1),
    ];
    let mut n = 0;
    for (text, times) in texts {
        for _ in 0..times {
            n += 1;
            let body = meta_text(
                &format!("1631555{n:04}"),
                &format!("wamid.seed{n}"),
                text,
                T0 / 1000,
            );
            assert_eq!(app.post_meta(&body).await.status(), 200);
        }
    }
}

/// The number in `attr="N"` right after `anchor` in `html`.
fn attr_after(html: &str, anchor: &str, attr: &str) -> Option<i64> {
    let rest = &html[html.find(anchor)?..];
    let at = rest.find(&format!("{attr}=\""))? + attr.len() + 2;
    rest[at..].split('"').next()?.parse().ok()
}

fn hidden(html: &str, name: &str) -> String {
    let anchor = format!("name=\"{name}\" value=\"");
    let rest = &html[html
        .find(&anchor)
        .unwrap_or_else(|| panic!("no {name} in page"))
        + anchor.len()..];
    rest.split('"').next().unwrap().to_string()
}

async fn table_counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "events",
        "conversations",
        "corrections",
        "rule_versions",
        "audit_log",
        "preference_events",
        "webhook_payloads",
    ] {
        out.push(app.count(&format!("SELECT COUNT(*) FROM {table}")).await);
    }
    out
}

on_both_databases! {
    async fn every_admin_route_refuses_agents_and_leads(app: TestApp) {
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let gets = [
            "/admin", "/admin/rules", "/admin/rules/70-noise.toml", "/admin/rules/70-noise.toml/history",
            "/admin/dry-runs/nope", "/admin/corrections", "/admin/settings", "/admin/users", "/admin/audit",
            "/admin/audit.csv", "/admin/deliveries",
        ];
        for path in gets {
            assert_eq!(agent.get(path).await.status(), 403, "GET {path} as an agent");
            assert_eq!(lead.get(path).await.status(), 403, "GET {path} as a lead");
            let status = admin.get(path).await.status().as_u16();
            assert!(status == 200 || status == 303, "GET {path} as admin answered {status}");
        }
        let posts = [
            "/admin/rules/70-noise.toml/check", "/admin/rules/70-noise.toml/dry-run", "/admin/rules/70-noise.toml/activate",
            "/admin/rules/versions/x/restore", "/admin/corrections/x/example", "/admin/settings/status-codes/check",
            "/admin/users/invite", "/admin/users/x/role", "/admin/users/x/disable", "/admin/users/x/reset",
            "/admin/deliveries/dead-letters/x/reprocess", "/admin/deliveries/outbox/x/retry",
        ];
        for path in posts {
            let form = [("text", "x"), ("base_sha", "x"), ("email", "new@example.com"), ("role", "admin")];
            assert_eq!(agent.post(path, &form).await.status(), 403, "POST {path} as an agent");
            assert_eq!(lead.post(path, &form).await.status(), 403, "POST {path} as a lead");
        }
        // Nothing an agent or lead posted changed anything.
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE email = 'new@example.com'").await, 0);
        // Admins see the Admin link; agents do not.
        assert!(admin.get("/queue").await.text().await.unwrap().contains("id=\"nav-admin\""));
        assert!(!agent.get("/queue").await.text().await.unwrap().contains("id=\"nav-admin\""));
    }
}

admin_test! {
    async fn check_shows_each_problem_with_its_file_and_line(app: TestApp, rules: TempRules) {
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let text = rules.read(FILE);
        let broken = format!("{text}\n[[rule]]\nid = \"broken\"\ncategory = \"noise\"\nkeyword = [\"oops\"]\n");
        let bad_line = broken.lines().count();
        let base = sha256(&text);
        let r = admin.hx_post(&format!("/admin/rules/{FILE}/check"), &[("text", &broken), ("base_sha", &base)]).await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        assert!(html.contains("id=\"rule-errors\""), "{html}");
        assert!(html.contains(&format!("data-file=\"{FILE}\" data-line=\"{bad_line}\"")), "line {bad_line} in {html}");
        assert!(html.contains("keyword"), "the reason names the unknown field: {html}");
        // Without htmx: the whole editor, the line marked in the gutter.
        let page = admin.post(&format!("/admin/rules/{FILE}/check"), &[("text", &broken), ("base_sha", &base)]).await.text().await.unwrap();
        assert!(page.contains(&format!("<span id=\"L{bad_line}\" class=\"bad\">")), "gutter mark");
        // A failing example in another file is named with that file.
        let steals_stop = format!("{text}\n[[rule]]\nid = \"steal-stop\"\ncategory = \"noise\"\npriority = 100\nkeywords = [\"stop\"]\n");
        let html = admin.hx_post(&format!("/admin/rules/{FILE}/check"), &[("text", &steals_stop), ("base_sha", &base)]).await.text().await.unwrap();
        assert!(html.contains("data-file=\"10-opt-out.toml\""), "{html}");
        // A good text passes and names the version it would make.
        let good = candidate(&rules);
        let html = admin.hx_post(&format!("/admin/rules/{FILE}/check"), &[("text", &good), ("base_sha", &base)]).await.text().await.unwrap();
        assert!(html.contains("id=\"check-ok\""), "{html}");
        // Nothing was written.
        assert_eq!(rules.read(FILE), text);
    }
}

admin_test! {
    async fn a_dry_run_counts_the_moves_exactly_and_writes_nothing(app: TestApp, rules: TempRules) {
        seed_replies(&app).await;
        app.route_now().await;
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let before = table_counts(&app).await;
        let version = app.state.rules.version();
        let text = rules.read(FILE);
        let form = [("text", candidate(&rules)), ("base_sha", sha256(&text)), ("days", "7".into())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // The plain form waits for the result.
        let html = admin.post(&format!("/admin/rules/{FILE}/dry-run"), &form).await.text().await.unwrap();
        assert_eq!(attr_after(&html, "id=\"dry-run-summary\"", "data-replayed"), Some(10), "{html}");
        assert_eq!(attr_after(&html, "id=\"dry-run-summary\"", "data-changed"), Some(5));
        assert_eq!(attr_after(&html, "data-from=\"opt_out\" data-to=\"noise\"", "data-count"), Some(2));
        assert_eq!(attr_after(&html, "data-from=\"service\" data-to=\"interest\"", "data-count"), Some(3));
        assert_eq!(attr_after(&html, "id=\"dry-run-lost-opt-outs\"", "data-count"), Some(2));
        assert_eq!(attr_after(&html, "data-category=\"noise\"", "data-before"), Some(4));
        assert_eq!(attr_after(&html, "data-category=\"noise\"", "data-after"), Some(6));
        // Lost opt-outs are listed first.
        let first_change = &html[html.find("id=\"dry-run-changes\"").unwrap()..];
        let first_row = &first_change[first_change.find("<tr class=").unwrap()..][..200];
        assert!(first_row.contains("lost-opt-out"), "{first_row}");
        // htmx: a progress bar polls the job until the same result is there.
        let html = admin.hx_post(&format!("/admin/rules/{FILE}/dry-run"), &form).await.text().await.unwrap();
        assert!(html.contains("id=\"dry-run-progress\""), "{html}");
        let job = html.split("/admin/dry-runs/").nth(1).unwrap().split('"').next().unwrap().to_string();
        let mut result = String::new();
        for _ in 0..100 {
            result = admin.get(&format!("/admin/dry-runs/{job}")).await.text().await.unwrap();
            if result.contains("dry-run-summary") { break; }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(attr_after(&result, "id=\"dry-run-summary\"", "data-changed"), Some(5), "{result}");
        // Another admin cannot see this job.
        let other = app.sign_in_as("admin2@example.com", "admin").await;
        assert!(!other.get(&format!("/admin/dry-runs/{job}")).await.text().await.unwrap().contains("dry-run-summary"));
        // The command line's JSON, on the same database.
        let candidate_dir = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(rules.path()).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, candidate_dir.path().join(p.file_name().unwrap())).unwrap();
        }
        std::fs::write(candidate_dir.path().join(FILE), candidate(&rules)).unwrap();
        let mut out = Vec::new();
        replydesk::admin::cli::rules_dry_run(app.db(), rules.path(), candidate_dir.path(), app.now() - 7 * 86_400_000, 200_000, true, false, &mut out).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["replayed"], 10);
        assert_eq!(json["changed"], 5);
        assert_eq!(json["moves"], serde_json::json!({ "opt_out→noise": 2, "service→interest": 3 }));
        assert_eq!(json["changes"].as_array().unwrap().len(), 5);
        assert_eq!(json["changes"][0]["from"], "opt_out");
        assert_eq!(json["changes"][0]["rule"], "test-stop-zebra");
        assert!(json["changes"][0]["message_id"].as_str().unwrap().starts_with("wamid.seed"));
        // A cap replays only the most recent replies and says so.
        let mut out = Vec::new();
        let capped = replydesk::admin::cli::rules_dry_run(app.db(), rules.path(), candidate_dir.path(), app.now() - 7 * 86_400_000, 4, true, false, &mut out).await.unwrap();
        assert_eq!((capped.replayed, capped.capped), (4, true));
        // Replies older than the period are not replayed.
        let mut out = Vec::new();
        let later = replydesk::admin::cli::rules_dry_run(app.db(), rules.path(), candidate_dir.path(), app.now() + 1, 200_000, true, false, &mut out).await.unwrap();
        assert_eq!(later.replayed, 0);
        // A dry run never writes anything.
        assert_eq!(table_counts(&app).await, before);
        assert_eq!(app.state.rules.version(), version);
        assert_eq!(rules.read(FILE), text);
    }
}

admin_test! {
    async fn activate_classifies_new_replies_with_the_new_rule_and_rollback_restores_the_old(app: TestApp, rules: TempRules) {
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let old_version = app.state.rules.version();
        let text = rules.read(FILE);
        let new_text = candidate(&rules);
        let path = format!("/admin/rules/{FILE}/activate");
        // Without a comment: refused, the reason next to the field.
        let html = admin.hx_post(&path, &[("text", &new_text), ("base_sha", &sha256(&text)), ("comment", "")]).await.text().await.unwrap();
        assert!(html.contains("id=\"comment-error\"") && html.contains("aria-invalid=\"true\""), "{html}");
        assert_eq!(rules.read(FILE), text);
        // A broken text is never activated.
        let html = admin.hx_post(&path, &[("text", "[[rule]]\nid = \n"), ("base_sha", &sha256(&text)), ("comment", "x")]).await.text().await.unwrap();
        assert!(html.contains("rule-error"), "{html}");
        assert_eq!(app.state.rules.version(), old_version);
        // Activate, as a browser sends it (CRLF line ends).
        let crlf = new_text.replace('\n', "\r\n");
        let html = admin.hx_post(&path, &[("text", &crlf), ("base_sha", &sha256(&text)), ("comment", "zebra replies")]).await.text().await.unwrap();
        assert!(html.contains("id=\"activate-ok\""), "{html}");
        assert!(html.contains(&format!("id=\"base-sha\" name=\"base_sha\" value=\"{}\" hx-swap-oob=\"true\"", sha256(&new_text))), "the editor gets its new base");
        assert_eq!(rules.read(FILE), new_text, "written with the file's own line ends");
        let new_version = app.state.rules.version();
        assert_ne!(new_version, old_version);
        // A new reply is classified by the new rule at once.
        app.post_meta(&meta_text("16315550001", "wamid.after1", "zebra crossing", T0 / 1000)).await;
        let (category, rule) = classified(&app, "wamid.after1").await;
        assert_eq!((category.as_str(), rule.as_str()), ("interest", "test-zebra-crossing"));
        // The history shows the change and offers a one-step rollback.
        let history = admin.get(&format!("/admin/rules/{FILE}/history")).await.text().await.unwrap();
        assert!(history.contains("zebra replies") && history.contains("id=\"history-list\""), "{history}");
        assert!(history.contains("class=\"dadd\">+id = &quot;test-zebra-crossing&quot;") || history.contains("+id = &#34;test-zebra-crossing&#34;") || history.contains("test-zebra-crossing"), "diff shown");
        let rollback_id = history.split("id=\"rollback-form\"").next().unwrap().rsplit("/admin/rules/versions/").next().unwrap().split('/').next().unwrap().to_string();
        let base = history[history.find("id=\"rollback-form\"").unwrap()..].split("name=\"base_sha\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let r = admin.post(&format!("/admin/rules/versions/{rollback_id}/restore"), &[("base_sha", &base)]).await;
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        assert_eq!(rules.read(FILE), text);
        assert_eq!(app.state.rules.version(), old_version);
        app.post_meta(&meta_text("16315550002", "wamid.after2", "zebra crossing", T0 / 1000)).await;
        assert_eq!(classified(&app, "wamid.after2").await.0, "service");
        // Past classifications are never rewritten.
        assert_eq!(classified(&app, "wamid.after1").await.0, "interest");
        // Every version keeps its text; the audit log has both changes.
        assert_eq!(app.count("SELECT COUNT(*) FROM rule_versions WHERE file = '70-noise.toml' AND kind = 'activated'").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM rule_versions WHERE file = '70-noise.toml' AND kind = 'restored'").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action IN ('rules.activate', 'rules.restore') AND actor = 'admin@example.com'").await, 2);
    }
}

/// A routed conversation for a new reply. The background router may take
/// the reply before `route_now` does (PostgreSQL skips locked rows), so wait
/// for whichever routes it.
async fn routed_conversation(app: &TestApp, wa: &str, id: &str, text: &str) -> String {
    assert_eq!(
        app.post_meta(&meta_text(wa, id, text, T0 / 1000))
            .await
            .status(),
        200
    );
    for _ in 0..100 {
        app.route_now().await;
        let routed: Option<String> =
            sqlx::query_scalar("SELECT conversation_id FROM events WHERE provider_id = $1")
                .bind(id)
                .fetch_one(app.db().reader())
                .await
                .unwrap();
        if let Some(c) = routed {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{id} was never routed");
}

async fn classified(app: &TestApp, message_id: &str) -> (String, String) {
    use sqlx::Row;
    let row = sqlx::query("SELECT category, rule_id FROM events WHERE provider_id = $1")
        .bind(message_id)
        .fetch_one(app.db().reader())
        .await
        .unwrap();
    (row.try_get(0).unwrap(), row.try_get(1).unwrap())
}

admin_test! {
    async fn a_file_changed_on_disk_since_the_editor_loaded_it_is_not_overwritten(app: TestApp, rules: TempRules) {
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let editor = admin.get(&format!("/admin/rules/{FILE}")).await.text().await.unwrap();
        let base = hidden(&editor, "base_sha");
        assert_eq!(base, sha256(&rules.read(FILE)));
        let mine = candidate(&rules);
        // Someone edits the file by hand (or git pulls) meanwhile.
        let by_hand = format!("{}\n# edited by hand\n", rules.read(FILE));
        std::fs::write(rules.path().join(FILE), &by_hand).unwrap();
        let html = admin.hx_post(&format!("/admin/rules/{FILE}/activate"), &[("text", &mine), ("base_sha", &base), ("comment", "mine")]).await.text().await.unwrap();
        assert!(html.contains("id=\"activate-conflict\""), "{html}");
        assert!(html.contains("class=\"ddel\">-# edited by hand"), "the difference is shown: {html}");
        assert_eq!(rules.read(FILE), by_hand, "the edit on disk was kept");
        // The history now knows the hand edit, so it can be restored later.
        admin.get(&format!("/admin/rules/{FILE}/history")).await;
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'rules.changed_on_disk'").await, 1);
    }
}

admin_test! {
    async fn a_correction_becomes_an_example_through_the_check(app: TestApp, rules: TempRules) {
        let id = routed_conversation(&app, "16315550101", "wamid.c1", "zebra crossing").await;
        let agent = app.sign_in_as("svc@example.com", "agent").await;
        assert_eq!(agent.hx_post(&format!("/conversations/{id}/reclassify"), &[("category", "interest"), ("note", "wants to buy")]).await.status(), 200);
        let correction: String = sqlx::query_scalar("SELECT id FROM corrections").fetch_one(app.db().reader()).await.unwrap();
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let page = admin.get("/admin/corrections").await.text().await.unwrap();
        assert!(page.contains("data-rule=\"default\"") && page.contains("zebra crossing"), "{page}");
        // The rules still say service: the editor opens with the example added and the check failing.
        let html = admin.post(&format!("/admin/corrections/{correction}/example"), &[]).await.text().await.unwrap();
        assert!(html.contains("[[example]]") && html.contains("expect = &#34;interest&#34;"), "{html}");
        assert!(html.contains("rule-error"), "{html}");
        assert!(html.contains(&format!("name=\"correction_id\" value=\"{correction}\"")));
        let file = html.split("<h1>Edit <code>").nth(1).unwrap().split('<').next().unwrap().to_string();
        assert!(!rules.read(&file).contains("text = \"zebra crossing\""), "nothing written yet");
        // The admin fixes the rule and activates: the example is kept, linked to the correction.
        let fixed = format!("{}{CANDIDATE_RULES}", hidden_textarea(&html));
        let r = admin.hx_post(&format!("/admin/rules/{file}/activate"), &[("text", &fixed), ("base_sha", &hidden(&html, "base_sha")), ("comment", "zebra is interest"), ("correction_id", &correction)]).await.text().await.unwrap();
        assert!(r.contains("id=\"activate-ok\""), "{r}");
        assert_eq!(app.count("SELECT COUNT(*) FROM rule_versions WHERE kind = 'example' AND correction_id IS NOT NULL").await, 1);
        let page = admin.get("/admin/corrections").await.text().await.unwrap();
        assert!(page.contains("example added"), "{page}");
    }
}

/// The textarea's text as the page shows it, unescaped.
fn hidden_textarea(html: &str) -> String {
    let start = html.find("id=\"rules-text\"").unwrap();
    let rest = &html[start..];
    let text = &rest[rest.find(">\n").unwrap() + 2..rest.find("</textarea>").unwrap()];
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

on_both_databases! {
    async fn every_kind_of_change_leaves_an_audit_row(app: TestApp) {
        let conversation = routed_conversation(&app, "16315550201", "wamid.a1", "How much does it cost?").await;
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        assert_eq!(lead.hx_post(&format!("/conversations/{conversation}/claim"), &[]).await.status(), 200);
        assert_eq!(lead.hx_post(&format!("/conversations/{conversation}/assign"), &[("agent", "agent@example.com"), ("team", "sales")]).await.status(), 200);
        let contact: String = sqlx::query_scalar("SELECT contact_id FROM conversations WHERE id = $1").bind(&conversation).fetch_one(app.db().reader()).await.unwrap();
        replydesk::preferences::set_do_not_contact(app.db(), &contact, true, "admin@example.com", "asked by phone", app.now()).await.unwrap();
        replydesk::preferences::set_do_not_contact(app.db(), &contact, false, "admin@example.com", "cleared", app.now()).await.unwrap();
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let page = admin.post("/admin/users/invite", &[("email", "New.Person@example.com"), ("role", "agent"), ("teams", "sales")]).await.text().await.unwrap();
        assert!(page.contains("id=\"one-time-link\""), "{page}");
        let user: String = sqlx::query_scalar("SELECT id FROM users WHERE email = 'new.person@example.com'").fetch_one(app.db().reader()).await.unwrap();
        for (action, form) in [("role", vec![("role", "lead")]), ("teams", vec![("teams", "sales"), ("teams", "service")]), ("disable", vec![]), ("enable", vec![]), ("reset", vec![])] {
            let html = admin.post(&format!("/admin/users/{user}/{action}"), &form).await.text().await.unwrap();
            assert!(html.contains("id=\"users-message\""), "{action}: {html}");
        }
        let expected = [
            ("conversation.claimed", "lead@example.com"), ("conversation.assigned", "lead@example.com"),
            ("preference.dnc_set", "admin@example.com"), ("preference.dnc_lift", "admin@example.com"),
            ("user.invite", "admin@example.com"), ("user.role", "admin@example.com"), ("user.teams", "admin@example.com"),
            ("user.disable", "admin@example.com"), ("user.enable", "admin@example.com"), ("user.reset_password", "admin@example.com"),
        ];
        for (action, actor) in expected {
            let n = app.count(&format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND actor = '{actor}'")).await;
            assert_eq!(n, 1, "{action} by {actor}");
        }
        use sqlx::Row;
        let role = sqlx::query("SELECT before_state, after_state FROM audit_log WHERE action = 'user.role'").fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(role.try_get::<String, _>(0).unwrap(), r#"{"role":"agent"}"#);
        assert_eq!(role.try_get::<String, _>(1).unwrap(), r#"{"role":"lead"}"#);
        // Filterable, exportable, append-only.
        let page = admin.get("/admin/audit?action=user.").await.text().await.unwrap();
        assert_eq!(page.matches("data-action=\"user.").count(), 6, "{page}");
        assert!(!page.contains("data-action=\"conversation."));
        let csv = admin.get("/admin/audit.csv?actor=lead%40example.com").await.text().await.unwrap();
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(csv.starts_with("id,at,actor,action,target,before,after"));
        assert!(sqlx::query("UPDATE audit_log SET actor = 'someone'").execute(app.db().writer()).await.is_err(), "updates are refused");
        assert!(sqlx::query("DELETE FROM audit_log").execute(app.db().writer()).await.is_err(), "deletes are refused");
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE actor = 'someone'").await, 0);
    }
}

on_both_databases! {
    async fn an_invited_person_sets_a_password_and_a_disabled_one_is_signed_out(app: TestApp) {
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let page = admin.post("/admin/users/invite", &[("email", "nope"), ("role", "agent")]).await.text().await.unwrap();
        assert!(page.contains("id=\"invite-email-error\"") && page.contains("aria-invalid=\"true\""), "{page}");
        let page = admin.post("/admin/users/invite", &[("email", "ines@example.com"), ("role", "agent"), ("teams", "nope")]).await.text().await.unwrap();
        assert!(page.contains("id=\"invite-teams-error\""), "{page}");
        let page = admin.post("/admin/users/invite", &[("email", "ines@example.com"), ("role", "agent"), ("teams", "service")]).await.text().await.unwrap();
        let token = page.split("/setup/").nth(1).unwrap().split('<').next().unwrap().to_string();
        let client = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let r = client.post(app.url(&format!("/setup/{token}"))).form(&[("password", PASSWORD), ("confirm", PASSWORD)]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(client.get(app.url("/queue")).send().await.unwrap().status(), 200, "signed in after setting the password");
        let user: String = sqlx::query_scalar("SELECT id FROM users WHERE email = 'ines@example.com'").fetch_one(app.db().reader()).await.unwrap();
        admin.post(&format!("/admin/users/{user}/disable"), &[]).await;
        assert_eq!(client.get(app.url("/queue")).send().await.unwrap().status(), 303, "the session ended");
        // The last admin cannot be disabled or demoted.
        let me: String = sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@example.com'").fetch_one(app.db().reader()).await.unwrap();
        let page = admin.post(&format!("/admin/users/{me}/role"), &[("role", "agent")]).await.text().await.unwrap();
        assert!(page.contains("id=\"users-error\""), "{page}");
    }
}

on_both_databases! {
    async fn a_dead_letter_is_re_processed_once_after_a_fix(app: TestApp) {
        // A body that verified but that an earlier version could not read.
        let body = meta_text("16315550301", "wamid.dead1", "Where is my order?", T0 / 1000);
        sqlx::query("INSERT INTO webhook_payloads (id, provider, channel, received_at, body, event_count, problem) VALUES ('p_dead', 'meta', 'main', $1, $2, 0, 'unsupported message type')")
            .bind(T0)
            .bind(body.as_bytes().to_vec())
            .execute(app.db().writer())
            .await
            .unwrap();
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let page = admin.get("/admin/deliveries").await.text().await.unwrap();
        assert!(page.contains("id=\"dead-p_dead\"") && page.contains("unsupported message type"), "{page}");
        let r = admin.post("/admin/deliveries/dead-letters/p_dead/reprocess", &[]).await;
        assert_eq!(r.status(), 303);
        assert_eq!(app.count("SELECT COUNT(*) FROM events WHERE provider_id = 'wamid.dead1'").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM webhook_payloads WHERE id = 'p_dead' AND resolved_at IS NOT NULL AND resolved_by = 'admin@example.com'").await, 1);
        // Again: nothing is stored twice.
        admin.post("/admin/deliveries/dead-letters/p_dead/reprocess", &[]).await;
        assert_eq!(app.count("SELECT COUNT(*) FROM events WHERE provider_id = 'wamid.dead1'").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'deliveries.reprocess'").await, 2);
        // Resolved dead letters are hidden unless asked for.
        assert!(!admin.get("/admin/deliveries").await.text().await.unwrap().contains("id=\"dead-p_dead\""));
        assert!(admin.get("/admin/deliveries?all=1").await.text().await.unwrap().contains("id=\"dead-p_dead\""));
    }
}

on_both_databases! {
    async fn an_outbox_delivery_can_be_retried_now(app: TestApp) {
        sqlx::query("INSERT INTO outbox (id, kind, idempotency_key, target, payload, state, attempts, next_attempt_at, last_error, created_at) VALUES ('o1', 'email', 'k1', 'lead@example.com', '{}', 'pending', 3, $1, 'smtp down', $2)")
            .bind(T0 + 3_600_000)
            .bind(T0)
            .execute(app.db().writer())
            .await
            .unwrap();
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let page = admin.get("/admin/deliveries").await.text().await.unwrap();
        assert!(page.contains("id=\"delivery-o1\"") && page.contains("smtp down"), "{page}");
        assert_eq!(admin.post("/admin/deliveries/outbox/o1/retry", &[]).await.status(), 303);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM outbox WHERE id = 'o1' AND next_attempt_at = {T0}")).await, 1);
    }
}

on_both_databases! {
    async fn settings_show_where_each_value_lives_and_mask_secrets(app: TestApp) {
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let page = admin.get("/admin/settings").await.text().await.unwrap();
        assert!(page.contains("id=\"sources-of-truth\""));
        assert!(page.contains("••••cret"), "the last four characters of the app secret");
        assert!(!page.contains(META_SECRET) && !page.contains(TWILIO_TOKEN), "secrets never appear whole");
        let page = admin.post("/admin/settings/status-codes/check", &[("text", "[[code]]\nprovider = \"meta\"\ncode = \"1\"\neffect = \"nope\"\nwhy = \"x\"\n")]).await.text().await.unwrap();
        assert!(page.contains("id=\"codes-errors\"") && page.contains("data-line=\"4\""), "{page}");
    }
}

admin_test! {
    async fn a_dry_run_whose_instance_stopped_is_shown_failed_not_running(app: TestApp, rules: TempRules) {
        let _ = &rules;
        let admin = app.sign_in_as("admin@example.com", "admin").await;
        let owner: String = sqlx::query_scalar("SELECT id FROM users WHERE email = 'admin@example.com'")
            .fetch_one(app.db().reader()).await.unwrap();
        // A job left running by an instance that has not been heard from for a minute.
        sqlx::query("INSERT INTO jobs (id, kind, owner, subject, instance, state, done, total, started_at, heartbeat_at) \
                     VALUES ('lost', 'dry_run', $1, '70-noise.toml', 'desk-gone', 'running', 10, 100, $2, $2)")
            .bind(&owner).bind(app.now() - 60_000).execute(app.db().writer()).await.unwrap();
        sqlx::query("INSERT INTO jobs (id, kind, owner, subject, instance, state, done, total, started_at, heartbeat_at) \
                     VALUES ('alive', 'dry_run', $1, '70-noise.toml', 'desk-busy', 'running', 40, 100, $2, $2)")
            .bind(&owner).bind(app.now() - 5_000).execute(app.db().writer()).await.unwrap();
        let html = admin.get("/admin/dry-runs/lost").await.text().await.unwrap();
        assert!(html.contains("stopped before it finished"), "{html}");
        // Reading the page wrote nothing; the next job to start marks it failed for good.
        let state: String = sqlx::query_scalar("SELECT state FROM jobs WHERE id = 'lost'").fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(state, "running");
        assert_eq!(replydesk::admin::jobs::sweep(app.db(), app.now()).await.unwrap(), 1, "only the lost one");
        let state: String = sqlx::query_scalar("SELECT state FROM jobs WHERE id = 'lost'").fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(state, "failed");
        let html = admin.get("/admin/dry-runs/alive").await.text().await.unwrap();
        assert!(html.contains("id=\"dry-run-progress\"") && html.contains("40"), "a job heard from recently is still running: {html}");
    }
}

crate::test_case! {
    needs [POSTGRES]
    /// Behind a load balancer: a dry run started on one desk is followed to its result on another.
    async fn a_dry_run_started_on_one_desk_is_followed_on_another() {
        let (one, rules) = spawn_with_rules(Backend::Postgres).await;
        seed_replies(&one).await;
        one.route_now().await;
        let url = one.pg_url().unwrap();
        let two = TestApp::spawn_configured(Backend::Postgres, "", move |c| c.database_url = url.clone()).await;
        let admin = one.sign_in_as("admin@example.com", "admin").await;
        let text = rules.read(FILE);
        let form = [("text", candidate(&rules)), ("base_sha", sha256(&text)), ("days", "7".into())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let html = admin.hx_post(&format!("/admin/rules/{FILE}/dry-run"), &form).await.text().await.unwrap();
        let job = html.split("/admin/dry-runs/").nth(1).unwrap().split('"').next().unwrap().to_string();
        // The same signed-in browser, its next request reaching the other desk.
        let elsewhere = Session { client: admin.client.clone(), csrf: admin.csrf.clone(), base: two.base.clone() };
        let mut result = String::new();
        for _ in 0..200 {
            result = elsewhere.get(&format!("/admin/dry-runs/{job}")).await.text().await.unwrap();
            if result.contains("dry-run-summary") { break; }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(attr_after(&result, "id=\"dry-run-summary\"", "data-changed"), Some(5), "{result}");
        assert_eq!(attr_after(&result, "id=\"dry-run-lost-opt-outs\"", "data-count"), Some(2));
    }
}
