//! `replydesk rules dry-run DIR [--since 7d] [--json]`: the browser's dry run
//! from the command line, over the database the configuration names. Reads
//! only. A progress bar goes to standard error when it is a terminal.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::dry_run::{self, Options, Progress, Report};
use crate::classify::{RuleSet, RulesErrors};
use crate::clock::Millis;
use crate::model::Category;
use crate::store::{Db, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("the active rules in {dir} do not load:\n{errors}")]
    Active { dir: String, errors: RulesErrors },
    #[error("the candidate rules in {dir} have problems:\n{errors}")]
    Candidate { dir: String, errors: RulesErrors },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the report: {0}")]
    Write(#[from] std::io::Error),
}

/// Replays the replies received since `since` through the rules in
/// `candidate_dir` beside those in `active_dir`, and prints the report.
#[allow(clippy::too_many_arguments)]
pub async fn rules_dry_run(
    db: &Db,
    active_dir: &Path,
    candidate_dir: &Path,
    since: Millis,
    cap: usize,
    json: bool,
    show_progress: bool,
    out: &mut dyn Write,
) -> Result<Report, DryRunError> {
    let active = RuleSet::load_dir(active_dir).map_err(|errors| DryRunError::Active {
        dir: active_dir.display().to_string(),
        errors,
    })?;
    let candidate = RuleSet::load_dir(candidate_dir).map_err(|errors| DryRunError::Candidate {
        dir: candidate_dir.display().to_string(),
        errors,
    })?;
    let progress = Arc::new(Progress::default());
    let bar = if show_progress {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("replaying {pos}/{len} replies {wide_bar} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let ticker = {
        let (bar, progress) = (bar.clone(), progress.clone());
        tokio::spawn(async move {
            loop {
                bar.set_length(progress.total() as u64);
                bar.set_position(progress.done() as u64);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let report = dry_run::run(
        db,
        Arc::new(active),
        Arc::new(candidate),
        Options { since, cap },
        &progress,
    )
    .await;
    ticker.abort();
    bar.finish_and_clear();
    let report = report?;
    if json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        write_plain(&report, out)?;
    }
    Ok(report)
}

fn write_plain(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "replayed {} replies (active {} → candidate {}); {} would change",
        r.replayed, r.active_version, r.candidate_version, r.changed
    )?;
    if r.capped {
        writeln!(
            out,
            "capped at the {} most recent replies of the period",
            r.cap
        )?;
    }
    let lost = r.lost_opt_outs();
    if lost > 0 {
        writeln!(
            out,
            "WARNING: {lost} opt-out(s) would no longer be recognised"
        )?;
    }
    writeln!(out, "\ncategory      before   after")?;
    for c in Category::ALL {
        writeln!(
            out,
            "{:<12} {:>7} {:>7}",
            c.as_str(),
            r.before.get(c).copied().unwrap_or(0),
            r.after.get(c).copied().unwrap_or(0)
        )?;
    }
    if !r.moves.is_empty() {
        writeln!(out, "\nmoves")?;
        for ((from, to), n) in &r.moves {
            writeln!(out, "  {n:>6}  {from} → {to}")?;
        }
    }
    Ok(())
}
