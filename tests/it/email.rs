//! Email through the durable outbox, against a real SMTP server (the sink in
//! `smtp.rs`) and a real database: delivered once, retried while the server
//! is down, never duplicated by a restart or a second worker, and written as
//! `.eml` files when no SMTP server is configured.

// Test code: a failed unwrap is a failed test. clippy's allow-unwrap-in-tests
// covers #[test] functions only, not the helpers around them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use mail_parser::{MessageParser, MimeHeaders};
use replydesk::clock::Clock;
use replydesk::notify::email::{
    Email, FileDelivery, SmtpConfig, email_deliverer, email_is_delivered, outbox_dir,
    queue_email_in,
};
use replydesk::outbox::{Claimed, Deliver, Outbox, backoff_ms};
use sqlx::Row;
use std::collections::HashSet;
use std::sync::Arc;

use crate::helpers::TestApp;
use crate::on_both_databases;
use crate::smtp::{Received, SmtpSink};

const REPLY: &str = "¿Me pueden llamar mañana? Quiero el plan anual.";

fn smtp_config(sink: &SmtpSink) -> SmtpConfig {
    SmtpConfig {
        url: sink.url(),
        from: "Reply desk <replydesk@example.com>".into(),
        username: None,
        password: None,
        timeout: Some("5s".into()),
    }
}

/// An outbox worker for email, as a desk instance would build it.
fn worker(app: &TestApp, deliverer: Arc<dyn Deliver>) -> Outbox {
    Outbox::new(app.db().clone(), app.clock.clone()).with("email", deliverer)
}

fn smtp_worker(app: &TestApp, sink: &SmtpSink) -> Outbox {
    worker(
        app,
        email_deliverer(Some(&smtp_config(sink)), app.dir.path()).unwrap(),
    )
}

fn escalation(n: usize) -> Email {
    Email::new(
        ["Lead One <lead1@example.com>", "lead2@example.com"],
        format!("Reply waiting 2h past its SLA (#{n})"),
        format!("Interest reply from +34 600 000 000 waits for Sales.\n\n{REPLY}\n"),
        format!("<p>Interest reply waits for <b>Sales</b>.</p><blockquote>{REPLY}</blockquote>"),
    )
}

async fn queue(app: &TestApp, key: &str, email: &Email) {
    let mut tx = app.db().writer().begin().await.unwrap();
    queue_email_in(&mut tx, key, email, app.clock.now_ms())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// State, attempts and last error of the row queued under `key`.
async fn row(app: &TestApp, key: &str) -> (String, i64, Option<String>) {
    let r =
        sqlx::query("SELECT state, attempts, last_error FROM outbox WHERE idempotency_key = $1")
            .bind(key)
            .fetch_one(app.db().reader())
            .await
            .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

fn subjects(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| {
            let message = MessageParser::default().parse(&r.data).unwrap();
            message.subject().unwrap().to_string()
        })
        .collect()
}

/// Checks one parsed message against the email it came from.
fn assert_is_escalation(raw: &[u8], email: &Email) {
    let message = MessageParser::default()
        .parse(raw)
        .expect("the message parses");
    assert_eq!(message.subject(), Some(email.subject.as_str()));
    let to: Vec<&str> = message
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["lead1@example.com", "lead2@example.com"]);
    let content_type = message.content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );
    // Email lines end in CRLF on the wire.
    let lf = |s: &str| s.replace("\r\n", "\n");
    assert_eq!(lf(&message.body_text(0).unwrap()), email.text);
    assert_eq!(lf(&message.body_html(0).unwrap()), email.html);
}

on_both_databases! {
    async fn an_email_queued_in_the_outbox_is_delivered_once_with_both_parts(app: TestApp) {
        let sink = SmtpSink::start().await;
        assert!(email_is_delivered(Some(&smtp_config(&sink))));
        let outbox = smtp_worker(&app, &sink);
        let email = escalation(1);
        queue(&app, "conv-1:level-1", &email).await;

        assert_eq!(outbox.run_once().await.unwrap(), 1);
        assert_eq!(outbox.run_once().await.unwrap(), 0, "a sent email is not sent again");

        let received = sink.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].from, "replydesk@example.com");
        assert_eq!(received[0].to, ["lead1@example.com", "lead2@example.com"]);
        assert_is_escalation(&received[0].data, &email);
        assert_eq!(row(&app, "conv-1:level-1").await, ("sent".into(), 1, None));
    }
}

on_both_databases! {
    async fn queuing_the_same_conversation_and_level_twice_sends_one_email(app: TestApp) {
        let sink = SmtpSink::start().await;
        let outbox = smtp_worker(&app, &sink);
        queue(&app, "conv-1:level-1", &escalation(1)).await;
        queue(&app, "conv-1:level-1", &escalation(1)).await;
        queue(&app, "conv-1:level-2", &escalation(2)).await;

        assert_eq!(outbox.run_once().await.unwrap(), 2);
        let mut got = subjects(&sink.received());
        got.sort();
        assert_eq!(got, [escalation(1).subject, escalation(2).subject]);
    }
}

