//! Who is calling: API keys for machines, accounts and sessions for people.
//!
//! API keys look like `rdk_<id>_<secret>`. Only a SHA-256 of the whole key is
//! stored: the secret is 32 random bytes, so a fast hash is as strong as a
//! slow one here, and lookups stay cheap on every API call. Passwords, chosen
//! by people, are hashed with argon2id. Session cookies and one-time links
//! are random tokens stored as SHA-256 hashes.

pub mod apikeys;
pub mod passwords;
pub mod sessions;
pub mod users;
