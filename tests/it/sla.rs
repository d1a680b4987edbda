//! SLA clocks, transitions and escalation emails, against a real SMTP
//! server and a clock the test moves.

use crate::helpers::*;
use crate::on_both_databases;
use crate::smtp::SmtpSink;
use sqlx::Row;

const MINUTE: i64 = 60_000;

fn config(sink: &SmtpSink) -> String {
    format!(
        r#"public_url = "https://desk.example.com"

[smtp]
url = "{}"
from = "replydesk@example.com"
timeout = "5s"

[[sla]]
team = "sales"
category = "interest"
first_response = "15m"
resolution = "1d"
at_risk = 0.8
level2_multiple = 2
escalate_to = ["director@example.com"]
"#,
        sink.url()
    )
}

async fn breach_app(backend: Backend, sink: &SmtpSink) -> TestApp {
    TestApp::spawn_with(backend, &config(sink)).await
}

async fn kinds(app: &TestApp, conversation: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM sla_events WHERE conversation_id = $1 ORDER BY level")
        .bind(conversation)
        .fetch_all(app.db().reader())
        .await
        .unwrap()
}

crate::each_database! {
    async fn a_breach_is_emailed_to_the_leads_once_per_level(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = breach_app(backend, &sink).await;
        let id = app
            .conversation_for("16315550901", "wamid.s1", "How much does it cost?")
            .await;
        app.clock.advance(11 * MINUTE);
        app.state.sla.run_once().await.unwrap();
        assert!(
            kinds(&app, &id).await.is_empty(),
            "{backend:?}: nothing before 80% of the target"
        );
        app.clock.advance(2 * MINUTE);
        app.state.sla.run_once().await.unwrap();
        assert_eq!(kinds(&app, &id).await, ["at_risk"], "{backend:?}");
        app.deliver_now().await;
        assert!(
            sink.received().is_empty(),
            "{backend:?}: at risk is shown, not emailed"
        );
        app.clock.advance(3 * MINUTE);
        app.state.sla.run_once().await.unwrap();
        app.state.sla.run_once().await.unwrap();
        assert_eq!(
            kinds(&app, &id).await,
            ["at_risk", "breached"],
            "{backend:?}"
        );
        assert_eq!(app.deliver_now().await, 1);
        let mails = sink.received();
        assert_eq!(mails.len(), 1, "{backend:?}: one email for the breach");
        assert_eq!(
            mails[0].to,
            ["lead@example.com"],
            "{backend:?}: to the team's leads"
        );
        let raw = String::from_utf8_lossy(&mails[0].data).to_string();
        assert!(raw.contains("SLA breached"), "{raw}");
        assert!(
            raw.contains("How much does it cost?"),
            "the reply text is in the email"
        );
        assert!(
            raw.contains(&format!("https://desk.example.com/conversations/{id}")),
            "a link to the conversation"
        );
        assert!(raw.contains("overdue by"), "how late");
        app.clock.advance(16 * MINUTE);
        app.state.sla.run_once().await.unwrap();
        app.deliver_now().await;
        let mails = sink.received();
        assert_eq!(mails.len(), 2, "{backend:?}: level 2 at twice the target");
        assert_eq!(mails[1].to, ["director@example.com"]);
        app.clock.advance(60 * MINUTE);
        app.state.sla.run_once().await.unwrap();
        app.deliver_now().await;
        assert_eq!(sink.received().len(), 2, "{backend:?}: never again");
    }
}

on_both_databases! {
    async fn a_recorded_response_stops_the_first_response_clock_but_a_claim_does_not(app: TestApp) {
        let claimed = app.conversation_for("16315550902", "wamid.s2", "How much does it cost?").await;
        let answered = app.conversation_for("16315550903", "wamid.s3", "How much does it cost?").await;
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        app.clock.advance(5 * MINUTE);
        agent.hx_post(&format!("/conversations/{claimed}/claim"), &[]).await;
        agent.hx_post(&format!("/conversations/{answered}/respond"), &[("kind", "call")]).await;
        // Past the default first-response target (no policy here: 24h).
        app.clock.advance(25 * 3_600_000);
        app.state.sla.run_once().await.unwrap();
        assert!(kinds(&app, &claimed).await.contains(&"breached".to_string()), "claiming is not responding");
        assert!(kinds(&app, &answered).await.is_empty(), "the resolution clock runs from the first reply: a week by default");
        let target: String = sqlx::query_scalar("SELECT sla_target FROM conversations WHERE id = $1").bind(&answered).fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(target, "resolution");
    }
}

