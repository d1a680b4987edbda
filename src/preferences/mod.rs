//! Preferences: the ledger of who may be contacted, on which channel, for
//! which purpose, and why.
//!
//! PLACEHOLDER until the ledger lands: the ingest write path already calls
//! [`record_from_events`] inside its transaction.

use sqlx::{Any, Transaction};

use crate::clock::Millis;
use crate::ingest::event::NormalizedEvent;
use crate::store::StoreError;

/// Records the preference signals carried by newly stored events, in the
/// transaction that stores them.
pub(crate) async fn record_from_events(
    _tx: &mut Transaction<'static, Any>,
    _events: &[&NormalizedEvent],
    _now: Millis,
) -> Result<(), StoreError> {
    Ok(())
}
