//! Long jobs in the database: a rules dry run writes its progress every
//! second and its result at the end, so whichever instance a person's next
//! request reaches can show it, and one whose instance stopped is marked
//! failed rather than shown as running forever.

use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;

use super::dry_run::{self, Options, Progress, Report};
use crate::classify::RuleSet;
use crate::clock::{Millis, SharedClock};
use crate::store::{Db, StoreResult};

/// How often a running job says it is alive and how far it got.
const BEAT: Duration = Duration::from_secs(1);
/// A running job not heard from for this long has lost its instance.
pub const STALE_MS: Millis = 30_000;

/// Where a job stands.
#[derive(Debug, Clone)]
pub enum State {
    Running { done: usize, total: usize },
    Done(Box<Report>),
    Failed(String),
}

/// A job as its page shows it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    /// The user who started it: only they see it.
    pub owner: String,
    pub subject: String,
    pub state: State,
}

/// Starts a dry run of `candidate` against `active` in the background; its
/// row exists before this returns.
#[allow(clippy::too_many_arguments)]
pub async fn start_dry_run(
    db: Db,
    clock: SharedClock,
    instance: &str,
    active: Arc<RuleSet>,
    candidate: Arc<RuleSet>,
    options: Options,
    owner: &str,
    file: &str,
) -> StoreResult<String> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let now = clock.now_ms();
    sweep(&db, now).await?;
    sqlx::query(
        "INSERT INTO jobs (id, kind, owner, subject, instance, state, started_at, heartbeat_at) \
         VALUES ($1, 'dry_run', $2, $3, $4, 'running', $5, $5)",
    )
    .bind(&id)
    .bind(owner)
    .bind(file)
    .bind(instance)
    .bind(now)
    .execute(db.writer())
    .await?;
    let job = id.clone();
    tokio::spawn(async move {
        let progress = Progress::default();
        let run = dry_run::run(&db, active, candidate, options, &progress);
        tokio::pin!(run);
        let mut beat = tokio::time::interval(BEAT);
        let result = loop {
            tokio::select! {
                result = &mut run => break result,
                _ = beat.tick() => {
                    if let Err(error) = heartbeat(&db, &job, &progress, clock.now_ms()).await {
                        tracing::warn!(%error, job = %job, "a dry run could not record its progress; it goes on");
                    }
                }
            }
        };
        let finished = finish(&db, &job, result, clock.now_ms()).await;
        if let Err(error) = finished {
            tracing::error!(%error, job = %job, "a dry run finished but its result could not be stored; its page will say its instance stopped");
        }
    });
    Ok(id)
}

async fn heartbeat(db: &Db, id: &str, progress: &Progress, now: Millis) -> StoreResult<()> {
    sqlx::query("UPDATE jobs SET done = $1, total = $2, heartbeat_at = $3 WHERE id = $4 AND state = 'running'")
        .bind(i64::try_from(progress.done()).unwrap_or(i64::MAX))
        .bind(i64::try_from(progress.total()).unwrap_or(i64::MAX))
        .bind(now)
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

async fn finish(db: &Db, id: &str, result: StoreResult<Report>, now: Millis) -> StoreResult<()> {
    let (state, json, error) = match result {
        Ok(report) => {
            let kept = report.for_keeping();
            let json = serde_json::to_string(&kept)
                .map_err(|e| crate::store::StoreError::File(e.to_string()))?;
            ("done", Some(json), None)
        }
        Err(e) => {
            tracing::error!(error = %e, job = %id, "dry run failed");
            ("failed", None, Some(e.to_string()))
        }
    };
    sqlx::query(
        "UPDATE jobs SET state = $1, result = $2, error = $3, finished_at = $4, heartbeat_at = $4 WHERE id = $5",
    )
    .bind(state)
    .bind(json)
    .bind(error)
    .bind(now)
    .bind(id)
    .execute(db.writer())
    .await?;
    Ok(())
}

const LOST: &str = "the instance running it stopped before it finished; run it again";

/// Marks failed every running job whose instance has not been heard from
/// for `STALE_MS`; run when a job starts, so reading a job's page writes
/// nothing.
pub async fn sweep(db: &Db, now: Millis) -> StoreResult<u64> {
    let swept = sqlx::query(
        "UPDATE jobs SET state = 'failed', finished_at = $1, error = $2 \
         WHERE state = 'running' AND heartbeat_at < $3",
    )
    .bind(now)
    .bind(LOST)
    .bind(now - STALE_MS)
    .execute(db.writer())
    .await?
    .rows_affected();
    Ok(swept)
}

/// A job, as it stands now: a running job whose instance has not been
/// heard from for `STALE_MS` is shown failed.
pub async fn get(db: &Db, id: &str, now: Millis) -> StoreResult<Option<Job>> {
    let row = sqlx::query(
        "SELECT owner, subject, state, done, total, result, error, heartbeat_at FROM jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let count = |n: i64| usize::try_from(n).unwrap_or(0);
    let state: String = r.try_get("state")?;
    let heartbeat: Millis = r.try_get("heartbeat_at")?;
    let state = match state.as_str() {
        "running" if heartbeat < now - STALE_MS => State::Failed(LOST.into()),
        "running" => State::Running {
            done: count(r.try_get("done")?),
            total: count(r.try_get("total")?),
        },
        "done" => {
            let json: Option<String> = r.try_get("result")?;
            match json.as_deref().map(serde_json::from_str::<Report>) {
                Some(Ok(report)) => State::Done(Box::new(report)),
                _ => State::Failed("its result could not be read back".into()),
            }
        }
        _ => State::Failed(r.try_get::<Option<String>, _>("error")?.unwrap_or_default()),
    };
    Ok(Some(Job {
        id: id.to_string(),
        owner: r.try_get("owner")?,
        subject: r.try_get("subject")?,
        state,
    }))
}
