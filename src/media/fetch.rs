//! The fetcher: claims pending media under a lease and brings each file in
//! from its provider, checking its size and Meta's hash, detecting its type
//! from the bytes and making its thumbnail once. A temporary failure is
//! tried again with backoff; one that will not pass says why on the
//! timeline. Fetching twice is harmless (nothing reaches the customer), so
//! a lease that runs out simply puts the file back in line.

use base64::Engine;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::{FileStore, detect, max_bytes, thumb};
use crate::clock::{Millis, SharedClock};
use crate::config::Config;
use crate::model::{MessageKind, Provider};
use crate::providers::{FetchError, too_large};
use crate::replies::senders::{Sender, Senders};
use crate::store::{Backend, Db, StoreResult};

/// Attempts before a temporarily failing file is given up: with backoff up
/// to an hour, about a day, well inside the weeks Meta keeps a file.
const MAX_ATTEMPTS: i64 = 30;
/// Files claimed per round.
const BATCH: i64 = 8;
/// How long a claim lasts: longer than the four requests of a Meta fetch
/// (two lookups, two downloads) may take together.
const LEASE_MS: Millis = 25 * 60 * 1000;
/// A download's whole time (100 MB documents on a slow link).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);

struct Claimed {
    id: String,
    provider: Provider,
    channel: String,
    kind: MessageKind,
    source: String,
    claimed_sha256: Option<String>,
    animated: bool,
    attempts: i64,
}

#[derive(Debug, Clone)]
pub struct Fetcher {
    db: Db,
    clock: SharedClock,
    clients: Arc<Senders>,
    files: FileStore,
    instance: String,
}

impl Fetcher {
    pub fn new(db: Db, clock: SharedClock, config: &Config, instance: String) -> Fetcher {
        Fetcher {
            files: FileStore::new(db.clone(), config.media.directory.clone()),
            clients: Arc::new(Senders::with_timeout(config, DOWNLOAD_TIMEOUT)),
            db,
            clock,
            instance,
        }
    }

    /// Fetches every file that is due; answers how many were tried.
    pub async fn run_once(&self) -> StoreResult<usize> {
        self.release_lost_claims().await?;
        let mut total = 0;
        loop {
            let claimed = self.claim().await?;
            if claimed.is_empty() {
                return Ok(total);
            }
            total += claimed.len();
            let fetches = claimed.iter().map(|c| self.fetch_one(c));
            for result in futures::future::join_all(fetches).await {
                result?;
            }
        }
    }

    /// Runs until `stop`, at least every `tick`.
    pub async fn run(self, stop: CancellationToken, tick: Duration) {
        loop {
            if let Err(error) = self.run_once().await {
                tracing::error!(%error, "the media fetcher failed a round; pending files stay pending and are tried again");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(tick) => {},
            }
        }
    }

    /// Meta's download link, if the access token may go there: HTTPS, or the
    /// Graph API's own host (a stand-in on a test machine).
    fn checked_meta_url(
        &self,
        meta: &crate::providers::meta::send::Client,
        url: &str,
    ) -> Result<String, FetchError> {
        let https = reqwest::Url::parse(url).is_ok_and(|u| u.scheme() == "https");
        if https || same_host(url, &meta.graph_url) {
            Ok(url.to_string())
        } else {
            Err(FetchError::Permanent(
                "Meta's download link is not an HTTPS address, so the access token is not sent there".into(),
            ))
        }
    }

