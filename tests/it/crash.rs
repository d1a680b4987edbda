//! Kill the real binary with SIGKILL while webhooks are in flight; after a
//! restart, every webhook that was answered 200 is stored.

use crate::helpers::*;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

fn start(config: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_replydesk"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("RUST_LOG", "info")
        .env_remove("REPLYDESK_DATABASE_URL")
        .env_remove("REPLYDESK_BIND")
        .env_remove("REPLYDESK_RULES_DIR")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the replydesk binary starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some(at) = line.find("addr=") {
                let addr = line[at + 5..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send(addr);
                sent = true;
            }
        }
    });
    let addr = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the desk prints its address");
    (child, addr)
}

crate::test_case! {
    async fn every_acknowledged_webhook_survives_sigkill() {
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}/desk.db", dir.path().display());
        let mut config = std::fs::read_to_string(repo().join("tests/it/crash.toml")).unwrap();
        config = config
            .replace("DB_URL", &db_url)
            .replace("RULES_DIR", &repo().join("rules").display().to_string());
        let config_path = dir.path().join("replydesk.toml");
        std::fs::write(&config_path, config).unwrap();

        let (mut child, addr) = start(&config_path);
        let url = format!("http://{addr}/webhooks/meta/main");
        let client = reqwest::Client::new();
        let acked = Arc::new(Mutex::new(HashSet::new()));
        let mut tasks = Vec::new();
        for worker in 0..16 {
            let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..2_000 {
                    let id = format!("wamid.crash.{worker}.{i}");
                    let body = meta_text(&format!("4477009{:05}", i), &id, "hello", 1_795_687_000);
                    let sig = replydesk::providers::meta::sign(META_SECRET, body.as_bytes());
                    match client
                        .post(&url)
                        .header("x-hub-signature-256", sig)
                        .body(body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => {
                            acked.lock().unwrap().insert(id);
                        }
                        _ => return,
                    }
                }
            }));
        }
        // Let a good number through, then kill without warning.
        while acked.lock().unwrap().len() < 500 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        for t in tasks {
            let _ = t.await;
        }
        let acked = acked.lock().unwrap().clone();
        assert!(acked.len() >= 500);

        let (mut child, _addr) = start(&config_path);
        let db = replydesk::store::Db::connect(&db_url, replydesk::config::SqliteSync::Full)
            .await
            .unwrap();
        let stored: HashSet<String> = sqlx::query_scalar::<_, String>("SELECT provider_id FROM events")
            .fetch_all(db.reader())
            .await
            .unwrap()
            .into_iter()
            .collect();
        child.kill().unwrap();
        child.wait().unwrap();
        let lost: Vec<&String> = acked.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "{} acknowledged webhooks were lost, e.g. {:?}",
            lost.len(),
            lost.iter().take(3).collect::<Vec<_>>()
        );
        eprintln!(
            "crash test: {} acknowledged before SIGKILL, {} stored after restart",
            acked.len(),
            stored.len()
        );
    }
}

crate::test_case! {
    async fn a_reply_queued_while_the_provider_is_down_is_sent_once_after_sigkill_and_restart() {
        // An address where nothing listens yet: the provider is down.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let provider_addr = format!("127.0.0.1:{port}");
        let dir = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}/desk.db", dir.path().display());
        let config = format!(
            r#"
bind = "127.0.0.1:0"
database_url = "{db_url}"
rules_dir = "{rules}"

[[channel]]
name = "main"
provider = "meta"
app_secret = "{META_SECRET}"
verify_token = "verify-me"
access_token = "{token}"
graph_url = "http://{provider_addr}"
"#,
            rules = repo().join("rules").display(),
            token = crate::stand_in::META_TOKEN,
        );
        let config_path = dir.path().join("replydesk.toml");
        std::fs::write(&config_path, config).unwrap();
        let (mut child, addr) = start(&config_path);
        let base = format!("http://{addr}");
        let client = reqwest::Client::new();
        let now_s = replydesk::clock::Clock::now_ms(&replydesk::clock::SystemClock) / 1000;
        let body = meta_text("16315558001", "wamid.KILL1", "How much does it cost?", now_s);
        let sig = replydesk::providers::meta::sign(META_SECRET, body.as_bytes());
        let r = client.post(format!("{base}/webhooks/meta/main")).header("x-hub-signature-256", sig).body(body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let db = replydesk::store::Db::connect(&db_url, replydesk::config::SqliteSync::Full).await.unwrap();
        let conversation = wait_for(&db, "SELECT conversation_id FROM events WHERE provider_id = 'wamid.KILL1' AND conversation_id IS NOT NULL").await;
        let key = replydesk::auth::apikeys::create(&db, "crash-test", &replydesk::auth::apikeys::Scope::ALL, 0).await.unwrap().token;
        let r = client
            .post(format!("{base}/api/v1/conversations/{conversation}/messages"))
            .bearer_auth(&key)
            .json(&serde_json::json!({ "text": "It is 20 euros a month.", "idempotency_key": "kill-1" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
        // Wait for a refused connection to put it back in the queue, then kill
        // the desk well before the next attempt is due.
        wait_for(&db, "SELECT id FROM replies WHERE state = 'queued' AND attempts >= 1").await;
        child.kill().unwrap();
        child.wait().unwrap();
        let provider = crate::stand_in::StandIn::start_on(&provider_addr).await;
        let (mut child, _addr) = start(&config_path);
        let sent = wait_for(&db, "SELECT provider_message_id FROM replies WHERE state = 'sent'").await;
        // Another round of the sender changes nothing.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let got = provider.received();
        assert_eq!(got.len(), 1, "sent exactly once after the restart");
        assert_eq!(got[0].body["text"]["body"], "It is 20 euros a month.");
        assert!(sent.starts_with("wamid."), "{sent}");
    }
}

/// The first column of the first row `sql` finds, waiting up to a minute.
async fn wait_for(db: &replydesk::store::Db, sql: &str) -> String {
    for _ in 0..600 {
        if let Some(v) = sqlx::query_scalar::<_, String>(sql)
            .fetch_optional(db.reader())
            .await
            .unwrap()
        {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("nothing for {sql} after a minute");
}