on_both_databases! {
    async fn while_smtp_refuses_connections_the_email_waits_and_is_sent_once_it_returns(app: TestApp) {
        let sink = SmtpSink::start().await;
        sink.stop().await;
        let outbox = smtp_worker(&app, &sink);
        queue(&app, "conv-1:level-1", &escalation(1)).await;

        assert_eq!(outbox.run_once().await.unwrap(), 0);
        let (state, attempts, error) = row(&app, "conv-1:level-1").await;
        assert_eq!((state.as_str(), attempts), ("pending", 1));
        let error = error.expect("the failure is recorded for admins");
        assert!(error.contains("SMTP server"), "{error}");

        // Not retried before its backoff ends, retried after it.
        app.clock.advance(backoff_ms(1) - 1);
        outbox.run_once().await.unwrap();
        assert_eq!(row(&app, "conv-1:level-1").await.1, 1);
        app.clock.advance(1);
        assert_eq!(outbox.run_once().await.unwrap(), 0);
        let (state, attempts, _) = row(&app, "conv-1:level-1").await;
        assert_eq!((state.as_str(), attempts), ("pending", 2), "attempts grow while SMTP is down");

        sink.restart().await;
        app.clock.advance(backoff_ms(2));
        assert_eq!(outbox.run_once().await.unwrap(), 1);
        app.clock.advance(backoff_ms(8));
        assert_eq!(outbox.run_once().await.unwrap(), 0);
        assert_eq!(sink.received().len(), 1, "sent exactly once");
        assert_eq!(row(&app, "conv-1:level-1").await, ("sent".into(), 3, None));
    }
}

on_both_databases! {
    async fn a_server_answering_451_keeps_the_email_queued_until_it_accepts(app: TestApp) {
        let sink = SmtpSink::start().await;
        sink.answer_451(true);
        let outbox = smtp_worker(&app, &sink);
        queue(&app, "conv-1:level-1", &escalation(1)).await;

        assert_eq!(outbox.run_once().await.unwrap(), 0);
        let (state, _, error) = row(&app, "conv-1:level-1").await;
        assert_eq!(state, "pending");
        assert!(error.unwrap().contains("451"));

        sink.answer_451(false);
        app.clock.advance(backoff_ms(1));
        assert_eq!(outbox.run_once().await.unwrap(), 1);
        assert_eq!(sink.received().len(), 1);
    }
}

on_both_databases! {
    async fn a_restarted_desk_does_not_resend_sent_email_and_sends_the_pending_one_once(app: TestApp) {
        let sink = SmtpSink::start().await;
        let first = smtp_worker(&app, &sink);
        queue(&app, "conv-1:level-1", &escalation(1)).await;
        assert_eq!(first.run_once().await.unwrap(), 1);

        // SMTP goes down; the next email fails and waits for a retry.
        sink.stop().await;
        queue(&app, "conv-2:level-1", &escalation(2)).await;
        assert_eq!(first.run_once().await.unwrap(), 0);
        assert_eq!(row(&app, "conv-2:level-1").await.0, "pending");
        drop(first);

        // The desk restarts: a new worker on the same database.
        sink.restart().await;
        let second = smtp_worker(&app, &sink);
        app.clock.advance(backoff_ms(1));
        assert_eq!(second.run_once().await.unwrap(), 1);
        assert_eq!(second.run_once().await.unwrap(), 0);

        let mut got = subjects(&sink.received());
        got.sort();
        assert_eq!(got, [escalation(1).subject, escalation(2).subject]);
    }
}

on_both_databases! {
    async fn an_email_leased_by_a_crashed_instance_is_sent_once_after_the_lease_ends(app: TestApp) {
        let sink = SmtpSink::start().await;
        queue(&app, "conv-1:level-1", &escalation(1)).await;
        // An instance claimed the row and died before sending it.
        let lease_until = app.clock.now_ms() + 120_000;
        sqlx::query("UPDATE outbox SET lease_until = $1, lease_owner = 'crashed-instance' WHERE idempotency_key = $2")
            .bind(lease_until)
            .bind("conv-1:level-1")
            .execute(app.db().writer())
            .await
            .unwrap();

        let survivor = smtp_worker(&app, &sink);
        assert_eq!(survivor.run_once().await.unwrap(), 0, "the lease is respected");
        app.clock.advance(120_001);
        assert_eq!(survivor.run_once().await.unwrap(), 1);
        assert_eq!(survivor.run_once().await.unwrap(), 0);
        assert_eq!(sink.received().len(), 1);
    }
}

