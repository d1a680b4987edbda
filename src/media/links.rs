//! Expiring links to an agent's attachment, for Twilio to fetch it from the
//! desk's `public_url`: `/media/out/{id}?expires={ms}&sig={hmac}`. The key
//! is made once and kept in the database, so a link made by one instance
//! is good on every other.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::clock::Millis;
use crate::store::{Db, StoreError, StoreResult};

/// How long Twilio has to fetch the file (it fetches within seconds; a
/// retried send makes a new link).
pub const VALID_MS: Millis = 2 * 60 * 60 * 1000;

const KEY_NAME: &str = "media_links";

/// The desk's link key, made on first use (read from the reader pool once it exists).
pub async fn key(db: &Db, now: Millis) -> StoreResult<Vec<u8>> {
    let value = match read_key(db.reader()).await? {
        Some(v) => v,
        None => {
            let fresh = hex::encode(rand::random::<[u8; 32]>());
            sqlx::query(
                "INSERT INTO desk_keys (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            )
            .bind(KEY_NAME)
            .bind(&fresh)
            .bind(now)
            .execute(db.writer())
            .await?;
            read_key(db.writer()).await?.unwrap_or(fresh)
        }
    };
    hex::decode(&value).map_err(|_| {
        StoreError::File(format!(
            "desk_keys.{KEY_NAME} is not hex; delete the row and the desk makes a new key (links already sent stop working)"
        ))
    })
}

async fn read_key(pool: &sqlx::AnyPool) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM desk_keys WHERE name = $1")
        .bind(KEY_NAME)
        .fetch_optional(pool)
        .await
}

/// Whether a link could be the desk's at all: not expired, a signature of
/// the right shape. Checked before the key is read, so a flood of made-up
/// links costs no database work.
pub fn plausible(expires: Millis, sig: &str, now: Millis) -> bool {
    expires >= now && sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit())
}

fn mac(key: &[u8], id: &str, expires: Millis) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(format!("{id}.{expires}").as_bytes());
    mac
}

fn signature(key: &[u8], id: &str, expires: Millis) -> String {
    hex::encode(mac(key, id, expires).finalize().into_bytes())
}

/// The path and query of a link to `id` that works until `expires`.
pub fn sign(key: &[u8], id: &str, expires: Millis) -> String {
    format!(
        "/media/out/{id}?expires={expires}&sig={}",
        signature(key, id, expires)
    )
}

/// Whether a link's signature is the desk's and it has not expired.
pub fn verify(key: &[u8], id: &str, expires: Millis, sig: &str, now: Millis) -> bool {
    if expires < now {
        return false;
    }
    let Ok(given) = hex::decode(sig) else {
        return false;
    };
    mac(key, id, expires).verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_until_it_expires_and_only_for_its_file() {
        let key = b"0123456789abcdef0123456789abcdef";
        let link = sign(key, "m1", 5_000);
        let sig = link.rsplit("sig=").next().unwrap();
        assert!(verify(key, "m1", 5_000, sig, 4_999));
        assert!(!verify(key, "m1", 5_000, sig, 5_001), "expired");
        assert!(!verify(key, "m2", 5_000, sig, 1_000), "another file");
        assert!(!verify(key, "m1", 6_000, sig, 1_000), "a later expiry");
        assert!(!verify(b"another key", "m1", 5_000, sig, 1_000));
    }
}
