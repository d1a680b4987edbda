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
