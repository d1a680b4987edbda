//! Pages and the reports API on real volume: 1,000,000 stored messages,
//! 200,000 registered sends, 50,000 conversions, 100,000 open conversations
//! (`replydesk seed`). Targets: the queue and a conversation page under
//! 30 ms at p95 and under 100 KB; the reports page and API under 200 ms at
//! p95; measured end to end over HTTP against a running desk, signed in as
//! an administrator (who sees every open conversation).
//!
//! The seeded SQLite database is kept at `target/bench-volume/desk.db`
//! (seeded on first run, about a minute in release). Set
//! `REPLYDESK_BENCH_POSTGRES_URL` to a database to measure PostgreSQL too
//! (seeded when it holds no events). `REPLYDESK_BENCH_SCALE=0.1` seeds a
//! tenth of the volume for a quick look.

// Bench code: a failed set-up should panic with its error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use replydesk::app::Desk;
use replydesk::clock::{Clock, SystemClock};
use replydesk::config::{Config, Overrides};
use replydesk::reports::{self, GroupBy, Period};
use replydesk::store::Db;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

fn config(url: &str, data: &Path) -> Config {
    let text = format!(
        r#"
bind = "127.0.0.1:0"
database_url = "{url}"
data_dir = "{data}"
rules_dir = "{rules}"
sqlite_synchronous = "normal"

[[channel]]
name = "main"
provider = "meta"
app_secret = "bench-secret"
verify_token = "bench"

[[team]]
name = "sales"
leads = ["lead@example.com"]
members = ["a1@example.com", "a2@example.com", "a3@example.com"]

[[team]]
name = "service"
leads = ["lead2@example.com"]
members = ["s1@example.com", "s2@example.com"]

[[route]]
category = "interest"
team = "sales"

[[route]]
category = "service"
team = "service"

[reports]
default_owner = "service"

[reports.journey_owners]
welcome = "sales"
abandoned_cart = "sales"
black_friday = "sales"
"#,
        data = data.display(),
        rules = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("rules")
            .display(),
    );
    let mut c = Config::from_toml(&text, Path::new("bench.toml")).unwrap();
    c.apply(&Overrides::default());
    c.validate().unwrap();
    c
}

fn scale() -> f64 {
    std::env::var("REPLYDESK_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0)
}

/// Opens (and seeds when empty) the database, then starts a desk on it.
async fn prepare(url: &str, data: &Path) -> (Db, Config, Desk) {
    let config = config(url, data);
    let db = Db::connect(url, config.sqlite_synchronous).await.unwrap();
    db.migrate().await.unwrap();
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(db.reader())
        .await
        .unwrap();
    if events == 0 {
        let s = scale();
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let n = |v: u64| (v as f64 * s) as u64;
        let options = replydesk::seed::SeedOptions {
            messages: n(1_000_000),
            open: n(100_000),
            sends: n(200_000),
            conversions: n(50_000),
            days: 60,
            seed: 1,
            force: false,
        };
        let started = Instant::now();
        let done = replydesk::seed::seed(&db, &config, &options, SystemClock.now_ms())
            .await
            .unwrap();
        eprintln!("seeded {url} in {:.0?}: {done:?}", started.elapsed());
    }
    let hash = replydesk::auth::passwords::hash_password(PASSWORD.into())
        .await
        .unwrap();
    let role = replydesk::auth::users::Role::Admin;
    let _ =
        replydesk::auth::users::create(&db, "bench-admin@example.com", role, &[], Some(&hash), 0)
            .await;
    let desk = Desk::build(config.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    (db, config, desk)
}

/// p50 and p95 of `n` sequential runs.
fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i]
    };
    (at(0.5), at(0.95))
}

