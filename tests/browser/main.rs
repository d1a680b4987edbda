//! The desk in a real browser: headless Chromium driven through Debian's
//! ChromeDriver, against a real desk on SQLite. One ChromeDriver and one
//! Chromium serve every scenario (CI has two cores), so the scenarios run in
//! sequence inside one test and share one signed-in browser.
//!
//! Without chromedriver the test is reported ignored, with the reason, unless
//! `REPLYDESK_REQUIRE_ALL=1` makes that a failure. `REPLYDESK_SCREENSHOTS=1` also writes the
//! README's screenshots to `docs/screenshots/`.

// Test helpers panic on failure by design; clippy only exempts #[test] functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../harness/mod.rs"]
mod harness;
#[path = "../it/helpers.rs"]
mod helpers;

mod driver;
// The browser scenarios use only some of the stand-in's scripting.
#[allow(dead_code)]
#[path = "../it/stand_in.rs"]
mod stand_in;

use driver::{Browser, ChromeDriver, find_chromedriver};
use fantoccini::key::Key;
use futures::FutureExt;
use helpers::{Backend, PASSWORD, T0, TestApp, meta_envelope, metadata};
use replydesk::auth::users::{self, Role};
use serde_json::{Value, json};
use std::panic::AssertUnwindSafe;

const AGENT: &str = "agent@example.com";
const ADMIN: &str = "admin@example.com";
const LEAD: &str = "lead@example.com";
const SERVICE_AGENT: &str = "svc@example.com";
const PRICE_QUESTION: &str = "How much does it cost?";
const BROKEN_ORDER: &str = "My order arrived broken, I need help";

/// Prints the scenario's name (a sentence) before running it, so a failure
/// reads as the behaviour that broke.
macro_rules! scenario {
    ($name:ident($($arg:expr),*)) => {{
        eprintln!("browser: {}", stringify!($name).replace('_', " "));
        $name($($arg),*).await
    }};
}

fn main() {
    harness::main()
}

const CHROMEDRIVER: harness::Need = harness::Need {
    what: "ChromeDriver",
    check: || {
        match find_chromedriver() {
        Some(_) => Ok(()),
        None => Err("chromedriver not found (install Debian's chromium and chromium-driver, or set REPLYDESK_CHROMEDRIVER)".into()),
    }
    },
};

