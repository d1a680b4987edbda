//! Live rules: a broken edit never replaces a working set, a good one is
//! picked up, and the directory watcher reloads after an editor-style save.

// Test code: a failed set-up should panic with its error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use replydesk::classify::{LiveRules, Reply};
use replydesk::model::{Category, MessageKind};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const GOOD: &str = "[[rule]]\nid = \"stop\"\ncategory = \"opt_out\"\nkeywords = [\"stop\"]\n\n[[example]]\ntext = \"STOP\"\nexpect = \"opt_out\"\n";
const BETTER: &str = "[[rule]]\nid = \"stop\"\ncategory = \"opt_out\"\nkeywords = [\"stop\", \"baja\"]\n\n[[example]]\ntext = \"baja\"\nexpect = \"opt_out\"\n";
const FAILING_EXAMPLE: &str = "[[rule]]\nid = \"stop\"\ncategory = \"opt_out\"\nkeywords = [\"stop\"]\n\n[[example]]\ntext = \"baja\"\nexpect = \"opt_out\"\n";

fn category(live: &LiveRules, text: &str) -> Category {
    let reply = Reply {
        kind: Some(MessageKind::Text),
        text: Some(text),
        payload: None,
        title: None,
    };
    live.current().classify(&reply).category
}

fn write(dir: &Path, text: &str) {
    std::fs::write(dir.join("rules.toml"), text).unwrap();
}

#[test]
fn start_up_with_an_invalid_set_fails_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), FAILING_EXAMPLE);
    let err = LiveRules::load(dir.path()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}:7: ", dir.path().join("rules.toml").display())),
        "{text}"
    );
}

#[test]
fn reload_keeps_the_last_good_set_and_remembers_why() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), GOOD);
    let live = LiveRules::load(dir.path()).unwrap();
    let good_version = live.version();
    assert_eq!(category(&live, "baja"), Category::Service);

    write(dir.path(), FAILING_EXAMPLE);
    let err = live.reload().unwrap_err();
    assert_eq!(err.0[0].line, 7);
    assert_eq!(
        live.version(),
        good_version,
        "the failing set must not be activated"
    );
    assert_eq!(category(&live, "stop"), Category::OptOut);
    assert_eq!(live.last_error().unwrap().0[0].line, 7);
    assert!(live.last_error_at().is_some());

    write(
        dir.path(),
        "[[rule]]\nid = \"x\"\ncategory = \"noise\"\npatterns = ['(']\n",
    );
    assert!(live.reload().is_err());
    assert_eq!(live.version(), good_version);

    write(dir.path(), BETTER);
    live.reload().unwrap();
    assert_ne!(live.version(), good_version);
    assert_eq!(category(&live, "baja"), Category::OptOut);
    assert!(
        live.last_error().is_none(),
        "a good reload clears the error"
    );
}

#[test]
fn watcher_reloads_after_an_editor_style_rename() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), GOOD);
    let live = Arc::new(LiveRules::load(dir.path()).unwrap());
    let _watch = live.watch().unwrap();

    // Editors write a temporary file and rename it over the original.
    let temp = dir.path().join(".rules.toml.swp");
    std::fs::write(&temp, BETTER).unwrap();
    std::fs::rename(&temp, dir.path().join("rules.toml")).unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while category(&live, "baja") != Category::OptOut {
        assert!(
            Instant::now() < deadline,
            "the watcher did not reload within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn reading_a_rules_file_or_saving_the_same_bytes_does_not_reload() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), GOOD);
    let live = Arc::new(LiveRules::load(dir.path()).unwrap());
    let _watch = live.watch().unwrap();
    // An editor opening the file, the desk reading it, a save that changes nothing.
    for _ in 0..5 {
        let _ = std::fs::read_to_string(dir.path().join("rules.toml")).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    write(dir.path(), GOOD);
    // Longer than the watcher's debounce, twice over.
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(live.reload_count(), 0, "nothing changed, nothing reloaded");
    // A real change still reloads, once.
    write(dir.path(), BETTER);
    let deadline = Instant::now() + Duration::from_secs(10);
    while category(&live, "baja") != Category::OptOut {
        assert!(
            Instant::now() < deadline,
            "the watcher did not reload within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(
        live.reload_count(),
        1,
        "the reload's own reading triggers nothing more"
    );
}
