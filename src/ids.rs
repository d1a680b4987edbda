//! Opaque ids derived from what they name: the same parts give the same id
//! on every instance, and the parts (phone numbers, bodies) cannot be read
//! back from it.

use sha2::{Digest, Sha256};

/// `prefix_` + 20 hex digits of sha256 over the parts.
pub fn short_hash(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    format!("{prefix}_{}", &hex::encode(digest)[..20])
}