    async fn release_lost_claims(&self) -> StoreResult<()> {
        sqlx::query(
            "UPDATE media SET state = 'pending', lease_owner = NULL, lease_until = NULL \
             WHERE state = 'fetching' AND lease_until < $1",
        )
        .bind(self.clock.now_ms())
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    async fn claim(&self) -> StoreResult<Vec<Claimed>> {
        let now = self.clock.now_ms();
        let lock = match self.db.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.db.writer().begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT id, provider, channel, kind, source, claimed_sha256, attempts, animated FROM media \
             WHERE state = 'pending' AND direction = 'in' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT {BATCH} {lock}"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let provider: String = r.try_get(1)?;
            let kind: String = r.try_get(3)?;
            out.push(Claimed {
                id: r.try_get(0)?,
                provider: Provider::parse(&provider).unwrap_or(Provider::Meta),
                channel: r.try_get(2)?,
                kind: MessageKind::parse(&kind).unwrap_or(MessageKind::Document),
                source: r.try_get::<Option<String>, _>(4)?.unwrap_or_default(),
                claimed_sha256: r.try_get(5)?,
                attempts: r.try_get::<i64, _>(6)? + 1,
                animated: r.try_get::<i64, _>(7)? != 0,
            });
        }
        for c in &out {
            sqlx::query(
                "UPDATE media SET state = 'fetching', attempts = $1, lease_owner = $2, lease_until = $3, updated_at = $4 \
                 WHERE id = $5 AND state = 'pending'",
            )
            .bind(c.attempts)
            .bind(&self.instance)
            .bind(now + LEASE_MS)
            .bind(now)
            .bind(&c.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn fetch_one(&self, c: &Claimed) -> StoreResult<()> {
        match self.download(c).await {
            Ok(bytes) => self.keep(c, bytes).await,
            Err(e) => self.failed(c, &e).await,
        }
    }

    /// The file's bytes from its provider, checked against what it said.
    async fn download(&self, c: &Claimed) -> Result<Vec<u8>, FetchError> {
        let client = self
            .clients
            .get(&c.channel)
            .map_err(FetchError::Permanent)?;
        let max = max_bytes(c.provider, c.kind, c.animated);
        match client {
            Sender::Meta(meta) => {
                let mut info = meta.media_info(&c.source).await?;
                if let Some(size) = info.file_size.filter(|s| *s > max) {
                    return Err(too_large(size, max));
                }
                let bytes = match meta
                    .download(&self.checked_meta_url(meta, &info.url)?, max)
                    .await
                {
                    // The link lives minutes: ask for a fresh one once.
                    Err(FetchError::Expired) => {
                        info = meta.media_info(&c.source).await?;
                        let url = self.checked_meta_url(meta, &info.url)?;
                        meta.download(&url, max).await.map_err(|e| match e {
                            FetchError::Expired => FetchError::Temporary(
                                "Meta's download link was refused twice in a row".into(),
                            ),
                            other => other,
                        })?
                    }
                    other => other?,
                };
                let claimed = c.claimed_sha256.as_deref().or(info.sha256.as_deref());
                if let Some(claimed) = claimed
                    && !hash_matches(&bytes, claimed)
                {
                    return Err(FetchError::Permanent(
                        "the file's SHA-256 does not match the hash Meta sent; it was damaged or replaced on the way and is not kept".into(),
                    ));
                }
                Ok(bytes)
            }
            Sender::Twilio(twilio) => {
                // The account's credentials go only to Twilio's own API.
                if !same_host(&c.source, &twilio.api_url) {
                    return Err(FetchError::Permanent(
                        "the MediaUrl is not an address of Twilio's API, so the account's credentials are not sent there".into(),
                    ));
                }
                twilio.download(&c.source, max).await
            }
        }
    }

    async fn keep(&self, c: &Claimed, bytes: Vec<u8>) -> StoreResult<()> {
        let detected = detect(&bytes);
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let bytes: Arc<[u8]> = bytes.into();
        let thumbnail = if detected.inline && detected.mime.starts_with("image/") {
            let image = bytes.clone();
            // A decoder that panics costs the thumbnail, never the file.
            tokio::task::spawn_blocking(move || thumb::make(&image))
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        let size = bytes.len();
        let stored_in = self.files.put(&c.id, bytes.to_vec(), thumbnail).await?;
        sqlx::query(
            "UPDATE media SET state = 'stored', detected_type = $1, size = $2, sha256 = $3, stored_in = $4, \
               has_thumbnail = $5, error = NULL, lease_owner = NULL, lease_until = NULL, updated_at = $6 \
             WHERE id = $7 AND lease_owner = $8",
        )
        .bind(&detected.mime)
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .bind(&sha256)
        .bind(stored_in.place)
        .bind(i64::from(stored_in.thumbnail))
        .bind(self.clock.now_ms())
        .bind(&c.id)
        .bind(&self.instance)
        .execute(self.db.writer())
        .await?;
        metrics::counter!("replydesk_media_fetched_total", "outcome" => "stored").increment(1);
        tracing::debug!(media = %c.id, kind = %c.kind, size, mime = %detected.mime, "media file fetched");
        Ok(())
    }

    async fn failed(&self, c: &Claimed, e: &FetchError) -> StoreResult<()> {
        let now = self.clock.now_ms();
        let again = matches!(e, FetchError::Temporary(_) | FetchError::Expired)
            && c.attempts < MAX_ATTEMPTS;
        let (state, next, error) = if again {
            (
                "pending",
                now + backoff(c.attempts),
                format!("not fetched yet, trying again: {e}"),
            )
        } else if matches!(e, FetchError::Permanent(_)) {
            ("failed", now, e.to_string())
        } else {
            (
                "failed",
                now,
                format!("gave up after {} attempts: {e}", c.attempts),
            )
        };
        sqlx::query(
            "UPDATE media SET state = $1, next_attempt_at = $2, error = $3, lease_owner = NULL, lease_until = NULL, \
               updated_at = $4 WHERE id = $5 AND lease_owner = $6",
        )
        .bind(state)
        .bind(next)
        .bind(&error)
        .bind(now)
        .bind(&c.id)
        .bind(&self.instance)
        .execute(self.db.writer())
        .await?;
        metrics::counter!("replydesk_media_fetched_total", "outcome" => state).increment(1);
        if state == "failed" {
            tracing::warn!(media = %c.id, channel = %c.channel, kind = %c.kind, %error, "a customer's file could not be fetched; the conversation shows why");
        }
        Ok(())
    }
}

/// Meta's hash: base64 in webhooks, hex in some answers.
fn hash_matches(bytes: &[u8], claimed: &str) -> bool {
    let digest = Sha256::digest(bytes);
    let claimed = claimed.trim();
    claimed.eq_ignore_ascii_case(&hex::encode(digest))
        || claimed == base64::engine::general_purpose::STANDARD.encode(digest)
        || claimed == base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
        || claimed == base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
}

fn backoff(attempts: i64) -> Millis {
    let exp = u32::try_from(attempts.clamp(1, 12)).unwrap_or(12);
    (1_000 * 2_i64.pow(exp)).min(3_600_000)
}

/// Whether two URLs name the same scheme, host and port (a prefix test would
/// let `https://api.twilio.com.example` or `…@elsewhere` through).
fn same_host(url: &str, base: &str) -> bool {
    match (reqwest::Url::parse(url), reqwest::Url::parse(base)) {
        (Ok(u), Ok(b)) => {
            u.scheme() == b.scheme()
                && u.host_str().is_some()
                && u.host_str() == b.host_str()
                && u.port_or_known_default() == b.port_or_known_default()
                && u.username().is_empty()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_the_same_host() {
        let api = "https://api.twilio.com";
        assert!(same_host(
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
            api
        ));
        assert!(!same_host("https://api.twilio.com.evil.example/x", api));
        assert!(!same_host("https://api.twilio.com@evil.example/x", api));
        assert!(!same_host("https://user@api.twilio.com/x", api));
        assert!(
            !same_host("http://api.twilio.com/x", api),
            "not over plain HTTP"
        );
        assert!(!same_host("https://api.twilio.com:8443/x", api));
    }

    #[test]
    fn meta_hashes_are_read_as_base64_or_hex() {
        let digest = Sha256::digest(b"photo");
        assert!(hash_matches(b"photo", &hex::encode(digest)));
        assert!(hash_matches(
            b"photo",
            &base64::engine::general_purpose::STANDARD.encode(digest)
        ));
        assert!(!hash_matches(b"photo!", &hex::encode(digest)));
    }
}
