//! What `replydesk rules check` and `replydesk classify` print.

// Test code: a failed set-up should panic with its error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use replydesk::classify::RuleSet;
use replydesk::classify::cli::{classify_lines, classify_one, rules_check};
use std::path::{Path, PathBuf};

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

#[test]
fn rules_check_summarizes_the_default_rules() {
    let mut out = Vec::new();
    rules_check(&rules_dir(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let version = RuleSet::load_dir(&rules_dir())
        .unwrap()
        .version()
        .to_string();
    assert!(text.starts_with("rules OK: "), "{text}");
    assert!(
        text.contains("(all pass)") && text.contains(&format!("version: {version}")),
        "{text}"
    );
}

#[test]
fn rules_check_prints_every_problem_as_file_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "[[rule]]\nid = \"a\"\ncategory = \"noise\"\npatterns = ['(']\n\n[[rule]]\nid = \"b\"\ncategory = \"noise\"\nkinds = [\"fax\"]\n";
    std::fs::write(dir.path().join("a.toml"), bad).unwrap();
    let mut out = Vec::new();
    let errors = rules_check(dir.path(), &mut out).unwrap_err();
    let text = String::from_utf8(out).unwrap();
    let file = dir.path().join("a.toml");
    assert_eq!(errors.0.len(), 2);
    assert!(
        text.contains(&format!(
            "{}:4: rule \"a\": pattern does not compile",
            file.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}:9: unknown message kind \"fax\"",
            file.display()
        )),
        "{text}"
    );
    assert!(
        text.ends_with("2 problem(s); this rules set would not be activated\n"),
        "{text}"
    );
}

#[test]
fn classify_prints_one_plain_line_per_input_line() {
    let rules = RuleSet::load_dir(&rules_dir()).unwrap();
    let mut out = Vec::new();
    classify_lines(&rules, false, &mut "STOP\nok\n\nHola, quisiera recibir más info sobre los precios de este producto, por favor\n".as_bytes(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], "opt_out\tstop-keyword\t\"STOP\"\t-");
    assert_eq!(lines[1], "noise\tacknowledgement\t\"ok\"\t-");
    assert!(lines[2].starts_with("service\tdefault\t-\t-"), "{text}");
    assert_eq!(lines[3], "interest\tinterest-es-pt\t\"más info\"\tes");
}

#[test]
fn classify_json_has_the_documented_fields() {
    let rules = RuleSet::load_dir(&rules_dir()).unwrap();
    let mut out = Vec::new();
    classify_one(&rules, true, "Stop sending me these \"offers\"", &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["text"], "Stop sending me these \"offers\"");
    assert_eq!(v["category"], "opt_out");
    assert_eq!(v["rule"], "stop-word-in-message");
    assert_eq!(v["matched"], "Stop");
    assert_eq!(v["span"], serde_json::json!([0, 4]));
    assert_eq!(v["version"], rules.version());
    assert_eq!(v["action"]["effect"], "opt_out");
    assert!(v.get("lang").is_some());
}
