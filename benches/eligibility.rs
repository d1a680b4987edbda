//! Eligibility for a contact with 10,000 ledger events must stay an index
//! lookup, not a scan: `cargo bench --bench eligibility`. Uses SQLite, and
//! PostgreSQL too when `REPLYDESK_TEST_POSTGRES_URL` is set.

use criterion::{Criterion, criterion_group, criterion_main};
use replydesk::config::SqliteSync;
use replydesk::contacts::identity::id_for_phone as contact_id_for_phone;
use replydesk::model::{PrefChannel, Purpose};
use replydesk::store::Db;

const PHONE: &str = "+447911123456";

async fn seed(db: &Db) {
    let contact = contact_id_for_phone(PHONE);
    let effects = ["opt_out", "opt_in", "unreachable", "opt_out", "opt_in"];
    let mut tx = db
        .writer()
        .begin()
        .await
        .unwrap_or_else(|e| panic!("begin: {e}"));
    for i in 0..10_000i64 {
        // Mostly this contact, with neighbours so the index has to discriminate.
        for (who, n) in [
            (contact.clone(), i),
            (
                contact_id_for_phone(&format!("+4479111{:05}", i % 500)),
                i + 1,
            ),
        ] {
            sqlx::query(
                "INSERT INTO preference_events (id, dedupe_key, contact_id, channel, purpose, effect, signal, source, occurred_at, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'bench', 'customer', $7, $7)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(format!("bench-{who}-{n}-{i}"))
            .bind(&who)
            .bind(if i % 3 == 0 { "email" } else { "whatsapp" })
            .bind(if i % 2 == 0 { "marketing" } else { "all" })
            .bind(effects[usize::try_from(i).unwrap_or(0) % effects.len()])
            .bind(1_700_000_000_000 + i * 60_000)
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("seed: {e}"));
        }
    }
    tx.commit().await.unwrap_or_else(|e| panic!("commit: {e}"));
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut targets = vec![(
        "sqlite",
        format!("sqlite://{}/bench.db", dir.path().display()),
    )];
    if let Ok(admin) = std::env::var("REPLYDESK_TEST_POSTGRES_URL") {
        // A database of its own, made fresh for the run.
        let url = rt.block_on(async {
            sqlx::any::install_default_drivers();
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("postgres: {e}"));
            for sql in [
                "DROP DATABASE IF EXISTS replydesk_bench_eligibility WITH (FORCE)",
                "CREATE DATABASE replydesk_bench_eligibility",
            ] {
                sqlx::query(sql)
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            let base = admin.split('?').next().unwrap_or(&admin);
            format!(
                "{}/replydesk_bench_eligibility",
                &base[..base.rfind('/').unwrap_or(base.len())]
            )
        });
        targets.push(("postgres", url));
    }
    for (name, url) in targets {
        let db = rt.block_on(async {
            let db = Db::connect(&url, SqliteSync::Normal)
                .await
                .unwrap_or_else(|e| panic!("connect: {e}"));
            db.migrate()
                .await
                .unwrap_or_else(|e| panic!("migrate: {e}"));
            seed(&db).await;
            db
        });
        c.bench_function(&format!("eligibility, 10,000 events, {name}"), |b| {
            b.iter(|| {
                rt.block_on(replydesk::preferences::eligibility_for_phone(
                    &db,
                    PHONE,
                    PrefChannel::Whatsapp,
                    Purpose::Marketing,
                ))
                .unwrap_or_else(|e| panic!("eligibility: {e}"))
            });
        });
        rt.block_on(db.close());
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