on_both_databases! {
    async fn two_workers_on_one_database_deliver_each_email_exactly_once(app: TestApp) {
        const EMAILS: usize = 60;
        let sink = SmtpSink::start().await;
        for n in 0..EMAILS {
            queue(&app, &format!("conv-{n}:level-1"), &escalation(n)).await;
        }
        // Two desk instances, each with its own worker and SMTP connections.
        let workers = [Arc::new(smtp_worker(&app, &sink)), Arc::new(smtp_worker(&app, &sink))];
        let tasks: Vec<_> = workers
            .iter()
            .map(|w| {
                let w = w.clone();
                tokio::spawn(async move { w.run_once().await.unwrap() })
            })
            .collect();
        let mut sent = 0;
        for task in tasks {
            sent += task.await.unwrap();
        }

        assert_eq!(sent, EMAILS);
        let received = sink.received();
        let distinct: HashSet<String> = subjects(&received).into_iter().collect();
        assert_eq!(received.len(), EMAILS, "no email was sent twice");
        assert_eq!(distinct.len(), EMAILS, "every email was sent");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'email' AND state = 'sent'").await,
            i64::try_from(EMAILS).unwrap()
        );
    }
}

on_both_databases! {
    async fn without_smtp_emails_are_written_as_parseable_eml_files_under_the_data_dir(app: TestApp) {
        assert!(!email_is_delivered(None), "admins are told email is not delivered");
        let deliverer = email_deliverer(None, app.dir.path()).unwrap();
        let outbox = worker(&app, deliverer);
        let email = escalation(1);
        queue(&app, "conv-1:level-1", &email).await;
        assert_eq!(outbox.run_once().await.unwrap(), 1);

        let id: String = sqlx::query("SELECT id FROM outbox WHERE idempotency_key = $1")
            .bind("conv-1:level-1")
            .fetch_one(app.db().reader())
            .await
            .unwrap()
            .get(0);
        let dir = outbox_dir(app.dir.path());
        assert_eq!(dir, app.dir.path().join("outbox"));
        let path = dir.join(format!("{id}.eml"));
        assert_is_escalation(&std::fs::read(&path).unwrap(), &email);

        // Delivering the same row again (a retry after a crash) rewrites the same file.
        let files = FileDelivery::new(dir.clone());
        let row = Claimed {
            id: id.clone(),
            kind: "email".into(),
            target: email.to.join(", "),
            subject: Some(email.subject.clone()),
            payload: serde_json::to_string(&email).unwrap(),
            attempts: 1,
        };
        files.deliver(&row).await.unwrap();
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [format!("{id}.eml")], "one file, no temporary files left");
    }
}

crate::each_database! {
    async fn an_email_without_recipients_is_refused_when_queued(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let mut tx = app.db().writer().begin().await.unwrap();
        let no_one = Email::new(Vec::<String>::new(), "Nobody", "text", "<p>html</p>");
        let error = queue_email_in(&mut tx, "k1", &no_one, 0).await.unwrap_err();
        assert!(error.to_string().contains("no recipients"), "{error}");
        let bad = Email::new(["not an address"], "Bad", "text", "<p>html</p>");
        let error = queue_email_in(&mut tx, "k2", &bad, 0).await.unwrap_err();
        assert!(error.to_string().contains("not an address"), "{error}");
    }
}

/// Wraps a deliverer: every delivery takes 61 s on the test clock (within
/// the longest SMTP timeout), and during the second one another worker runs.
#[derive(Debug)]
struct SlowDelivery {
    inner: Arc<dyn Deliver>,
    clock: Arc<replydesk::clock::ManualClock>,
    other: std::sync::OnceLock<Arc<Outbox>>,
    calls: std::sync::atomic::AtomicUsize,
}

impl Deliver for SlowDelivery {
    fn deliver<'a>(
        &'a self,
        row: &'a Claimed,
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            self.clock.advance(61_000);
            if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                self.other.get().unwrap().run_once().await.unwrap();
            }
            self.inner.deliver(row).await
        })
    }
}

on_both_databases! {
    async fn a_worker_whose_batch_outlives_its_leases_does_not_resend_what_another_took(app: TestApp) {
        let sink = SmtpSink::start().await;
        for n in 0..5 {
            queue(&app, &format!("conv-{n}:level-1"), &escalation(n)).await;
        }
        let smtp = || email_deliverer(Some(&smtp_config(&sink)), app.dir.path()).unwrap();
        let slow = Arc::new(SlowDelivery {
            inner: smtp(),
            clock: app.clock.clone(),
            other: std::sync::OnceLock::new(),
            calls: std::sync::atomic::AtomicUsize::new(0),
        });
        slow.other.set(Arc::new(worker(&app, smtp()))).unwrap();
        let first = worker(&app, slow.clone());

        // The first worker claims all five under a two-minute lease and is
        // slow; by its second email the leases of the rest have run out and
        // the other worker takes them.
        first.run_once().await.unwrap();

        let received = sink.received();
        let distinct: HashSet<String> = subjects(&received).into_iter().collect();
        assert_eq!(distinct.len(), 5, "every email was sent");
        assert_eq!(received.len(), 5, "no email was sent twice");
    }
}