crate::each_database! {
    async fn an_escalation_survives_smtp_down_and_a_restart_without_duplicates(backend: Backend) {
        let sink = SmtpSink::start().await;
        let app = breach_app(backend, &sink).await;
        app.conversation_for("16315550904", "wamid.s4", "How much does it cost?")
            .await;
        sink.stop().await;
        app.clock.advance(16 * MINUTE);
        app.state.sla.run_once().await.unwrap();
        assert_eq!(
            app.deliver_now().await,
            0,
            "{backend:?}: SMTP refuses connections"
        );
        let row =
            sqlx::query("SELECT state, attempts, last_error FROM outbox WHERE kind = 'email'")
                .fetch_one(app.db().reader())
                .await
                .unwrap();
        let (state, attempts, error): (String, i64, Option<String>) = (
            row.try_get(0).unwrap(),
            row.try_get(1).unwrap(),
            row.try_get(2).unwrap(),
        );
        assert_eq!(
            (state.as_str(), attempts),
            ("pending", 1),
            "{backend:?}: kept and retried"
        );
        assert!(error.is_some(), "the error is visible to admins");
        // A restarted desk: new workers on the same database.
        let sla = replydesk::sla::worker::SlaWorker::new(
            app.db().clone(),
            app.clock.clone(),
            app.state.config.clone(),
        );
        sla.run_once().await.unwrap();
        let email = replydesk::notify::email::email_deliverer(
            app.state.config.smtp.as_ref(),
            app.dir.path(),
        )
        .unwrap();
        let outbox = replydesk::outbox::Outbox::new(app.db().clone(), app.clock.clone())
            .with("email", email);
        sink.restart().await;
        app.clock.advance(MINUTE);
        assert_eq!(
            outbox.run_once().await.unwrap(),
            1,
            "{backend:?}: sent after recovery"
        );
        assert_eq!(app.deliver_now().await, 0);
        app.clock.advance(2 * MINUTE);
        sla.run_once().await.unwrap();
        outbox.run_once().await.unwrap();
        assert_eq!(sink.received().len(), 1, "{backend:?}: exactly one email");
    }
}

crate::test_case! {
    needs [POSTGRES]
    async fn two_instances_on_one_postgresql_database_escalate_each_breach_once() {
        let sink = SmtpSink::start().await;
        let app = breach_app(Backend::Postgres, &sink).await;
        for i in 0..12 {
            app.post_meta(&meta_text(
                &format!("163155510{i:02}"),
                &format!("wamid.pg{i}"),
                "How much does it cost?",
                T0 / 1000,
            ))
            .await;
        }
        app.route_now().await;
        // A second desk instance: its own pools, workers and outbox on the same database.
        let url = app.pg_url().unwrap();
        let other_db = replydesk::store::Db::connect(&url, replydesk::config::SqliteSync::Full)
            .await
            .unwrap();
        let other_sla = replydesk::sla::worker::SlaWorker::new(
            other_db.clone(),
            app.clock.clone(),
            app.state.config.clone(),
        );
        let email =
            replydesk::notify::email::email_deliverer(app.state.config.smtp.as_ref(), app.dir.path())
                .unwrap();
        let other_outbox =
            replydesk::outbox::Outbox::new(other_db.clone(), app.clock.clone()).with("email", email);
        app.clock.advance(16 * MINUTE);
        let (a, b) = tokio::join!(app.state.sla.run_once(), other_sla.run_once());
        assert_eq!(
            a.unwrap() + b.unwrap(),
            24,
            "12 at-risk and 12 breach transitions, each recorded once"
        );
        let (a, b) = tokio::join!(app.deliver_now(), async {
            other_outbox.run_once().await.unwrap()
        });
        assert_eq!(a + b, 12);
        let mails = sink.received();
        assert_eq!(mails.len(), 12, "each breach emailed once");
        let distinct: std::collections::HashSet<String> = mails
            .iter()
            .map(|m| {
                String::from_utf8_lossy(&m.data)
                    .lines()
                    .find(|l| l.starts_with("Message-ID"))
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert_eq!(distinct.len(), 12);
        other_db.close().await;
    }
}

on_both_databases! {
    async fn the_breaches_page_shows_what_waits_and_takes_an_acknowledgement(app: TestApp) {
        let id = app.conversation_for("16315550905", "wamid.s5", "How much does it cost?").await;
        app.clock.advance(25 * 3_600_000);
        app.state.sla.run_once().await.unwrap();
        let lead = app.sign_in_as("lead@example.com", "lead").await;
        let page = lead.get("/breaches").await.text().await.unwrap();
        assert!(page.contains(&format!("/conversations/{id}")), "the breached conversation is listed");
        assert!(page.contains("overdue by"));
        assert!(page.contains("<svg class=\"chart\""), "the weekly breach rate has a chart");
        assert!(page.contains("<caption>"), "with its numbers as a table");
        let event: String = sqlx::query_scalar("SELECT id FROM sla_events WHERE kind = 'breached'").fetch_one(app.db().reader()).await.unwrap();
        let r = lead.post(&format!("/breaches/{event}/ack"), &[("comment", "called the customer")]).await;
        assert_eq!(r.status(), 303);
        let by: Option<String> = sqlx::query_scalar("SELECT acknowledged_by FROM sla_events WHERE id = $1").bind(&event).fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(by.as_deref(), Some("lead@example.com"));
        let agent = app.sign_in_as("agent@example.com", "agent").await;
        assert_eq!(agent.get("/breaches").await.status(), 403, "leads and admins only");
    }
}