fn bench_backend(c: &mut Criterion, name: &str, url: &str, data: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, config, desk) = rt.block_on(prepare(url, data));
    let base = format!("http://{}", desk.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(desk.run(async move {
        let _ = stopped.await;
    }));
    let (client, key) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // A browser sends its Origin with the form; so does the bench.
        let r = client
            .post(format!("{base}/login"))
            .header("origin", base.as_str())
            .form(&[
                ("email", "bench-admin@example.com"),
                ("password", PASSWORD),
                ("next", "/reports"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "signing in");
        let name = format!("bench-{}", uuid::Uuid::new_v4());
        let key =
            replydesk::auth::apikeys::create(&db, &name, &replydesk::auth::apikeys::Scope::ALL, 0)
                .await
                .unwrap()
                .token;
        (client, key)
    });
    let get = |path: String, bearer: bool| {
        let (client, key, base) = (client.clone(), key.clone(), base.clone());
        async move {
            let mut req = client.get(format!("{base}{path}"));
            if bearer {
                req = req.bearer_auth(&key);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.bytes().await.unwrap().len()
        }
    };
    let now = SystemClock.now_ms();
    let last_30 = Period::parse(None, None, now).unwrap();
    let last_90 = Period::parse(Some(&day(now - 89 * 86_400_000)), None, now).unwrap();
    let q90 = format!("from={}&to={}", last_90.from_label(), last_90.to_label());
    let conversation: String = rt.block_on(async {
        sqlx::query_scalar(
            "SELECT c.id FROM conversations c WHERE c.status = 'open' \
             ORDER BY (SELECT COUNT(*) FROM events e WHERE e.contact_id = c.contact_id) DESC LIMIT 1",
        )
        .fetch_one(db.reader())
        .await
        .unwrap()
    });
    // (label, path, sent with the API key, requests); a search reads every
    // open conversation's messages, so it gets fewer requests.
    let cases: Vec<(&str, String, bool, usize)> = vec![
        (
            "queue, every open conversation",
            "/queue?tab=team".into(),
            false,
            200,
        ),
        (
            "queue live refresh",
            "/queue/rows?tab=team".into(),
            false,
            200,
        ),
        (
            "queue, breached tab",
            "/queue?tab=breached".into(),
            false,
            200,
        ),
        (
            "queue, search by text",
            "/queue?tab=team&q=refund".into(),
            false,
            10,
        ),
        (
            "conversation, busiest contact",
            format!("/conversations/{conversation}"),
            false,
            200,
        ),
        ("page 30d by journey", "/reports".into(), false, 200),
        (
            "page 90d by team",
            format!("/reports?{q90}&by=team"),
            false,
            200,
        ),
        (
            "api 30d journeys",
            "/api/v1/reports/journeys".into(),
            true,
            200,
        ),
        (
            "api 90d journeys",
            format!("/api/v1/reports/journeys?{q90}"),
            true,
            200,
        ),
        (
            "csv 90d groups by template",
            format!("/reports.csv?table=groups&by=template&{q90}"),
            false,
            200,
        ),
    ];
    for (label, path, bearer, requests) in &cases {
        let mut bytes = 0;
        let samples: Vec<Duration> = (0..*requests)
            .map(|_| {
                let t = Instant::now();
                bytes = rt.block_on(get(path.clone(), *bearer));
                t.elapsed()
            })
            .collect();
        let (p50, p95) = percentiles(samples);
        eprintln!(
            "{name} {label}: p50 {p50:.1?}, p95 {p95:.1?} over {requests} requests, {:.1} KB",
            bytes as f64 / 1024.0
        );
    }
    let mut group = c.benchmark_group(format!("volume_{name}"));
    group.sample_size(30);
    for (label, path, bearer, _) in cases.iter().filter(|c| c.3 >= 200) {
        group.bench_function(*label, |b| {
            b.iter(|| rt.block_on(get(path.clone(), *bearer)))
        });
    }
    group.bench_function("load 30d (query only)", |b| {
        b.iter(|| {
            rt.block_on(reports::load(&db, &config, last_30, GroupBy::Journey, None))
                .unwrap()
        });
    });
    let codes =
        replydesk::preferences::status_codes::StatusCodes::load_dir(&config.rules_dir).unwrap();
    group.bench_function("refresh with nothing new", |b| {
        b.iter(|| {
            rt.block_on(reports::refresh(&db, &config, &codes, SystemClock.now_ms()))
                .unwrap()
        });
    });
    group.finish();
    let _ = stop.send(());
    rt.block_on(server).unwrap().unwrap();
}

fn day(ms: i64) -> String {
    reports::period::day_label(ms)
}

fn volume_bench(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-volume");
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite://{}/desk.db", dir.display());
    bench_backend(c, "sqlite", &sqlite, &dir);
    if let Ok(url) = std::env::var("REPLYDESK_BENCH_POSTGRES_URL") {
        bench_backend(c, "postgres", &url, &dir);
    }
}

criterion_group!(benches, volume_bench);
criterion_main!(benches);
