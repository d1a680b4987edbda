//! The replies' rules files, canned responses and auto-replies, follow the
//! disk like the other rules files: checked when one changes (looked at
//! every two seconds), switched to only when it checks, and otherwise the
//! last good version stays, with the problem (file, line, reason) logged
//! and kept for the settings page. At start-up a broken file stops the desk.

use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

use super::FileError;
use super::auto::{self, AutoReplies};
use super::canned::{self, Canned};

type Stamp = Option<(SystemTime, u64)>;

#[derive(Debug)]
pub struct ReplyFiles {
    dir: PathBuf,
    teams: Vec<String>,
    canned: ArcSwap<Vec<Canned>>,
    auto: ArcSwap<AutoReplies>,
    seen: Mutex<[Stamp; 2]>,
    /// The last problem found in a changed file, until a good version comes.
    pub last_error: Mutex<Option<String>>,
}

impl ReplyFiles {
    pub fn load(dir: &Path, teams: Vec<String>) -> Result<ReplyFiles, FileError> {
        let files = ReplyFiles {
            canned: ArcSwap::from_pointee(canned::load_dir(dir, &teams)?),
            auto: ArcSwap::from_pointee(AutoReplies::load_dir(dir)?),
            seen: Mutex::new(stamps(dir)),
            dir: dir.to_path_buf(),
            teams,
            last_error: Mutex::new(None),
        };
        Ok(files)
    }

    pub fn canned(&self) -> Arc<Vec<Canned>> {
        self.canned.load_full()
    }

    pub fn auto(&self) -> Arc<AutoReplies> {
        self.auto.load_full()
    }

    /// Checks the files again if either changed; returns whether one was switched to.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamps(&self.dir);
        {
            let Ok(mut seen) = self.seen.lock() else {
                return false;
            };
            if *seen == now {
                return false;
            }
            *seen = now;
        }
        let mut switched = false;
        let mut problems = Vec::new();
        match canned::load_dir(&self.dir, &self.teams) {
            Ok(list) if *list != **self.canned.load() => {
                tracing::info!(responses = list.len(), "canned responses reloaded");
                self.canned.store(Arc::new(list));
                switched = true;
            }
            Ok(_) => {}
            Err(e) => problems.push(e.to_string()),
        }
        match AutoReplies::load_dir(&self.dir) {
            Ok(answers) if answers != **self.auto.load() => {
                tracing::info!(enabled = answers.any(), "auto-replies reloaded");
                self.auto.store(Arc::new(answers));
                switched = true;
            }
            Ok(_) => {}
            Err(e) => problems.push(e.to_string()),
        }
        for p in &problems {
            tracing::error!(problem = %p, "a changed replies rules file does not check; the last good version stays active");
        }
        if let Ok(mut last) = self.last_error.lock() {
            *last = (!problems.is_empty()).then(|| problems.join("\n"));
        }
        switched
    }

    /// Follows the files until `stop`.
    pub async fn watch(self: Arc<Self>, stop: CancellationToken, tick: Duration) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(tick) => {},
            }
            self.reload_if_changed();
        }
    }
}

fn stamps(dir: &Path) -> [Stamp; 2] {
    [canned::FILE, auto::FILE].map(|f| {
        std::fs::metadata(dir.join(f))
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_change_keeps_the_last_good_version_and_a_good_one_is_switched_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(canned::FILE);
        std::fs::write(&path, "[[response]]\nname = \"hi\"\ntext = \"Hello\"\n").unwrap();
        let files = ReplyFiles::load(dir.path(), Vec::new()).unwrap();
        assert_eq!(files.canned().len(), 1);
        std::fs::write(
            &path,
            "[[response]]\nname = \"hi\"\ntext = \"Hello {{nobody}}\"\n",
        )
        .unwrap();
        assert!(!files.reload_if_changed());
        assert_eq!(
            files.canned()[0].text,
            "Hello",
            "the last good version stays"
        );
        let problem = files.last_error.lock().unwrap().clone().unwrap();
        assert!(
            problem.contains("canned_responses.toml:1") && problem.contains("nobody"),
            "{problem}"
        );
        std::fs::write(
            &path,
            "[[response]]\nname = \"hi\"\ntext = \"Hello there\"\n\n[[response]]\nname = \"bye\"\ntext = \"Bye\"\n",
        )
        .unwrap();
        assert!(files.reload_if_changed());
        assert_eq!(files.canned().len(), 2);
        assert!(files.last_error.lock().unwrap().is_none());
        std::fs::write(
            dir.path().join(auto::FILE),
            "[help]\nenabled = true\nkeywords = [\"help\"]\ntext.en = \"Hi\"\n",
        )
        .unwrap();
        assert!(files.reload_if_changed());
        assert!(
            files.auto().help.is_some(),
            "an auto-reply enabled on disk is on"
        );
    }
}
