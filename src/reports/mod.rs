//! Reports: did WhatsApp help? Conversions and their attribution to
//! registered sends, report facts kept up to date in the background, the
//! report numbers (for the page, its CSV downloads and the API alike), the
//! server-drawn charts, and owned failure alerts.
//!
//! Owns the `conversions`, `report_*` and `alerts` tables. Reads, but never
//! writes, what ingest, routing and the queue write. Does not know HTTP.

pub mod alerts;
pub mod charts;
pub mod config;
pub mod conversions;
pub mod counts;
pub mod facts;
pub mod numbers;
pub mod period;
pub mod query;
pub mod tables;

use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::preferences::SignalContext;
use crate::store::{Db, StoreError};

pub use alerts::evaluate_alerts;
pub use config::ReportsConfig;
pub use facts::{Refreshed, rebuild, refresh};
pub use period::Period;
pub use query::{GroupBy, Report, load};

/// What can go wrong in reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A CSV file that cannot be read at all (not a bad row: those are reported per line).
    #[error("CSV {0}")]
    Csv(String),
}

/// The background work of reports: refresh the facts, then evaluate the
/// alert rules, every `[reports] refresh_every`.
#[derive(Debug, Clone)]
pub struct ReportsWorker {
    db: Db,
    config: Arc<crate::config::Config>,
    signals: Arc<SignalContext>,
    clock: SharedClock,
}

impl ReportsWorker {
    pub fn new(
        db: Db,
        config: Arc<crate::config::Config>,
        signals: Arc<SignalContext>,
        clock: SharedClock,
    ) -> ReportsWorker {
        ReportsWorker {
            db,
            config,
            signals,
            clock,
        }
    }

    /// One refresh and one evaluation; returns the alerts recorded.
    pub async fn run_once(&self) -> Result<usize, ReportsError> {
        let now = self.clock.now_ms();
        let codes = self.signals.status_codes.load();
        refresh(&self.db, &self.config, &codes, now).await?;
        evaluate_alerts(&self.db, &self.config, now).await
    }

    /// Runs until `stop`; the tick is `[reports] refresh_every`.
    pub async fn run(self, stop: CancellationToken) {
        let tick: Duration = self.config.reports.refresh_every();
        loop {
            if let Err(error) = self.run_once().await {
                tracing::error!(%error, "reports could not refresh or evaluate alerts; retrying on the next tick");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(tick) => {},
            }
        }
    }
}