crate::test_case! {
    needs [CHROMEDRIVER]
    async fn agents_work_the_queue_in_a_real_browser() {
        let binary = find_chromedriver().expect("the harness checked for chromedriver");
        let driver = ChromeDriver::start(&binary).await;
        // The administrator's scenario edits the rules: a copy, not the repo's files.
        let rules = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(helpers::repo().join("rules")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                std::fs::copy(&path, rules.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        let rules_dir = rules.path().to_path_buf();
        // Replies go to a stand-in of the providers' send APIs, sent by the
        // desk's own background sender as in production.
        let provider = stand_in::StandIn::start().await;
        let files = provider.clone();
        let desk = Desk {
            app: TestApp::spawn_configured(Backend::Sqlite, "", move |c| {
                c.rules_dir = rules_dir;
                c.workers.replies = true;
                provider.channel_settings(c);
            })
            .await,
            browser: Browser::open(&driver).await,
            rules,
            provider: files,
        };
        let outcome = AssertUnwindSafe(every_scenario(&desk)).catch_unwind().await;
        // Close Chromium before ChromeDriver goes, also after a failure, so no
        // browser outlives the test.
        desk.browser.close().await;
        drop(driver);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

async fn every_scenario(desk: &Desk) {
    desk.browser.viewport(1280, 800, false).await;
    for email in [AGENT, SERVICE_AGENT] {
        desk.create_account(email, Role::Agent).await;
    }
    desk.create_account(ADMIN, Role::Admin).await;
    desk.create_account(LEAD, Role::Lead).await;
    scenario!(pages_allow_only_the_desks_own_scripts_and_styles(desk));
    scenario!(an_agent_signs_in_through_the_login_form(desk));
    let first =
        scenario!(a_reply_that_arrives_while_the_queue_is_open_appears_without_a_reload(desk));
    scenario!(pressing_j_selects_the_first_row_and_enter_opens_it(
        desk, &first
    ));
    scenario!(an_agent_answers_and_sees_the_message_go_from_queued_to_delivered(desk, &first));
    scenario!(an_agent_claims_adds_a_note_and_resolves_a_conversation(
        desk, &first
    ));
    scenario!(reclassifying_a_conversation_shows_the_new_category_in_the_queue(desk));
    scenario!(j_and_k_move_one_selection_through_the_rows(desk));
    if std::env::var("REPLYDESK_SCREENSHOTS").is_ok_and(|v| v == "1") {
        scenario!(screenshots_of_the_queue_and_a_conversation_for_the_readme(
            desk
        ));
    }
    let own = scenario!(an_agent_of_another_team_cannot_open_a_sales_conversation(
        desk, &first
    ));
    scenario!(the_queue_and_a_conversation_fit_a_phone_screen(desk, &own));
    scenario!(keyboard_focus_is_visible_on_every_control(desk));
    desk.sign_out().await;
    desk.sign_in(ADMIN).await;
    scenario!(a_customers_photo_and_voice_note_show_on_the_conversation(
        desk
    ));
    scenario!(an_admin_fixes_a_rules_error_at_its_line_dry_runs_activates_and_rolls_back(desk));
    desk.sign_out().await;
    desk.sign_in(LEAD).await;
    // Seeds a month of history into the same desk, so it comes last.
    scenario!(a_lead_reads_the_reports_as_charts_tables_and_csv(desk));
}

struct Desk {
    app: TestApp,
    browser: Browser,
    rules: tempfile::TempDir,
    /// The providers' stand-in, which also holds customers' files.
    provider: stand_in::StandIn,
}

impl Desk {
    async fn create_account(&self, email: &str, role: Role) {
        let hash = replydesk::auth::passwords::hash_password(PASSWORD.into())
            .await
            .unwrap();
        users::create(self.app.db(), email, role, &[], Some(&hash), T0)
            .await
            .unwrap();
    }

    fn rules_file(&self, file: &str) -> String {
        std::fs::read_to_string(self.rules.path().join(file)).unwrap()
    }

    /// Replaces the editor's text as a paste would (typing a whole rules
    /// file key by key takes minutes).
    async fn paste_rules(&self, text: &str) {
        self.browser
            .js(&format!(
                "const t = document.getElementById('rules-text'); t.value = {};
                 t.dispatchEvent(new Event('input', {{ bubbles: true }}))",
                serde_json::to_string(text).unwrap()
            ))
            .await;
    }

    async fn goto(&self, path: &str) {
        self.browser.goto(path, &self.app.base).await;
    }

    async fn sign_in(&self, email: &str) {
        self.goto("/login").await;
        self.browser.type_into("#email", email).await;
        self.browser.type_into("#password", PASSWORD).await;
        self.browser
            .click("form[action='/login'] button[type=submit]")
            .await;
        self.browser.wait_for_path("/queue").await;
    }

    async fn sign_out(&self) {
        self.browser
            .click("form[action='/logout'] button[type=submit]")
            .await;
        self.browser.wait_for_path("/login").await;
    }

    /// A WhatsApp text reply from a named contact, as Meta posts it.
    async fn reply(&self, wa_id: &str, name: &str, message_id: &str, text: &str) {
        let body = meta_envelope(
            "messages",
            json!({
                "messaging_product": "whatsapp",
                "metadata": metadata(),
                "contacts": [{ "profile": { "name": name }, "wa_id": wa_id }],
                "messages": [{
                    "from": wa_id, "id": message_id, "type": "text",
                    // Sent a little before Meta delivers it, as in life.
                    "timestamp": (self.app.now() / 1000 - 20).to_string(),
                    "text": { "body": text },
                }],
            }),
        );
        let status = self.app.post_meta(&body).await.status();
        assert_eq!(status, 200, "the desk accepts the webhook for {message_id}");
    }

    /// The category the desk gave a stored reply.
    async fn category_of(&self, message_id: &str) -> String {
        sqlx::query_scalar("SELECT category FROM events WHERE provider_id = $1")
            .bind(message_id)
            .fetch_one(self.app.db().reader())
            .await
            .unwrap()
    }

    /// The queue row that shows `text`, once the queue lists it.
    async fn row_showing(&self, text: &str) -> String {
        let find = format!(
            "return [...document.querySelectorAll('#rows tr[data-id]')]
                .find(r => r.textContent.includes({text:?}))?.dataset.id ?? null"
        );
        let started = std::time::Instant::now();
        loop {
            if let Value::String(id) = self.browser.js(&find).await {
                return id;
            }
            assert!(
                started.elapsed() < driver::PATIENCE,
                "the queue did not show {text:?} within {:?}",
                driver::PATIENCE
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// What every page owes its user, checked on the page now open: the
    /// desk's own scripts only and none inline, htmx running, nothing the
    /// browser refused or failed to run, a label on every field, and no
    /// sideways scrolling.
    async fn assert_page_is_sound(&self, page: &str) {
        let facts = self
            .browser
            .js(r"
                const own = (url) => new URL(url, location.href).origin === location.origin;
                const fields = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')];
                return {
                    inline_scripts: document.querySelectorAll('script:not([src])').length,
                    foreign: [...document.scripts].filter(s => !own(s.src)).map(s => s.src)
                        .concat([...document.querySelectorAll('link[rel=stylesheet]')].filter(l => !own(l.href)).map(l => l.href)),
                    htmx: typeof window.htmx === 'object' && window.htmx !== null,
                    unlabelled: fields.filter(f => f.labels.length === 0 && !f.getAttribute('aria-label'))
                        .map(f => f.outerHTML.slice(0, 80)),
                    scroll_width: document.documentElement.scrollWidth,
                    inner_width: window.innerWidth,
                };
            ")
            .await;
        assert_eq!(facts["inline_scripts"], 0, "{page}: no inline script");
        assert_eq!(
            facts["foreign"],
            json!([]),
            "{page}: no script or style from elsewhere"
        );
        assert_eq!(
            facts["htmx"], true,
            "{page}: htmx, served by the desk, is running"
        );
        assert_eq!(
            facts["unlabelled"],
            json!([]),
            "{page}: every field has a label"
        );
        assert!(
            facts["scroll_width"].as_i64() <= facts["inner_width"].as_i64(),
            "{page}: no sideways scrolling at {} px wide (page is {} px)",
            facts["inner_width"],
            facts["scroll_width"]
        );
        let refused: Vec<_> = self
            .browser
            .console()
            .await
            .into_iter()
            .filter(|(source, level, message)| {
                // A missing favicon is the browser's guess, not the page's fault.
                level == "SEVERE" && !(source == "network" && message.contains("favicon.ico"))
            })
            .collect();
        assert!(
            refused.is_empty(),
            "{page}: the browser reported errors (a Content-Security-Policy violation, a failing script or asset): {refused:#?}"
        );
    }
}

async fn pages_allow_only_the_desks_own_scripts_and_styles(desk: &Desk) {
    let r = desk
        .app
        .client
        .get(desk.app.url("/login"))
        .send()
        .await
        .unwrap();
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    for directive in ["script-src 'self'", "style-src 'self'"] {
        assert!(csp.contains(directive), "the policy has {directive}: {csp}");
    }
    assert!(
        !csp.contains("unsafe"),
        "the policy allows nothing unsafe: {csp}"
    );

    // The checks on every page below rely on Chromium's console reporting a
    // refused inline script; make sure it does.
    desk.browser
        .goto(
            "data:text/html,<meta http-equiv='Content-Security-Policy' content=\"script-src 'self'\"><script>1</script>",
            "",
        )
        .await;
    let console = desk.browser.console().await;
    assert!(
        console
            .iter()
            .any(|(source, _, message)| source == "security"
                && message.contains("Content Security Policy")),
        "the console reports a refused inline script: {console:#?}"
    );
}

async fn an_agent_signs_in_through_the_login_form(desk: &Desk) {
    desk.goto("/login").await;
    desk.assert_page_is_sound("the sign-in page").await;
    desk.sign_in(AGENT).await;
    assert!(
        desk.browser.text("header.top .who").await.contains(AGENT),
        "the queue shows who is signed in"
    );
    desk.assert_page_is_sound("the queue").await;
}

async fn a_reply_that_arrives_while_the_queue_is_open_appears_without_a_reload(
    desk: &Desk,
) -> String {
    desk.goto("/queue").await;
    // A reload would wipe this mark.
    desk.browser.js("window.stillTheSamePage = true").await;
    desk.reply("34600000001", "Ana Cliente", "wamid.live.1", PRICE_QUESTION)
        .await;
    let id = desk.row_showing(PRICE_QUESTION).await;
    assert_eq!(
        desk.browser
            .js("return window.stillTheSamePage === true")
            .await,
        true,
        "the row appeared without reloading the page"
    );
    desk.assert_page_is_sound("the queue after a live refresh")
        .await;
    id
}

async fn pressing_j_selects_the_first_row_and_enter_opens_it(desk: &Desk, id: &str) {
    desk.goto("/queue").await;
    desk.browser.press('j').await;
    let selected = desk
        .browser
        .js("const r = document.querySelector('#rows tr[data-id]'); return r.classList.contains('selected') ? r.dataset.id : null")
        .await;
    assert_eq!(selected, json!(id), "j selects the first row");
    desk.browser.press(Key::Enter.into()).await;
    desk.browser
        .wait_for_path(&format!("/conversations/{id}"))
        .await;
    assert!(
        desk.browser.text("#panel").await.contains(PRICE_QUESTION),
        "the conversation shows the reply"
    );
    desk.assert_page_is_sound("a conversation").await;
}

async fn an_agent_answers_and_sees_the_message_go_from_queued_to_delivered(desk: &Desk, id: &str) {
    desk.goto(&format!("/conversations/{id}")).await;
    desk.browser.js("window.stillTheSamePage = true").await;
    assert!(
        desk.browser
            .text("#window")
            .await
            .contains("Window closes in"),
        "the reply box says how long the window is open"
    );
    // "/" and a name offers a canned response; Enter puts it in the box.
    desk.browser.type_into("#reply-text", "/call").await;
    desk.browser
        .wait_for(
            "the canned responses",
            "const l = document.getElementById('canned'); return !!l && !l.hidden",
        )
        .await;
    desk.browser
        .js("document.getElementById('reply-text').dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}))")
        .await;
    let picked = desk
        .browser
        .js("return document.getElementById('reply-text').value")
        .await;
    assert!(
        picked
            .as_str()
            .unwrap()
            .starts_with("Hi Ana, this is Agent."),
        "the canned response is filled in: {picked}"
    );
    desk.browser
        .js("document.getElementById('reply-text').value = ''")
        .await;
    let answer = "It is 20 euros a month; shall I send the details?";
    desk.browser.type_into("#reply-text", answer).await;
    desk.browser
        .js("const t = document.getElementById('reply-text'); t.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', ctrlKey: true, bubbles: true}));")
        .await;
    desk.browser
        .wait_for(
            "the answer in the reply box",
            &format!("return [...document.querySelectorAll('.reply-row')].some(r => r.textContent.includes({answer:?}))"),
        )
        .await;
    assert_eq!(
        desk.browser
            .js("return document.getElementById('reply-text').value")
            .await,
        "",
        "the box is empty for the next message"
    );
    desk.browser
        .wait_for(
            "the provider to accept the message",
            "const r = document.querySelector('.reply-row'); return !!r && r.dataset.state === 'sent'",
        )
        .await;
    let wamid: String =
        sqlx::query_scalar("SELECT provider_message_id FROM replies WHERE conversation_id = $1")
            .bind(id)
            .fetch_one(desk.app.db().reader())
            .await
            .unwrap();
    let status = helpers::meta_status(
        "34600000001",
        &wamid,
        "delivered",
        desk.app.now() / 1000,
        None,
    );
    assert_eq!(desk.app.post_meta(&status).await.status(), 200);
    desk.browser
        .wait_for(
            "the message to show it was delivered",
            "const r = document.querySelector('.reply-row'); return !!r && r.dataset.state === 'delivered' && r.textContent.includes('delivered')",
        )
        .await;
    assert_eq!(
        desk.browser
            .js("return window.stillTheSamePage === true")
            .await,
        true,
        "the message moved from queued to delivered without a reload"
    );
    desk.assert_page_is_sound("a conversation with an answer sent")
        .await;
}

async fn an_agent_claims_adds_a_note_and_resolves_a_conversation(desk: &Desk, id: &str) {
    desk.goto(&format!("/conversations/{id}")).await;
    desk.browser.js("window.stillTheSamePage = true").await;

    desk.browser.click("#do-claim").await;
    desk.browser
        .wait_for(
            "the claim button to say the conversation is mine",
            "const b = document.getElementById('do-claim'); return !!b && b.disabled && b.textContent.includes('Claimed by you')",
        )
        .await;
    assert!(
        desk.browser.text(".conv-head .facts").await.contains(AGENT),
        "the header names the new assignee"
    );

    let note = "Called back; sending the price list by email.";
    desk.browser.type_into("#note", note).await;
    desk.browser
        .click("form[action$='/note'] button[type=submit]")
        .await;
    desk.browser
        .wait_for(
            "the note in the timeline",
            &format!("return document.querySelector('.timeline').textContent.includes({note:?})"),
        )
        .await;

    desk.browser.select("#outcome", "converted").await;
    desk.browser.click("#do-resolve").await;
    desk.browser
        .wait_for(
            "the conversation to show it is resolved",
            "return !!document.querySelector('.conv-head .status-resolved') && !document.getElementById('do-resolve')",
        )
        .await;
    assert_eq!(
        desk.browser
            .js("return window.stillTheSamePage === true")
            .await,
        true,
        "the actions updated the page in place"
    );
    desk.assert_page_is_sound("a conversation after claim, note and resolve")
        .await;

    desk.goto("/queue").await;
    let listed = desk
        .browser
        .js(&format!(
            "return !!document.querySelector('#rows tr[data-id=\"{id}\"]')"
        ))
        .await;
    assert_eq!(
        listed, false,
        "a resolved conversation leaves the open queue"
    );
}

async fn reclassifying_a_conversation_shows_the_new_category_in_the_queue(desk: &Desk) {
    let text = "How much does the annual plan cost?";
    desk.reply("34600000002", "Bruno Silva", "wamid.reclassify.1", text)
        .await;
    desk.goto("/queue").await;
    let id = desk.row_showing(text).await;
    desk.goto(&format!("/conversations/{id}")).await;
    assert_eq!(desk.browser.text(".conv-head .cat").await, "Interest");

    desk.browser.select("#category", "confusion").await;
    desk.browser
        .click("form[action$='/reclassify'] button[type=submit]")
        .await;
    desk.browser
        .wait_for(
            "the header to show the new category",
            "return document.querySelector('.conv-head .cat')?.textContent === 'Confusion'",
        )
        .await;
    desk.assert_page_is_sound("a reclassified conversation")
        .await;

    desk.goto("/queue").await;
    let category = desk
        .browser
        .text(&format!("#rows tr[data-id='{id}'] .cat"))
        .await;
    assert_eq!(
        category, "Confusion",
        "the queue shows the corrected category"
    );
}

async fn j_and_k_move_one_selection_through_the_rows(desk: &Desk) {
    desk.reply(
        "34600000004",
        "Dana Weiss",
        "wamid.keys.1",
        "Send me the offer please",
    )
    .await;
    desk.app.route_now().await;
    desk.goto("/queue").await;
    let selection = "const rows = [...document.querySelectorAll('#rows tr[data-id]')];
        return { count: rows.length,
                 selected: rows.findIndex(r => r.classList.contains('selected')),
                 marked: rows.filter(r => r.classList.contains('selected') || r.getAttribute('aria-selected') === 'true').length }";
    let count = desk.browser.js(selection).await["count"].as_i64().unwrap();
    assert_eq!(count, 2, "the queue lists two open conversations");
    // The last row stays selected when j runs out of rows.
    for (key, row) in [('j', 0), ('j', 1), ('j', 1), ('k', 0)] {
        desk.browser.press(key).await;
        let now = desk.browser.js(selection).await;
        assert_eq!(now["selected"], row, "after {key} row {row} is selected");
        assert_eq!(
            now["marked"], 1,
            "after {key} exactly one row is marked selected"
        );
    }
}

async fn an_agent_of_another_team_cannot_open_a_sales_conversation(
    desk: &Desk,
    sales: &str,
) -> String {
    desk.reply(
        "34600000003",
        "Chloé Martin",
        "wamid.service.1",
        BROKEN_ORDER,
    )
    .await;
    desk.app.route_now().await;
    desk.sign_out().await;
    desk.sign_in(SERVICE_AGENT).await;
    // Their own team's reply is there, so what follows is not an empty queue.
    let own = desk.row_showing(BROKEN_ORDER).await;
    let listed = desk
        .browser
        .js(&format!(
            "return !!document.querySelector('#rows tr[data-id=\"{sales}\"]')"
        ))
        .await;
    assert_eq!(
        listed, false,
        "the service queue does not list a sales conversation"
    );

    desk.goto(&format!("/conversations/{sales}")).await;
    assert_eq!(desk.browser.text("main h1").await, "Not found");
    let panel = desk
        .browser
        .js("return !!document.getElementById('panel')")
        .await;
    assert_eq!(panel, false, "nothing of the conversation is shown");
    assert!(
        !desk
            .browser
            .client
            .source()
            .await
            .unwrap()
            .contains(PRICE_QUESTION),
        "the customer's words are not on the page"
    );
    // The console has the refusal's 404 and nothing else.
    let console = desk.browser.console().await;
    assert!(
        console.len() == 1 && console[0].2.contains("404 (Not Found)"),
        "the page was answered with 404: {console:#?}"
    );
    own
}

async fn the_queue_and_a_conversation_fit_a_phone_screen(desk: &Desk, id: &str) {
    desk.browser.viewport(390, 844, true).await;
    desk.goto("/queue").await;
    assert_eq!(desk.browser.js("return window.innerWidth").await, 390);
    desk.assert_page_is_sound("the queue at phone width").await;
    desk.goto(&format!("/conversations/{id}")).await;
    desk.assert_page_is_sound("a conversation at phone width")
        .await;
    desk.browser.viewport(1280, 800, false).await;
}

async fn keyboard_focus_is_visible_on_every_control(desk: &Desk) {
    desk.goto("/queue").await;
    desk.browser.press(Key::Tab.into()).await;
    let skip = desk
        .browser
        .js("const a = document.activeElement; return a.classList.contains('skip') && a.getBoundingClientRect().left >= 0")
        .await;
    assert_eq!(skip, true, "the first Tab shows the skip link on screen");
    // Walk the page's tab order to its end (where the focus leaves the page)
    // and check each stop shows an outline.
    let mut stops = 0;
    loop {
        let focus = desk
            .browser
            .js(
                "const a = document.activeElement; const s = getComputedStyle(a);
                 return { end: a === document.body, what: a.outerHTML.slice(0, 80),
                          visible: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 }",
            )
            .await;
        if focus["end"] == true {
            break;
        }
        assert_eq!(
            focus["visible"], true,
            "tab stop {stops} shows where the focus is: {}",
            focus["what"]
        );
        stops += 1;
        assert!(stops < 100, "the tab order ends");
        desk.browser.press(Key::Tab.into()).await;
    }
    assert!(
        stops > 10,
        "the walk reached the queue's controls ({stops} stops)"
    );
}

async fn screenshots_of_the_queue_and_a_conversation_for_the_readme(desk: &Desk) {
    // A day's worth of replies: two from yesterday, close to their SLA, and
    // the rest this morning, minutes apart.
    let replies = [
        (
            "5511990000002",
            "João Pereira",
            "Quanto custa o plano anual?",
        ),
        (
            "4915100000004",
            "Lukas Becker",
            "Ja, bitte schicken Sie mir das Angebot",
        ),
        (
            "34611000001",
            "Marta López",
            "¿Cuánto cuesta el plan anual?",
        ),
        (
            "33612000003",
            "Camille Durand",
            "Combien coûte l'abonnement ?",
        ),
        (
            "447700900005",
            "Olivia Smith",
            "Interested! What are the prices?",
        ),
        ("14155550106", "Grace Lee", "Yes please, send me the offer"),
    ];
    for (i, (wa, name, text)) in replies.iter().enumerate() {
        desk.reply(wa, name, &format!("wamid.shot.{i}"), text).await;
        desk.app.route_now().await;
        let gap = if i == 1 { 21 * 60 } else { 7 };
        desk.app.clock.advance(gap * 60 * 1000);
    }
    let dir = helpers::repo().join("docs/screenshots");
    // A day later the session has expired: sign in afresh.
    desk.browser.client.delete_all_cookies().await.unwrap();
    desk.sign_in(AGENT).await;

    // A conversation an agent has worked on: claimed, then a note.
    let id = desk.row_showing(replies[4].2).await;
    desk.goto(&format!("/conversations/{id}")).await;
    desk.browser.click("#do-claim").await;
    desk.browser
        .wait_for(
            "the claim",
            "return document.getElementById('do-claim')?.disabled === true",
        )
        .await;
    desk.app.clock.advance(4 * 60 * 1000);
    desk.browser
        .type_into(
            "#note",
            "Sent the price sheet; she asked for a call on Friday.",
        )
        .await;
    desk.browser
        .click("form[action$='/note'] button[type=submit]")
        .await;
    desk.browser
        .wait_for(
            "the note",
            "return document.querySelector('.timeline').textContent.includes('price sheet')",
        )
        .await;
    // Clicking scrolled the form into view; the picture starts at the top.
    desk.browser.js("window.scrollTo(0, 0)").await;
    desk.browser.screenshot(&dir.join("conversation.png")).await;

    // The reply box inside the window, an answer being written.
    desk.browser
        .type_into(
            "#reply-text",
            "Hi Olivia! The annual plan is 200 euros; I have sent you the price sheet.",
        )
        .await;
    desk.browser
        .js("document.getElementById('reply').scrollIntoView()")
        .await;
    desk.browser.screenshot(&dir.join("reply-open.png")).await;

    // A day later the window has closed: only an approved template may go.
    let state = &desk.app.state;
    replydesk::replies::templates::sync(&state.db, state.replies.senders(), desk.app.now())
        .await
        .unwrap();
    desk.app.clock.advance(25 * 3600 * 1000);
    desk.browser.client.delete_all_cookies().await.unwrap();
    desk.sign_in(AGENT).await;
    desk.goto(&format!("/conversations/{id}")).await;
    desk.browser
        .select("#reply-template", "order_update|en_US")
        .await;
    desk.browser
        .wait_for(
            "the template's fields",
            "return !!document.getElementById('tpl-p2')",
        )
        .await;
    desk.browser.type_into("#tpl-p1", "Olivia").await;
    desk.browser.type_into("#tpl-p2", "A-1042").await;
    desk.browser
        .wait_for(
            "the preview",
            "return document.getElementById('template-preview').textContent.includes('A-1042')",
        )
        .await;
    desk.browser
        .js("document.getElementById('reply').scrollIntoView()")
        .await;
    desk.browser.screenshot(&dir.join("reply-closed.png")).await;

    desk.goto("/queue").await;
    desk.browser.press('j').await;
    desk.browser.screenshot(&dir.join("queue.png")).await;
    eprintln!(
        "browser: wrote {0}/queue.png, {0}/conversation.png, {0}/reply-open.png and {0}/reply-closed.png",
        dir.display()
    );
}

const RULES_FILE: &str = "70-noise.toml";
const OFFER: &str = "Send me the offer please";

async fn an_admin_fixes_a_rules_error_at_its_line_dry_runs_activates_and_rolls_back(desk: &Desk) {
    let original = desk.rules_file(RULES_FILE);
    desk.goto(&format!("/admin/rules/{RULES_FILE}")).await;
    desk.assert_page_is_sound("the rules editor").await;
    let shown = desk
        .browser
        .js("return document.getElementById('rules-text').value")
        .await;
    assert_eq!(
        shown.as_str().unwrap().trim_end(),
        original.trim_end(),
        "the editor shows the file on disk"
    );

    // A new rule with a typo: `keyword` for `keywords`.
    let broken = format!(
        "{original}\n[[rule]]\nid = \"offer-requests-are-noise\"\ncategory = \"noise\"\npriority = 100\nkeyword = [\"{OFFER}\"]\n"
    );
    let bad_line = broken.lines().count();
    desk.paste_rules(&broken).await;
    desk.browser.click("#btn-check").await;
    desk.browser
        .wait_for(
            "the check's problems",
            "return !!document.querySelector('#rule-errors li.rule-error')",
        )
        .await;
    let problem = desk
        .browser
        .js(
            "const li = document.querySelector('#rule-errors li.rule-error');
             return { count: document.querySelectorAll('#rule-errors li').length,
                      file: li.dataset.file, line: Number(li.dataset.line),
                      reason: li.querySelector('.reason').textContent }",
        )
        .await;
    assert_eq!(problem["count"], 1, "one problem: {problem}");
    assert_eq!(problem["file"], RULES_FILE);
    assert_eq!(problem["line"], bad_line, "the problem names its line");
    assert!(
        problem["reason"].as_str().unwrap().contains("keyword"),
        "the reason names the unknown field: {problem}"
    );
    desk.browser
        .wait_for(
            "the gutter to mark the bad line",
            &format!(
                "return document.getElementById('L{bad_line}')?.classList.contains('bad') === true"
            ),
        )
        .await;
    desk.browser.click("#rule-errors a.goto-line").await;
    let selected = desk
        .browser
        .js("const t = document.getElementById('rules-text');
             return document.activeElement === t ? t.value.slice(t.selectionStart, t.selectionEnd) : null")
        .await;
    assert_eq!(
        selected,
        json!(format!("keyword = [\"{OFFER}\"]")),
        "the problem's link puts the caret on its line"
    );
    desk.assert_page_is_sound("the rules editor with a problem")
        .await;

    let fixed = broken.replace("\nkeyword = [", "\nkeywords = [");
    desk.paste_rules(&fixed).await;
    desk.browser.click("#btn-check").await;
    desk.browser
        .wait_for(
            "the check to pass",
            "return !!document.getElementById('check-ok') && !document.querySelector('#rules-gutter .bad')",
        )
        .await;

    // The agents' scenarios stored four replies; one asked for the offer.
    desk.browser.click("#btn-dry-run").await;
    desk.browser
        .wait_for(
            "the dry run's summary",
            "return !!document.getElementById('dry-run-summary')",
        )
        .await;
    let dry_run = desk
        .browser
        .js("const s = document.getElementById('dry-run-summary');
             return { replayed: Number(s.dataset.replayed), changed: Number(s.dataset.changed),
                      interest_to_noise: document.querySelector('#dry-run-moves td.move[data-from=interest][data-to=noise]')?.dataset.count ?? null,
                      changes: [...document.querySelectorAll('#dry-run-changes tbody tr')]
                          .map(r => r.querySelector('.reply-text').textContent),
                      lost: !!document.getElementById('dry-run-lost-opt-outs') }")
        .await;
    assert!(
        dry_run["replayed"].as_i64() >= Some(4),
        "the stored replies were replayed: {dry_run}"
    );
    assert_eq!(dry_run["changed"], 1, "{dry_run}");
    assert_eq!(dry_run["interest_to_noise"], "1", "{dry_run}");
    assert_eq!(dry_run["changes"], json!([OFFER]), "{dry_run}");
    assert_eq!(dry_run["lost"], false, "no opt-out would be lost");
    assert_eq!(
        desk.rules_file(RULES_FILE),
        original,
        "check and dry run write nothing"
    );

    // Activating asks what the change does, next to the field.
    desk.browser.click("#btn-activate").await;
    desk.browser
        .wait_for(
            "the comment's error next to it",
            "return !!document.getElementById('comment-error') && document.getElementById('activate-comment').getAttribute('aria-invalid') === 'true'",
        )
        .await;
    assert_eq!(desk.rules_file(RULES_FILE), original);
    let comment = "Offer requests from the autumn campaign are noise";
    desk.browser.type_into("#activate-comment", comment).await;
    desk.browser.click("#btn-activate").await;
    desk.browser
        .wait_for(
            "the activation",
            "return !!document.getElementById('activate-ok')",
        )
        .await;
    assert_eq!(
        desk.rules_file(RULES_FILE),
        fixed,
        "the file on disk is the activated text"
    );
    desk.reply("34600000009", "Eva Novak", "wamid.after.activate", OFFER)
        .await;
    assert_eq!(
        desk.category_of("wamid.after.activate").await,
        "noise",
        "a new reply is classified by the new rule at once"
    );

    desk.browser.click("#activate-ok a").await;
    desk.browser
        .wait_for_path(&format!("/admin/rules/{RULES_FILE}/history"))
        .await;
    assert!(
        desk.browser
            .text("#history-list li.version")
            .await
            .contains(comment),
        "the newest version carries the comment"
    );
    desk.assert_page_is_sound("the rules history").await;
    desk.browser.click("#rollback-last").await;
    desk.browser
        .wait_for(
            "the rollback's message",
            "return !!document.getElementById('history-message')",
        )
        .await;
    assert_eq!(
        desk.rules_file(RULES_FILE),
        original,
        "one step back restores the file"
    );
    desk.reply("34600000010", "Femi Okafor", "wamid.after.rollback", OFFER)
        .await;
    assert_eq!(desk.category_of("wamid.after.rollback").await, "interest");
    assert_eq!(
        desk.category_of("wamid.after.activate").await,
        "noise",
        "a past classification is not rewritten"
    );
}

async fn a_lead_reads_the_reports_as_charts_tables_and_csv(desk: &Desk) {
    let options = replydesk::seed::SeedOptions {
        messages: 6_000,
        open: 40,
        sends: 2_000,
        conversions: 160,
        days: 30,
        seed: 7,
        force: true,
    };
    let now = desk.app.now();
    replydesk::seed::seed(desk.app.db(), &desk.app.state.config, &options, now)
        .await
        .unwrap();
    let codes = desk.app.state.signals.status_codes.load();
    replydesk::reports::refresh(desk.app.db(), &desk.app.state.config, &codes, now)
        .await
        .unwrap();

    desk.goto("/reports").await;
    desk.assert_page_is_sound("the reports").await;
    let page = desk
        .browser
        .js("const svg = (id) => document.getElementById(id);
             const rows = (id) => document.querySelectorAll('#' + id + ' tbody tr').length;
             return { daily_marks: svg('chart-daily')?.querySelectorAll('rect, path, polyline, circle').length ?? 0,
                      daily_title: svg('chart-daily')?.querySelector('title')?.textContent ?? null,
                      daily_rows: rows('table-daily'),
                      funnel_marks: svg('chart-funnel')?.querySelectorAll('rect, path, polyline').length ?? 0,
                      funnel_rows: rows('table-funnel'),
                      csv: [...document.querySelectorAll('a[id^=csv-]')].map(a => ({ id: a.id, href: a.getAttribute('href'), download: a.hasAttribute('download') })) }")
        .await;
    assert!(
        page["daily_marks"].as_i64() > Some(0),
        "the daily chart draws the month: {page}"
    );
    assert!(
        page["daily_title"].as_str().is_some_and(|t| !t.is_empty()),
        "the chart has a title for screen readers: {page}"
    );
    assert!(
        page["daily_rows"].as_i64() >= Some(28),
        "the daily numbers are a table beside the chart: {page}"
    );
    assert!(page["funnel_marks"].as_i64() > Some(0), "{page}");
    assert!(page["funnel_rows"].as_i64() > Some(0), "{page}");
    let links = page["csv"].as_array().unwrap();
    assert!(
        links.len() >= 3 && links.iter().all(|l| l["download"] == true),
        "every table is downloadable as CSV: {page}"
    );

    // The browser downloads what the link points at: CSV, one row per day.
    let daily = links.iter().find(|l| l["id"] == "csv-daily").unwrap();
    let csv = desk
        .browser
        .client
        .execute_async(
            "const [href, done] = arguments;
             fetch(href).then(async r => done({ type: r.headers.get('content-type'),
                 disposition: r.headers.get('content-disposition'), body: await r.text() }))",
            vec![daily["href"].clone()],
        )
        .await
        .unwrap();
    assert!(
        csv["type"].as_str().unwrap().starts_with("text/csv"),
        "{csv}"
    );
    assert!(
        csv["disposition"].as_str().unwrap().contains("attachment"),
        "{csv}"
    );
    let lines = csv["body"].as_str().unwrap().lines().count() as i64;
    assert_eq!(
        lines,
        page["daily_rows"].as_i64().unwrap() + 1,
        "the CSV has the table's rows and a header"
    );

    if std::env::var("REPLYDESK_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let to = helpers::repo().join("docs/screenshots/reports.png");
        desk.browser.viewport(1280, 1400, false).await;
        desk.browser.screenshot(&to).await;
        desk.browser.viewport(1280, 800, false).await;
        eprintln!("browser: wrote {}", to.display());
    }
    desk.browser.viewport(390, 844, true).await;
    desk.goto("/reports").await;
    desk.assert_page_is_sound("the reports at phone width")
        .await;
    desk.browser.viewport(1280, 800, false).await;
}

async fn a_customers_photo_and_voice_note_show_on_the_conversation(desk: &Desk) {
    let photo = {
        let img = image::RgbImage::from_fn(1200, 800, |x, y| {
            let on = ((x / 80) + (y / 80)) % 2 == 0;
            if on {
                image::Rgb([196, 120, 60])
            } else {
                image::Rgb([240, 220, 190])
            }
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let mut voice = b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00".to_vec();
    voice.resize(4096, 0);
    for (id, bytes, mime) in [
        ("7701", photo, "image/png"),
        ("7702", voice, "audio/ogg; codecs=opus"),
    ] {
        desk.provider.put_media(
            id,
            stand_in::StoredMedia {
                bytes,
                mime: mime.into(),
                ..Default::default()
            },
        );
    }
    let wa = "31687654321";
    let at = (desk.app.now() / 1000).to_string();
    for message in [
        json!({"from": wa, "id": "wamid.BROWSERVOICE", "timestamp": at, "type": "audio", "audio": {"id": "7702", "mime_type": "audio/ogg; codecs=opus", "voice": true}}),
        json!({"from": wa, "id": "wamid.BROWSERPHOTO", "timestamp": at, "type": "image", "image": {"id": "7701", "mime_type": "image/png", "caption": "the parcel arrived like this"}}),
    ] {
        let body = meta_envelope(
            "messages",
            json!({"messaging_product": "whatsapp", "metadata": metadata(),
                   "contacts": [{"profile": {"name": "Daan"}, "wa_id": wa}], "messages": [message]}),
        );
        assert_eq!(desk.app.post_meta(&body).await.status(), 200);
    }
    desk.app.route_now().await;
    assert_eq!(desk.app.state.media_fetcher.run_once().await.unwrap(), 2);
    let conversation: String = sqlx::query_scalar(
        "SELECT conversation_id FROM events WHERE provider_id = 'wamid.BROWSERPHOTO'",
    )
    .fetch_one(desk.app.db().reader())
    .await
    .unwrap();
    desk.goto(&format!("/conversations/{conversation}")).await;
    desk.browser
        .wait_for(
            "the photo's thumbnail to load",
            "const i = document.querySelector('figure.media-image img'); return !!i && i.complete && i.naturalWidth === 320",
        )
        .await;
    let voice = desk
        .browser
        .js(r"
            const a = document.querySelector('figure.media-audio audio');
            if (!a) return null;
            const x = new XMLHttpRequest();
            x.open('GET', a.src, false);
            x.send();
            return { controls: a.controls, status: x.status, type: x.getResponseHeader('content-type') };
        ")
        .await;
    assert_eq!(
        voice,
        json!({"controls": true, "status": 200, "type": "audio/opus"}),
        "the voice note has a player that loads it"
    );
    let caption = desk
        .browser
        .js("return document.querySelector('figure.media-image').closest('li').querySelector('p.text').textContent")
        .await;
    assert!(
        caption
            .as_str()
            .unwrap()
            .contains("the parcel arrived like this"),
        "the caption is beside the photo: {caption}"
    );
    // The thumbnail opens the photo full size.
    let href = desk
        .browser
        .js("return document.querySelector('figure.media-image a').getAttribute('href')")
        .await;
    assert!(href.as_str().unwrap().starts_with("/media/"));
    desk.assert_page_is_sound("a conversation with media").await;
    if std::env::var("REPLYDESK_SCREENSHOTS").is_ok_and(|v| v == "1") {
        desk.browser
            .js("document.querySelector('figure.media-audio').scrollIntoView({block: 'center'})")
            .await;
        let dir = helpers::repo().join("docs/screenshots");
        desk.browser.screenshot(&dir.join("media.png")).await;
    }
}
