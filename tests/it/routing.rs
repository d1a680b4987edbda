//! Threading replies into conversations, reopening, routing to teams,
//! round-robin within capacity, and journey attribution.

use crate::helpers::*;
use crate::on_both_databases;
use serde_json::json;
use sqlx::Row;

async fn conversation(
    app: &TestApp,
    id: &str,
) -> (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
) {
    let r = sqlx::query(
        "SELECT status, category, team, assignee, journey FROM conversations WHERE id = $1",
    )
    .bind(id)
    .fetch_one(app.db().reader())
    .await
    .unwrap();
    (
        r.try_get(0).unwrap(),
        r.try_get(1).unwrap(),
        r.try_get(2).unwrap(),
        r.try_get(3).unwrap(),
        r.try_get(4).unwrap(),
    )
}

on_both_databases! {
    async fn replies_thread_into_the_open_conversation_and_the_highest_category_shows(app: TestApp) {
        let first = app.conversation_for("16315550201", "wamid.t1", "How much does it cost?").await;
        let second = app.conversation_for("16315550201", "wamid.t2", "thanks").await;
        assert_eq!(first, second, "one open conversation per contact and channel");
        let third = app.conversation_for("16315550201", "wamid.t3", "Where is my refund?").await;
        assert_eq!(first, third);
        let (status, category, team, ..) = conversation(&app, &first).await;
        assert_eq!((status.as_str(), category.as_str()), ("open", "service"), "service outranks interest and noise");
        assert_eq!(team.as_deref(), Some("sales"), "the team that took it keeps it");
        assert_eq!(app.count(&format!("SELECT message_count FROM conversations WHERE id = '{first}'")).await, 3);
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM conversation_log WHERE conversation_id = '{first}' AND kind = 'recategorized'")).await, 1);
    }
}

on_both_databases! {
    async fn each_category_goes_where_the_routing_table_says(app: TestApp) {
        let cases = [
            ("How much does it cost?", "open", Some("sales")),
            ("My order arrived broken, I need help", "open", Some("service")),
            ("who is this?", "open", Some("service")),
            ("ok thanks", "closed", None),
            ("STOP", "closed", None),
        ];
        for (i, (text, status, team)) in cases.iter().enumerate() {
            let id = app.conversation_for(&format!("163155503{i:02}"), &format!("wamid.rt{i}"), text).await;
            let (got_status, _, got_team, ..) = conversation(&app, &id).await;
            assert_eq!((got_status.as_str(), got_team.as_deref()), (*status, *team), "{text}");
        }
        let opted_out = app.count("SELECT COUNT(*) FROM conversation_log WHERE kind = 'system_handled'").await;
        assert_eq!(opted_out, 1, "the opt-out is handled by the system and logged");
        assert_eq!(app.count("SELECT COUNT(*) FROM conversation_log WHERE kind = 'auto_closed'").await, 1, "noise closes itself");
        // The opt-out was applied at ingest, before any routing.
        assert!(!app.allowed("+16315550304", "whatsapp", "marketing").await);
    }
}

on_both_databases! {
    async fn a_reply_soon_after_resolution_reopens_and_a_late_one_starts_afresh(app: TestApp) {
        let id = app.conversation_for("16315550401", "wamid.o1", "My order arrived broken, I need help").await;
        sqlx::query("UPDATE conversations SET status = 'resolved', resolution = 'handled', resolved_at = $1, updated_at = $1 WHERE id = $2")
            .bind(T0).bind(&id).execute(app.db().writer()).await.unwrap();
        app.clock.advance(3_600_000);
        let again = app.conversation_for("16315550401", "wamid.o2", "It is still broken").await;
        assert_eq!(again, id, "reopened within the window");
        assert_eq!(conversation(&app, &id).await.0, "open");
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM conversation_log WHERE conversation_id = '{id}' AND kind = 'reopened'")).await, 1);
        sqlx::query("UPDATE conversations SET status = 'resolved', resolved_at = $1, updated_at = $1 WHERE id = $2")
            .bind(app.now()).bind(&id).execute(app.db().writer()).await.unwrap();
        app.clock.advance(73 * 3_600_000);
        let later = app.conversation_for("16315550401", "wamid.o3", "Where is my refund?").await;
        assert_ne!(later, id, "after the window a new conversation opens");
    }
}

