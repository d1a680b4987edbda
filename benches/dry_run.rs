//! The rules dry run over 100,000 stored replies (the 559 texts of the
//! labelled evaluation set; a quarter numbered and a tenth with an extra
//! word, so about a third are distinct, as short replies repeat), interleaved with
//! two delivery statuses per reply as a real events table has them, on a
//! SQLite file. Target: under 5 seconds, progress reported while it runs.
//!
//! `cargo bench --bench dry_run` (set `DRY_RUN_REPLIES` for another size).

// Bench set-up: a failure should panic with its error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use replydesk::admin::dry_run::{self, Options, Progress};
use replydesk::classify::RuleSet;
use replydesk::config::SqliteSync;
use replydesk::store::Db;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const NOW: i64 = 1_795_687_200_000;

fn texts() -> Vec<String> {
    let tsv =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval.tsv"))
            .unwrap();
    tsv.lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(str::to_string)
        .collect()
}

/// Seeds `replies` replies and two statuses each; with `decided_by`, each
/// reply carries that set's classification, as ingest stores it.
/// With `distinct`, every reply's text is numbered so that none repeats.
async fn seed(db: &Db, replies: usize, decided_by: Option<&RuleSet>, distinct: bool) {
    let texts = texts();
    let mut tx = db.writer().begin().await.unwrap();
    let rows_per_insert = 300;
    let mut id = 0usize;
    while id < replies * 3 {
        let n = rows_per_insert.min(replies * 3 - id);
        let values = (0..n)
            .map(|_| "(?, 'p', 'meta', 'main', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "INSERT INTO events (dedupe_key, payload_id, provider, channel, kind, direction, provider_id, occurred_at, received_at, msg_type, body, status, category, rule_id, rules_version, match_start, match_end) VALUES {values}"
        );
        let mut q = sqlx::query(&sql);
        for _ in 0..n {
            let i = i64::try_from(id).unwrap();
            // Spread over the last six days, oldest first, as they arrived.
            let at = NOW - 6 * 86_400_000 + i * 5_000;
            let reply = id.is_multiple_of(3);
            let text = &texts[(id / 3) % texts.len()];
            let body = if (id / 3).is_multiple_of(10) {
                format!("{text} zebra")
            } else if distinct || (id / 3).is_multiple_of(4) {
                format!("{text} {}", id / 3)
            } else {
                text.clone()
            };
            let c = decided_by.filter(|_| reply).map(|set| {
                set.classify(&replydesk::classify::Reply {
                    kind: Some(replydesk::model::MessageKind::Text),
                    text: Some(&body),
                    payload: None,
                    title: None,
                })
            });
            let span = c.as_ref().and_then(|c| c.span);
            q = q
                .bind(format!("k{id}"))
                .bind(if reply { "message" } else { "status" })
                .bind(if reply { "in" } else { "out" })
                .bind(format!("wamid.{id}"))
                .bind(at)
                .bind(at)
                .bind(reply.then_some("text"))
                .bind(reply.then_some(body))
                .bind((!reply).then_some("delivered"))
                .bind(c.as_ref().map(|c| c.category.as_str()))
                .bind(c.as_ref().map(|c| c.rule_id.to_string()))
                .bind(c.as_ref().map(|c| c.rules_version.to_string()))
                .bind(span.map(|s| i64::try_from(s.0).unwrap()))
                .bind(span.map(|s| i64::try_from(s.1).unwrap()));
            id += 1;
        }
        q.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
}

fn bench(c: &mut Criterion) {
    let replies: usize = std::env::var("DRY_RUN_REPLIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let active = Arc::new(RuleSet::load_dir(&rules_dir).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str, decided_by: Option<&RuleSet>, distinct: bool| {
        let url = format!("sqlite://{}/{name}.db", dir.path().display());
        rt.block_on(async {
            let db = Db::connect(&url, SqliteSync::Normal).await.unwrap();
            db.migrate().await.unwrap();
            let started = Instant::now();
            seed(&db, replies, decided_by, distinct).await;
            eprintln!(
                "{name}: seeded {replies} replies and {} statuses in {:.1?}",
                replies * 2,
                started.elapsed()
            );
            db
        })
    };
    // Worst case: every reply was decided by an older rules version, so both sets classify it.
    let db = open("older", None, false);
    // Usual case: the replies were decided by the active set, whose verdicts are stored.
    let current = open("current", Some(&active), false);
    // Worst of all: decided by an older version and no two texts alike.
    let distinct = open("distinct", None, true);
    // The candidate: the same files with one more rule ahead of the others.
    let candidate_dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&rules_dir).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, candidate_dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let noise = std::fs::read_to_string(rules_dir.join("70-noise.toml")).unwrap();
    std::fs::write(
        candidate_dir.path().join("70-noise.toml"),
        format!("{noise}\n[[rule]]\nid = \"bench-zebra\"\ncategory = \"interest\"\npriority = 100\nphrases = [\"zebra\"]\n"),
    )
    .unwrap();
    let candidate = Arc::new(RuleSet::load_dir(candidate_dir.path()).unwrap());
    let options = Options {
        since: NOW - 7 * 86_400_000,
        cap: 200_000,
    };
    // Where the time goes: classifying alone, with one set.
    let all_texts = texts();
    let bodies: Vec<String> = (0..replies)
        .take(20_000)
        .map(|i| all_texts[i % all_texts.len()].clone())
        .collect();
    let started = Instant::now();
    for b in &bodies {
        std::hint::black_box(active.classify(&replydesk::classify::Reply {
            kind: Some(replydesk::model::MessageKind::Text),
            text: Some(b),
            payload: None,
            title: None,
        }));
    }
    eprintln!(
        "classify alone: {:.1} µs per reply",
        started.elapsed().as_secs_f64() * 1e6 / bodies.len() as f64
    );

    // One timed run with the progress the page shows, for the note.
    let progress = Arc::new(Progress::default());
    let watcher = {
        let progress = progress.clone();
        rt.spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                eprintln!(
                    "  progress {}/{} ({}%)",
                    progress.done(),
                    progress.total(),
                    progress.percent()
                );
            }
        })
    };
    let started = Instant::now();
    let report = rt
        .block_on(dry_run::run(
            &db,
            active.clone(),
            candidate.clone(),
            options,
            &progress,
        ))
        .unwrap();
    watcher.abort();
    eprintln!(
        "dry run (decided by an older version): replayed {} replies, {} changed, in {:.2?}",
        report.replayed,
        report.changed,
        started.elapsed()
    );
    assert_eq!(report.replayed, replies);
    let started = Instant::now();
    let usual = rt
        .block_on(dry_run::run(
            &current,
            active.clone(),
            candidate.clone(),
            options,
            &Progress::default(),
        ))
        .unwrap();
    eprintln!(
        "dry run (decided by the active version): replayed {} replies, {} changed, in {:.2?}",
        usual.replayed,
        usual.changed,
        started.elapsed()
    );
    assert_eq!(
        (usual.replayed, usual.changed),
        (report.replayed, report.changed)
    );
    let started = Instant::now();
    let worst = rt
        .block_on(dry_run::run(
            &distinct,
            active.clone(),
            candidate.clone(),
            options,
            &Progress::default(),
        ))
        .unwrap();
    eprintln!(
        "dry run (older version, every text distinct): replayed {} replies in {:.2?}",
        worst.replayed,
        started.elapsed()
    );

    let mut group = c.benchmark_group("dry_run");
    group.sample_size(10);
    group.bench_function(format!("{replies}_replies_older_version"), |b| {
        b.iter(|| {
            rt.block_on(dry_run::run(
                &db,
                active.clone(),
                candidate.clone(),
                options,
                &Progress::default(),
            ))
            .unwrap()
        });
    });
    group.bench_function(format!("{replies}_replies_active_version"), |b| {
        b.iter(|| {
            rt.block_on(dry_run::run(
                &current,
                active.clone(),
                candidate.clone(),
                options,
                &Progress::default(),
            ))
            .unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
