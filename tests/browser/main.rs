//! The desk in a real browser: headless Chromium driven through Debian's
//! ChromeDriver, against a real desk on SQLite. One ChromeDriver and one
//! Chromium serve every scenario (CI has two cores), so the scenarios run in
//! sequence inside one test and share one signed-in browser.
//!
//! Without chromedriver the test says it was skipped and passes, unless
//! `REPLYDESK_REQUIRE_ALL=1`. `REPLYDESK_SCREENSHOTS=1` also writes the
//! README's screenshots to `docs/screenshots/`.

// Test helpers panic on failure by design; clippy only exempts #[test] functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../it/helpers.rs"]
mod helpers;

mod driver;

use driver::{Browser, ChromeDriver, find_chromedriver};
use fantoccini::key::Key;
use futures::FutureExt;
use helpers::{Backend, PASSWORD, T0, TestApp, meta_envelope, metadata};
use replydesk::auth::users::{self, Role};
use serde_json::{Value, json};
use std::panic::AssertUnwindSafe;

const AGENT: &str = "agent@example.com";
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_work_the_queue_in_a_real_browser() {
    let Some(binary) = find_chromedriver() else {
        helpers::skip(
            "browser tests",
            "chromedriver not found (install Debian's chromium and chromium-driver, or set REPLYDESK_CHROMEDRIVER)",
        );
        return;
    };
    let driver = ChromeDriver::start(&binary).await;
    let desk = Desk {
        app: TestApp::spawn(Backend::Sqlite).await.unwrap(),
        browser: Browser::open(&driver).await,
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

async fn every_scenario(desk: &Desk) {
    desk.browser.viewport(1280, 800, false).await;
    for email in [AGENT, SERVICE_AGENT] {
        desk.create_account(email).await;
    }
    scenario!(pages_allow_only_the_desks_own_scripts_and_styles(desk));
    scenario!(an_agent_signs_in_through_the_login_form(desk));
    let first =
        scenario!(a_reply_that_arrives_while_the_queue_is_open_appears_without_a_reload(desk));
    scenario!(pressing_j_selects_the_first_row_and_enter_opens_it(
        desk, &first
    ));
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
}

struct Desk {
    app: TestApp,
    browser: Browser,
}

impl Desk {
    async fn create_account(&self, email: &str) {
        let hash = users::hash_password(PASSWORD.into()).await.unwrap();
        users::create(self.app.db(), email, Role::Agent, &[], Some(&hash), T0)
            .await
            .unwrap();
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

    desk.goto("/queue").await;
    desk.browser.press('j').await;
    desk.browser.screenshot(&dir.join("queue.png")).await;
    eprintln!(
        "browser: wrote {0}/queue.png and {0}/conversation.png",
        dir.display()
    );
}