crate::each_database! {
    async fn round_robin_assignment_on_both_databases(backend: Backend) {
        // A desk whose sales team assigns in turn, two open conversations each at most.
        let app = TestApp::spawn_configured(backend, "", |cfg| {
            let sales = cfg.teams.iter_mut().find(|t| t.name == "sales").unwrap();
            sales.assignment = replydesk::config::Assignment::RoundRobin;
            sales.capacity = Some(2);
        })
        .await;
        replydesk::auth::users::set_away(app.db(), "bob@example.com", true, T0)
            .await
            .unwrap();
        let mut assignees = Vec::new();
        for i in 0..3 {
            app.post_meta(&meta_text(
                &format!("163155506{i:02}"),
                &format!("wamid.rr{i}"),
                "How much does it cost?",
                T0 / 1000 + i,
            ))
            .await;
            app.route_now().await;
            let a: Option<String> = sqlx::query_scalar("SELECT c.assignee FROM conversations c JOIN events e ON e.conversation_id = c.id WHERE e.provider_id = $1")
                .bind(format!("wamid.rr{i}")).fetch_one(app.db().reader()).await.unwrap();
            assignees.push(a);
        }
        assert_eq!(
            assignees,
            [
                Some("agent@example.com".into()),
                Some("agent@example.com".into()),
                None
            ],
            "{backend:?}: bob is away; agent is full after two"
        );
        replydesk::auth::users::set_away(app.db(), "bob@example.com", false, T0)
            .await
            .unwrap();
        app.post_meta(&meta_text(
            "16315550699",
            "wamid.rr9",
            "How much does it cost?",
            T0 / 1000 + 9,
        ))
        .await;
        app.route_now().await;
        let a: Option<String> = sqlx::query_scalar("SELECT c.assignee FROM conversations c JOIN events e ON e.conversation_id = c.id WHERE e.provider_id = 'wamid.rr9'")
            .fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(
            a.as_deref(),
            Some("bob@example.com"),
            "{backend:?}: back from away, bob gets the next one"
        );
        assert!(
            app.count("SELECT COUNT(*) FROM conversation_log WHERE kind = 'unassigned'")
                .await
                >= 1,
            "the wait is logged with its reason"
        );
    }
}

on_both_databases! {
    async fn replies_are_attributed_to_the_journey_they_answer(app: TestApp) {
        let phone = "+16315550701";
        app.register_outbound(json!({"message_id": "wamid.sent-a", "contact": phone, "journey": "renewal", "purpose": "marketing", "sent_at": T0 - 7_200_000})).await;
        app.register_outbound(json!({"message_id": "wamid.sent-b", "contact": phone, "journey": "spring-sale", "purpose": "marketing", "sent_at": T0 - 3_600_000})).await;
        // Quoting the older message wins over the newer one.
        let quoted = meta_message("16315550701", json!({"id": "wamid.in1", "timestamp": (T0 / 1000).to_string(), "type": "text",
            "text": {"body": "How much does it cost?"}, "context": {"from": "15550783881", "id": "wamid.sent-a"}}));
        app.post_meta(&quoted).await;
        app.route_now().await;
        let c: String = sqlx::query_scalar("SELECT conversation_id FROM events WHERE provider_id = 'wamid.in1'").fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(conversation(&app, &c).await.4.as_deref(), Some("renewal"));
        let ob: Option<String> = sqlx::query_scalar("SELECT outbound_id FROM events WHERE provider_id = 'wamid.in1'").fetch_one(app.db().reader()).await.unwrap();
        assert_eq!(ob.as_deref(), Some("wamid.sent-a"));
        // Without a quote, the latest message within the window.
        let other = app.conversation_for("16315550702", "wamid.in2", "How much does it cost?").await;
        assert_eq!(conversation(&app, &other).await.4, None, "no registered message: no journey");
        app.register_outbound(json!({"message_id": "wamid.sent-c", "contact": "+16315550703", "journey": "winback", "purpose": "marketing", "sent_at": T0 - 3_600_000})).await;
        let window = app.conversation_for("16315550703", "wamid.in3", "How much does it cost?").await;
        assert_eq!(conversation(&app, &window).await.4.as_deref(), Some("winback"));
    }
}

crate::each_database! {
    /// Four routing runs at once over thirty waiting replies.
    async fn routing_runs_at_the_same_time_thread_each_reply_once(backend: Backend) {
        // No background router: the replies wait, so the runs race for them.
        let app = TestApp::spawn_configured(backend, "", |c| c.workers.router = false).await;
        for i in 0..30 {
            let body = meta_text(
                &format!("163155507{:02}", i % 10),
                &format!("wamid.cc{i}"),
                "Where is my refund?",
                T0 / 1000 + i,
            );
            assert_eq!(app.post_meta(&body).await.status(), 200);
        }
        let router = &app.state.router;
        let (a, b, c, d) = tokio::join!(
            router.run_once(),
            router.run_once(),
            router.run_once(),
            router.run_once()
        );
        let routed: usize = [a, b, c, d]
            .into_iter()
            .map(|run| run.expect("a routing run beside another neither fails nor conflicts"))
            .sum();
        assert_eq!(routed, 30, "every reply routed by exactly one run");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM conversations").await,
            10,
            "one conversation per contact"
        );
        assert_eq!(
            app.count("SELECT CAST(COALESCE(SUM(message_count), 0) AS BIGINT) FROM conversations")
                .await,
            30,
            "each reply counted once"
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM conversation_log WHERE kind = 'opened'")
                .await,
            10
        );
        assert_eq!(
            app.count("SELECT COUNT(*) FROM events WHERE routed_at IS NULL")
                .await,
            0
        );
    }
}
