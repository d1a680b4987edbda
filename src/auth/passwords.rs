//! Password hashing, bounded. Argon2 with the crate's defaults takes 19 MiB
//! and a core's worth of work per hash, by design; without a bound, a flood
//! of sign-ins (unknown accounts are hashed too, so that they take as long)
//! took the desk from 35 MB to 7 GB. At most one hash per core runs at a
//! time: everything else that hashes waits its turn. A sign-in waits for a
//! slot for a moment, with a bounded number of others; one that finds that
//! line full, or waits too long, is turned away (the web layer answers 503
//! with `Retry-After`). A waiting sign-in holds a few hundred bytes, never a
//! hash's memory.
//!
//! The hashes run on a small pool of threads of their own, one per slot,
//! and each thread keeps its 19 MiB of Argon2 memory from one sign-in to
//! the next. On tokio's blocking pool every hash could land on a new
//! thread, and with a fresh 19 MiB allocation per hash glibc's arenas kept
//! several freed ones each: 300 parallel sign-ins left the desk at 410 MB
//! (blocking pool) and 350 MB (own threads, fresh memory) although only two
//! ever hashed at once.

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, mpsc};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::users::AccountError;

static SLOTS: LazyLock<usize> = LazyLock::new(|| {
    std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .clamp(1, 8)
});
static HASHING: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(*SLOTS)));
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static WAITING: AtomicUsize = AtomicUsize::new(0);
/// How long a sign-in waits for a slot: a few hashes' time.
const WAIT_FOR_SLOT: Duration = Duration::from_secs(2);
/// How many sign-ins may wait per slot.
const WAITING_PER_SLOT: usize = 16;
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// How many hashes may run at once.
pub fn slots() -> usize {
    *SLOTS
}

/// The most hashes that ever ran at once in this process (for tests and
/// the operator's metrics).
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Every slot is taken: try again in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Hashes a new password, waiting for a slot.
pub async fn hash_password(password: String) -> Result<String, AccountError> {
    let permit = HASHING
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| AccountError::Hash(e.to_string()))?;
    run(permit, move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| AccountError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| AccountError::Hash(e.to_string()))?
}

/// Checks a password against a stored hash, waiting for a slot; a
/// malformed stored hash never matches.
pub async fn verify_password(password: String, hash: String) -> bool {
    let Ok(permit) = HASHING.clone().acquire_owned().await else {
        return false;
    };
    run(permit, move || verify(&password, &hash))
        .await
        .unwrap_or(false)
}

/// For a sign-in: checks the password against the account's hash, or
/// spends the same work on it when there is no account (so an unknown
/// email takes as long as a wrong password), if a slot is free now.
pub async fn check_sign_in(password: String, stored: Option<String>) -> Result<bool, Busy> {
    let permit = sign_in_slot().await?;
    run(permit, move || match stored {
        Some(hash) => verify(&password, &hash),
        None => {
            let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
            let _ = hash_into(
                &Argon2::default(),
                password.as_bytes(),
                UNKNOWN_SALT,
                &mut out,
            );
            false
        }
    })
    .await
    .map_err(|_| Busy)
}

/// A slot now, or after a short wait in a bounded line.
async fn sign_in_slot() -> Result<OwnedSemaphorePermit, Busy> {
    if let Ok(permit) = HASHING.clone().try_acquire_owned() {
        return Ok(permit);
    }
    let _place = InLine::join().ok_or(Busy)?;
    match tokio::time::timeout(WAIT_FOR_SLOT, HASHING.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(Busy),
    }
}

/// A place in the line for a slot, given up when dropped (also when the
/// client goes away while it waits).
struct InLine;

impl InLine {
    fn join() -> Option<Self> {
        let limit = slots() * WAITING_PER_SLOT;
        WAITING
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| InLine)
    }
}

impl Drop for InLine {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The salt spent on a sign-in for an account that does not exist: the
/// work is what counts, the result is thrown away.
const UNKNOWN_SALT: &[u8] = b"replydesk-unknown-account";

thread_local! {
    /// This hashing thread's Argon2 memory, reused by every hash it runs.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 into `out`, in this thread's kept memory.
fn hash_into(argon: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
    BLOCKS.with_borrow_mut(|blocks| {
        let need = argon.params().block_count();
        if blocks.len() < need {
            blocks.resize(need, Block::default());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..need])
            .is_ok()
    })
}

/// Checks a password against a PHC string (`$argon2id$v=19$m=…`), with the
/// parameters the string gives; the outputs are compared in constant time.
fn verify(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    hash_into(&argon, password.as_bytes(), salt.as_ref(), &mut out)
        && bool::from(out.as_slice().ct_eq(expected.as_ref()))
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads, fed through one queue.
static POOL: LazyLock<Mutex<mpsc::Sender<Job>>> = LazyLock::new(|| {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..slots() {
        let rx = rx.clone();
        let started = std::thread::Builder::new()
            .name(format!("password-hash-{i}"))
            .spawn(move || {
                loop {
                    let job = {
                        let queue = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        match queue.recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        }
                    };
                    job();
                }
            });
        if let Err(e) = started {
            tracing::error!(error = %e, "cannot start a password hashing thread");
        }
    }
    Mutex::new(tx)
});

/// The pool has stopped (it never does while the process runs).
#[derive(Debug)]
pub struct PoolGone;

impl std::fmt::Display for PoolGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the password hashing threads are gone")
    }
}

/// Runs `work` on a hashing thread while holding `permit`.
async fn run<T: Send + 'static>(
    permit: OwnedSemaphorePermit,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PoolGone> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        metrics::gauge!("replydesk_password_hashes_running").set(now as f64);
        let out = work();
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        drop(permit);
        let _ = tx.send(out);
    });
    POOL.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send(job)
        .map_err(|_| PoolGone)?;
    rx.await.map_err(|_| PoolGone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), hash.clone()).await);
        assert!(!verify_password("wrong".into(), hash).await);
        assert!(!verify_password("x".into(), "not a hash".into()).await);
    }

    #[test]
    fn hashes_made_with_other_parameters_verify_with_theirs_in_the_kept_memory() {
        // Small memory first, then the default: the kept blocks grow and are reused.
        for params in [Params::new(4096, 2, 1, None).unwrap(), Params::default()] {
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            let hash = argon
                .hash_password(b"correct horse battery")
                .unwrap()
                .to_string();
            assert!(verify("correct horse battery", &hash), "{hash}");
            assert!(!verify("correct horse batterY", &hash));
            // Truncated: the output no longer matches, whatever the memory held.
            assert!(!verify("correct horse battery", &hash[..hash.len() - 4]));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_sign_ins_never_hashes_more_than_the_slots_at_once() {
        let tries: Vec<_> = (0..24)
            .map(|i| tokio::spawn(check_sign_in(format!("guess {i}"), None)))
            .collect();
        let mut busy = 0;
        for t in tries {
            match t.await.unwrap() {
                Ok(matched) => assert!(!matched, "no account, no match"),
                Err(Busy) => busy += 1,
            }
        }
        assert!(peak() <= slots(), "peak {} > {} slots", peak(), slots());
        assert!(busy < 24, "some sign-ins were judged");
    }
}
