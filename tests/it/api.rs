//! The events API: API keys and cursor paging.

use crate::helpers::*;
use crate::on_both_databases;

on_both_databases! {
    async fn the_events_api_needs_a_valid_key_and_pages_in_arrival_order(app: TestApp) {
        for i in 0..5 {
            app.post_meta(&meta_text("16315551234", &format!("wamid.p{i}"), "hi", 1_795_687_000 + i)).await;
        }
        let none = app.client.get(app.url("/api/v1/events")).send().await.unwrap();
        assert_eq!(none.status(), 401);
        let wrong = app.client.get(app.url("/api/v1/events")).bearer_auth("rdk_000000000000_deadbeef").send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        let key = app.api_key().await;
        let first = app.client.get(app.url("/api/v1/events?limit=2")).bearer_auth(&key).send().await.unwrap();
        let first: serde_json::Value = first.json().await.unwrap();
        let ids: Vec<&str> = first["events"].as_array().unwrap().iter().map(|e| e["provider_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["wamid.p0", "wamid.p1"]);
        let next = first["next"].as_i64().unwrap();
        let rest = app.get_events(&key, next).await;
        let ids: Vec<&str> = rest["events"].as_array().unwrap().iter().map(|e| e["provider_id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["wamid.p2", "wamid.p3", "wamid.p4"]);
        let bad = app.client.get(app.url("/api/v1/events?limit=0")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(bad.status(), 400);
        replydesk::auth::apikeys::revoke(app.db(), &key_name(&app, &key).await, T0).await.unwrap();
        let revoked = app.client.get(app.url("/api/v1/events")).bearer_auth(&key).send().await.unwrap();
        assert_eq!(revoked.status(), 401);
    }
}

async fn key_name(app: &TestApp, token: &str) -> String {
    let id = token.split('_').nth(1).unwrap();
    use sqlx::Row;
    sqlx::query("SELECT name FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_one(app.db().reader())
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

crate::each_database! {
    async fn api_keys_are_stored_hashed(backend: Backend) {
        let app = TestApp::spawn(backend).await;
        let key = app.api_key().await;
        let hits = app
            .count(&format!(
                "SELECT COUNT(*) FROM api_keys WHERE secret_hash LIKE '%{}%'",
                &key[17..]
            ))
            .await;
        assert_eq!(hits, 0, "the secret part of the key must not be stored");
    }
}
