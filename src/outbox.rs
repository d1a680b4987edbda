//! The durable outbox: everything the desk sends to the outside world
//! (fallback notices, escalation and alert emails) is first a row, written in
//! the same transaction as the change that caused it. A worker delivers due
//! rows, marks them sent only on success, and otherwise retries with backoff,
//! forever: nothing is dropped. Claims are leases, so on PostgreSQL several
//! instances share the work and a crashed instance's rows are picked up again.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sqlx::{Any, Row, Transaction};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::{Millis, SharedClock};
use crate::store::{Backend, Db, StoreResult};

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub kind: &'static str,
    /// The same key twice is one delivery.
    pub idempotency_key: String,
    /// URL for HTTP deliveries, addresses for email; empty means "not configured yet".
    pub target: String,
    pub subject: Option<String>,
    pub payload: String,
}

/// Queues a delivery inside the caller's transaction.
pub async fn enqueue_in(
    tx: &mut Transaction<'static, Any>,
    d: NewDelivery,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO outbox (id, kind, idempotency_key, target, subject, payload, state, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(d.kind)
    .bind(&d.idempotency_key)
    .bind(&d.target)
    .bind(&d.subject)
    .bind(&d.payload)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One claimed row.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub kind: String,
    pub target: String,
    pub subject: Option<String>,
    pub payload: String,
    pub attempts: i64,
}

/// How a row of one kind is delivered.
pub trait Deliver: Send + Sync + std::fmt::Debug {
    fn deliver<'a>(
        &'a self,
        row: &'a Claimed,
    ) -> futures::future::BoxFuture<'a, Result<(), String>>;
}

/// Posts fallback notices as signed JSON.
#[derive(Debug)]
pub struct HttpDelivery {
    client: reqwest::Client,
    secret: Option<crate::secret::Secret>,
}

impl HttpDelivery {
    pub fn new(secret: Option<crate::secret::Secret>) -> HttpDelivery {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        HttpDelivery { client, secret }
    }
}

/// `sha256=<hex>` HMAC of the body with the shared secret, as the receiver checks it.
pub fn sign_body(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Deliver for HttpDelivery {
    fn deliver<'a>(
        &'a self,
        row: &'a Claimed,
    ) -> futures::future::BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let mut req = self
                .client
                .post(&row.target)
                .header("content-type", "application/json")
                .header("x-replydesk-delivery", &row.id)
                .body(row.payload.clone());
            if let Some(secret) = &self.secret {
                req = req.header(
                    "x-replydesk-signature",
                    sign_body(secret.expose(), row.payload.as_bytes()),
                );
            }
            let response = req
                .send()
                .await
                .map_err(|e| format!("could not reach {}: {e}", row.target))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("{} answered {}", row.target, response.status()))
            }
        })
    }
}

/// Backoff after `attempts` failures: 30 s doubling, at most an hour.
pub fn backoff_ms(attempts: i64) -> Millis {
    let exp = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    (30_000i64 * 2i64.pow(exp)).min(3_600_000)
}

/// How long a claim holds a row. Every delivery must end well within it.
const LEASE_MS: Millis = 120_000;

/// The outbox worker.
#[derive(Debug)]
pub struct Outbox {
    db: Db,
    clock: SharedClock,
    owner: String,
    wake: Arc<Notify>,
    #[allow(clippy::type_complexity)]
    deliverers: Vec<(&'static str, Arc<dyn Deliver>)>,
}

impl Outbox {
    pub fn new(db: Db, clock: SharedClock) -> Outbox {
        Outbox {
            db,
            clock,
            owner: uuid::Uuid::new_v4().to_string(),
            wake: Arc::new(Notify::new()),
            deliverers: Vec::new(),
        }
    }

    pub fn with(mut self, kind: &'static str, deliverer: Arc<dyn Deliver>) -> Outbox {
        self.deliverers.push((kind, deliverer));
        self
    }

    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Claims due rows under a lease so no other worker takes them meanwhile.
    async fn claim(&self, limit: i64) -> StoreResult<Vec<Claimed>> {
        let now = self.clock.now_ms();
        let kinds: Vec<&str> = self.deliverers.iter().map(|(k, _)| *k).collect();
        let kind_list = kinds
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(",");
        let lock = match self.db.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET lease_until = $1, lease_owner = $2 WHERE id IN ( \
               SELECT id FROM outbox WHERE state = 'pending' AND target <> '' AND kind IN ({kind_list}) \
               AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) \
               ORDER BY next_attempt_at LIMIT $4 {lock}) \
             RETURNING id, kind, target, subject, payload, attempts"
        );
        let rows = sqlx::query(&sql)
            .bind(now + LEASE_MS)
            .bind(&self.owner)
            .bind(now)
            .bind(limit)
            .fetch_all(self.db.writer())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Claimed {
                    id: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    target: r.try_get(2)?,
                    subject: r.try_get(3)?,
                    payload: r.try_get(4)?,
                    attempts: r.try_get(5)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Extends this worker's lease on one row just before delivering it.
    /// False when the lease ran out while earlier rows of the batch were
    /// delivered and another worker has taken the row: sending it here too
    /// would send it twice.
    async fn renew(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET lease_until = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'pending'",
        )
        .bind(self.clock.now_ms() + LEASE_MS)
        .bind(id)
        .bind(&self.owner)
        .execute(self.db.writer())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Delivers every due row once; returns how many were sent.
    pub async fn run_once(&self) -> StoreResult<usize> {
        let mut sent = 0;
        loop {
            let batch = self.claim(20).await?;
            if batch.is_empty() {
                return Ok(sent);
            }
            for row in batch {
                let Some((_, deliverer)) = self.deliverers.iter().find(|(k, _)| *k == row.kind)
                else {
                    continue;
                };
                if !self.renew(&row.id).await? {
                    continue;
                }
                let result = deliverer.deliver(&row).await;
                let now = self.clock.now_ms();
                match result {
                    Ok(()) => {
                        sqlx::query("UPDATE outbox SET state = 'sent', sent_at = $1, attempts = attempts + 1, lease_until = NULL, last_error = NULL WHERE id = $2 AND lease_owner = $3")
                            .bind(now).bind(&row.id).bind(&self.owner).execute(self.db.writer()).await?;
                        metrics::counter!("replydesk_outbox_sent_total", "kind" => row.kind.clone()).increment(1);
                        sent += 1;
                    }
                    Err(error) => {
                        let attempts = row.attempts + 1;
                        tracing::warn!(kind = %row.kind, delivery = %row.id, attempts, %error, "delivery failed; it stays queued and will be retried");
                        sqlx::query("UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3, lease_until = NULL WHERE id = $4 AND lease_owner = $5")
                            .bind(attempts).bind(now + backoff_ms(attempts)).bind(&error).bind(&row.id).bind(&self.owner)
                            .execute(self.db.writer()).await?;
                        metrics::counter!("replydesk_outbox_failed_total", "kind" => row.kind.clone()).increment(1);
                    }
                }
            }
        }
    }

    /// Runs until `stop`: on every wake-up and at least every `tick`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken, tick: Duration) {
        loop {
            if let Err(error) = self.run_once().await {
                tracing::error!(%error, "outbox worker could not read the outbox; retrying");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => {},
                () = tokio::time::sleep(tick) => {},
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1), 30_000);
        assert_eq!(backoff_ms(2), 60_000);
        assert_eq!(backoff_ms(50), 3_600_000);
    }
}
