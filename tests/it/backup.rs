//! `replydesk backup FILE` on a running SQLite desk: the copy is taken while
//! webhooks keep arriving, every event acknowledged before it started is in
//! it, and a desk started on the copy serves them.

use crate::helpers::*;
use replydesk::store::backup::{self, BackupError};

const WA: &str = "16315558070";

async fn post_many(app: &TestApp, prefix: &str, n: usize) -> usize {
    let mut ok = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
        let sends = chunk.iter().map(|i| {
            let body = meta_text(
                WA,
                &format!("wamid.{prefix}{i:05}"),
                &format!("order {i} please"),
                T0 / 1000,
            );
            async move { app.post_meta(&body).await.status().as_u16() }
        });
        ok += futures::future::join_all(sends)
            .await
            .iter()
            .filter(|s| **s == 200)
            .count();
    }
    ok
}

crate::test_case! {
    async fn a_backup_taken_under_load_holds_every_acknowledged_event_and_restores() {
        let app = TestApp::spawn(Backend::Sqlite).await;
        assert_eq!(post_many(&app, "BEFORE", 120).await, 120, "acknowledged before the backup");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("desk-backup.db");
        // Webhooks keep arriving while the copy is taken.
        let (during, written) = tokio::join!(post_many(&app, "DURING", 200), backup::to_file(app.db(), &file));
        let written = written.unwrap();
        assert_eq!(during, 200, "ingest went on during the backup");
        assert!(written.events >= 120 && written.bytes > 0, "{written:?}");
        assert!(matches!(backup::to_file(app.db(), &file).await, Err(BackupError::Exists(_))), "a backup never overwrites a file");
        // Restore: a desk started on the copy has every event acknowledged before it began.
        let url = format!("sqlite://{}", file.display());
        let restored = TestApp::spawn_configured(Backend::Sqlite, "", move |c| c.database_url = url.clone()).await;
        assert_eq!(restored.count("SELECT COUNT(*) FROM events WHERE provider_id LIKE 'wamid.BEFORE%'").await, 120);
        let copied = restored.count("SELECT COUNT(*) FROM events").await;
        assert_eq!(copied, written.events, "the copy is one snapshot");
        assert!(app.count("SELECT COUNT(*) FROM events").await >= copied);
    }
}

crate::test_case! {
    needs [POSTGRES]
    async fn a_postgresql_desk_is_pointed_to_pg_dump() {
        let app = TestApp::spawn(Backend::Postgres).await;
        let dir = tempfile::tempdir().unwrap();
        let err = backup::to_file(app.db(), &dir.path().join("x.db")).await.unwrap_err();
        assert!(err.to_string().contains("pg_dump"), "{err}");
    }
}
