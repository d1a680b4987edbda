//! Answering customers, end to end: a desk on SQLite (release build,
//! default settings but for the stand-in's address) sends through a local
//! stand-in of Meta's send API. Measures
//! 1. the time from an agent's request (the API's POST, as the reply box
//!    makes it) to the provider receiving the message, one at a time: p50,
//!    p95, max;
//! 2. sustained sends per second with 2,000 replies queued at once, at the
//!    default pace of 80 per second per business number and with the pace
//!    raised out of the way (what the sender itself manages).
//!
//! `cargo bench --bench replies`. Figures are printed, not asserted.

// Bench code: a failed set-up should panic with its error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/it/stand_in.rs"]
#[allow(dead_code)]
mod stand_in;

use replydesk::app::Desk;
use replydesk::clock::SystemClock;
use replydesk::config::Config;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";
const CONVERSATIONS: usize = 200;
const QUEUED: usize = 2_000;

fn config(data: &Path, provider: &str, rate: f64) -> Config {
    let text = format!(
        r#"
bind = "127.0.0.1:0"
database_url = "sqlite://{data}/desk.db"
data_dir = "{data}"
rules_dir = "{rules}"

[sending]
rate_per_number = {rate}

[[channel]]
name = "main"
provider = "meta"
app_secret = "{SECRET}"
verify_token = "bench"
access_token = "{token}"
graph_url = "{provider}"
"#,
        data = data.display(),
        rules = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("rules")
            .display(),
        token = stand_in::META_TOKEN,
    );
    Config::from_toml(&text, Path::new("bench.toml")).unwrap()
}

fn webhook(wa: &str, id: &str) -> String {
    let ts = replydesk::clock::Clock::now_ms(&SystemClock) / 1000;
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
            "contacts": [{ "profile": { "name": "Bench" }, "wa_id": wa }],
            "messages": [{ "from": wa, "id": id, "timestamp": ts.to_string(), "type": "text", "text": { "body": "How much does it cost?" } }]
        }}]}]
    })
    .to_string()
}

struct Running {
    base: String,
    key: String,
    conversations: Vec<String>,
    provider: stand_in::StandIn,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start(rate: f64) -> Running {
    let provider = stand_in::StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let desk = Desk::build(
        config(dir.path(), &provider.base, rate),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let db = desk.state().db.clone();
    let base = format!("http://{}", desk.local_addr());
    tokio::spawn(desk.run(std::future::pending()));
    let client = reqwest::Client::new();
    for i in 0..CONVERSATIONS {
        let body = webhook(&format!("3161000{i:04}"), &format!("wamid.bench.{i}"));
        let sig = replydesk::providers::meta::sign(SECRET, body.as_bytes());
        let r = client
            .post(format!("{base}/webhooks/meta/main"))
            .header("x-hub-signature-256", sig)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let conversations = loop {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM conversations ORDER BY id")
            .fetch_all(db.reader())
            .await
            .unwrap();
        if ids.len() == CONVERSATIONS {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let key =
        replydesk::auth::apikeys::create(&db, "bench", &replydesk::auth::apikeys::Scope::ALL, 0)
            .await
            .unwrap()
            .token;
    Running {
        base,
        key,
        conversations,
        provider,
        client,
        _dir: dir,
    }
}

impl Running {
    async fn send(&self, conversation: &str, key: &str) {
        let r = self
            .client
            .post(format!(
                "{}/api/v1/conversations/{conversation}/messages",
                self.base
            ))
            .bearer_auth(&self.key)
            .json(&serde_json::json!({ "text": "It is 20 euros a month.", "idempotency_key": key }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }

    async fn wait_for(&self, count: usize) {
        while self.provider.received().len() < count {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn latency() {
    let desk = start(80.0).await;
    let mut took = Vec::new();
    for (i, c) in desk.conversations.iter().enumerate() {
        let started = Instant::now();
        desk.send(c, "latency").await;
        desk.wait_for(i + 1).await;
        took.push(desk.provider.received()[i].at - started);
    }
    took.sort();
    println!(
        "click to provider, {} replies one at a time: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        took.len(),
        percentile(&took, 0.5).as_secs_f64() * 1e3,
        percentile(&took, 0.95).as_secs_f64() * 1e3,
        took.last().unwrap().as_secs_f64() * 1e3
    );
}

async fn throughput(rate: f64, label: &str) {
    let desk = Arc::new(start(rate).await);
    let started = Instant::now();
    let per = QUEUED / CONVERSATIONS;
    let mut tasks = Vec::new();
    for c in desk.conversations.clone() {
        let desk = desk.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..per {
                desk.send(&c, &format!("burst-{k}")).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let queued = started.elapsed();
    desk.wait_for(QUEUED).await;
    let all = started.elapsed();
    let got = desk.provider.received();
    let first = got.first().unwrap().at;
    let last = got.last().unwrap().at;
    println!(
        "{QUEUED} replies queued at once ({label}): all queued in {:.2} s, all received in {:.2} s; \
         {:.0} sends/s between the first and the last request",
        queued.as_secs_f64(),
        all.as_secs_f64(),
        (QUEUED - 1) as f64 / (last - first).as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing
    // we need: run only when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        latency().await;
        throughput(80.0, "default pace, 80/s per number").await;
        throughput(100_000.0, "pace out of the way").await;
    });
}
