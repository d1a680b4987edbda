//! The rules engine as administrators rely on it: each condition kind,
//! exceptions, first-match order, the default, and errors that name the file
//! and line to fix.

// Test code: a failed set-up should panic with its error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use replydesk::classify::{PrefEffect, Reply, RuleSet, RulesErrors};
use replydesk::model::{Category, MessageKind, PrefChannel, Purpose};
use std::path::Path;

/// Writes `files` into a fresh directory and loads it.
fn load(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<RuleSet, RulesErrors>) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let set = RuleSet::load_dir(dir.path());
    (dir, set)
}

fn set(files: &[(&str, &str)]) -> RuleSet {
    let (_dir, set) = load(files);
    set.unwrap_or_else(|e| panic!("rules should load:\n{e}"))
}

fn text(t: &str) -> Reply<'_> {
    Reply {
        kind: Some(MessageKind::Text),
        text: Some(t),
        payload: None,
        title: None,
    }
}

fn category_of(set: &RuleSet, t: &str) -> (Category, String) {
    let c = set.classify(&text(t));
    (c.category, c.rule_id.to_string())
}

#[test]
fn keywords_match_the_whole_message_after_normalization() {
    let s = set(&[(
        "a.toml",
        "[[rule]]\nid = \"stop\"\ncategory = \"opt_out\"\nkeywords = [\"Arrêt\", \"stop\"]\n",
    )]);
    for t in ["ARRET", "arrêt!!", "  Stop 🛑 ", "STOP."] {
        assert_eq!(category_of(&s, t).0, Category::OptOut, "{t:?}");
    }
    for t in ["stop by tomorrow", "bus stop"] {
        assert_eq!(
            category_of(&s, t),
            (Category::Service, "default".into()),
            "{t:?}"
        );
    }
}

#[test]
fn match_reports_span_and_words_as_typed() {
    let s = set(&[(
        "a.toml",
        "[[rule]]\nid = \"p\"\ncategory = \"interest\"\nphrases = [\"cuanto cuesta\"]\n",
    )]);
    let t = "Hola, ¿CUÁNTO cuesta?";
    let c = s.classify(&text(t));
    assert_eq!(c.rule_id.as_ref(), "p");
    assert_eq!(c.matched.as_deref(), Some("CUÁNTO cuesta"));
    let (a, b) = c.span.unwrap();
    assert_eq!(&t[a..b], "CUÁNTO cuesta");
    assert_eq!(c.rules_version.as_ref(), s.version());
}

#[test]
fn phrases_match_whole_words_only() {
    let s = set(&[(
        "a.toml",
        "[[rule]]\nid = \"p\"\ncategory = \"service\"\nphrases = [\"late\"]\n\n[settings]\ndefault_category = \"noise\"\n",
    )]);
    assert_eq!(category_of(&s, "my parcel is late").0, Category::Service);
    assert_eq!(category_of(&s, "see you later").0, Category::Noise);
}

#[test]
fn patterns_see_normalized_text_and_unless_vetoes_the_rule() {
    let rules = r#"
[[rule]]
id = "stop-anywhere"
category = "opt_out"
patterns = ['\bstop\b']
unless = ['''\bdon'?t stop\b''']
"#;
    let s = set(&[("a.toml", rules)]);
    assert_eq!(category_of(&s, "Please STOP now").0, Category::OptOut);
    assert_eq!(category_of(&s, "Don’t stop the offers").1, "default");
}

#[test]
fn first_match_wins_by_priority_then_file_name_then_written_order() {
    let a = "[[rule]]\nid = \"a1\"\ncategory = \"noise\"\nphrases = [\"thanks\"]\n\n[[rule]]\nid = \"a2\"\ncategory = \"interest\"\nphrases = [\"price\"]\n";
    let b = "[[rule]]\nid = \"b1\"\ncategory = \"interest\"\nphrases = [\"thanks\"]\n\n[[rule]]\nid = \"b2\"\ncategory = \"opt_out\"\npriority = 10\nphrases = [\"stop\"]\n";
    let s = set(&[("20-b.toml", b), ("10-a.toml", a)]);
    assert_eq!(category_of(&s, "thanks").1, "a1", "file name order");
    assert_eq!(
        category_of(&s, "thanks, price?").1,
        "a1",
        "written order within a file"
    );
    assert_eq!(
        category_of(&s, "thanks, stop").1,
        "b2",
        "priority lifts a rule ahead"
    );
}

#[test]
fn message_kinds_payloads_and_media_captions() {
    let rules = r#"
[[rule]]
id = "stop-button"
category = "opt_out"
kinds = ["button", "interactive"]
payloads = ["STOP_PROMOTIONS"]
keywords = ["Stop promotions"]
action = { effect = "opt_out", purpose = "marketing" }

[[rule]]
id = "reaction"
category = "noise"
kinds = ["reaction"]

[[rule]]
id = "bare-media"
category = "service"
kinds = ["media"]
has_text = false

[[rule]]
id = "emoji"
category = "noise"
no_words = true

[settings]
default_category = "interest"
"#;
    let s = set(&[("a.toml", rules)]);
    let button = |payload, title| Reply {
        kind: Some(MessageKind::Button),
        text: None,
        payload,
        title,
    };
    let by_payload = s.classify(&button(Some("stop_promotions"), Some("Whatever")));
    assert_eq!(by_payload.rule_id.as_ref(), "stop-button");
    let action = by_payload.action.unwrap();
    assert_eq!(
        (action.effect, action.channel, action.purpose),
        (
            PrefEffect::OptOut,
            Some(PrefChannel::Whatsapp),
            Purpose::Marketing
        )
    );
    assert_eq!(
        s.classify(&button(None, Some("Stop promotions")))
            .rule_id
            .as_ref(),
        "stop-button"
    );
    assert_eq!(
        s.classify(&text("Stop promotions")).rule_id.as_ref(),
        "default",
        "typed text is not a button"
    );

    let reaction = Reply {
        kind: Some(MessageKind::Reaction),
        text: Some("👍"),
        payload: None,
        title: None,
    };
    assert_eq!(s.classify(&reaction).rule_id.as_ref(), "reaction");
    let photo = |caption| Reply {
        kind: Some(MessageKind::Image),
        text: caption,
        payload: None,
        title: None,
    };
    assert_eq!(s.classify(&photo(None)).rule_id.as_ref(), "bare-media");
    assert_eq!(
        s.classify(&photo(Some("how much?"))).rule_id.as_ref(),
        "default"
    );
    assert_eq!(s.classify(&text("😂😂")).rule_id.as_ref(), "emoji");
}

#[test]
fn lang_condition_applies_only_when_detection_is_reliable() {
    let rules =
        "[[rule]]\nid = \"es\"\ncategory = \"interest\"\nlang = [\"es\"]\nphrases = [\"info\"]\n";
    let s = set(&[("a.toml", rules)]);
    let long = "Hola, quisiera recibir más info sobre los precios de este producto, por favor";
    let c = s.classify(&text(long));
    assert_eq!(c.lang, Some("es"));
    assert_eq!(c.rule_id.as_ref(), "es");
    let short = s.classify(&text("info"));
    assert_eq!(short.lang, None, "too short to detect");
    assert_eq!(short.rule_id.as_ref(), "default");
}

#[test]
fn broken_regex_names_the_rule_and_the_line_of_the_pattern() {
    let rules = "[[rule]]\nid = \"bad\"\ncategory = \"noise\"\npatterns = [\n  'fine',\n  '(unclosed',\n]\n";
    let (dir, result) = load(&[("a.toml", rules)]);
    let errors = result.unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    let e = &errors.0[0];
    assert_eq!(e.file, dir.path().join("a.toml"));
    assert_eq!(e.line, 6, "{e}");
    assert!(
        e.reason.contains("\"bad\"") && e.reason.contains("does not compile"),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with(&format!("{}:6: ", dir.path().join("a.toml").display()))
    );
}

#[test]
fn failing_example_blocks_the_set_and_says_expected_got_and_rule() {
    let rules = "[[rule]]\nid = \"thanks\"\ncategory = \"noise\"\nkeywords = [\"thanks\"]\n\n[[example]]\ntext = \"thanks\"\nexpect = \"interest\"\n";
    let (_dir, result) = load(&[("a.toml", rules)]);
    let errors = result.unwrap_err();
    let e = &errors.0[0];
    assert_eq!(e.line, 7, "{e}");
    assert!(
        e.reason
            .contains("expected interest, got noise (rule \"thanks\")"),
        "{e}"
    );
}

#[test]
fn invalid_definitions_are_each_reported() {
    let rules = r#"
[[rule]]
id = "a"
category = "noise"
kinds = ["fax"]

[[rule]]
id = "a"
category = "noise"
keywords = ["🙂"]

[[rule]]
id = "b"
category = "noise"
patterns = ['arrêt']

[[rule]]
id = "c"
category = "noise"
"#;
    let (_dir, result) = load(&[("a.toml", rules)]);
    let errors = result.unwrap_err();
    let lines: Vec<usize> = errors.0.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![5, 8, 10, 15, 18], "{errors}");
    assert!(errors.0[1].reason.contains("already used at"), "{errors}");
    assert!(errors.0[3].reason.contains("write \"e\""), "{errors}");
}

#[test]
fn toml_syntax_errors_and_unknown_categories_have_lines() {
    let (_dir, result) = load(&[("a.toml", "[[rule]]\nid = \"a\"\ncategory = \"spam\"\n")]);
    let e = &result.unwrap_err().0[0];
    assert_eq!(e.line, 3, "{e}");
    let (_dir, result) = load(&[(
        "a.toml",
        "[[rule]]\nid = \"a\"\ncategory = \"noise\nkeywords = [\"x\"]\n",
    )]);
    assert_eq!(result.unwrap_err().0[0].line, 3);
}

#[test]
fn default_category_comes_from_settings_and_only_one_settings_table_is_allowed() {
    let s = set(&[(
        "a.toml",
        "[settings]\ndefault_category = \"noise\"\n\n[[rule]]\nid = \"x\"\ncategory = \"interest\"\nkeywords = [\"x\"]\n",
    )]);
    assert_eq!(
        category_of(&s, "anything"),
        (Category::Noise, "default".into())
    );
    let (_dir, result) = load(&[
        ("a.toml", "[settings]\n"),
        ("b.toml", "\n[settings]\ndefault_category = \"noise\"\n"),
    ]);
    let e = &result.unwrap_err().0[0];
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn version_changes_with_the_files_and_ignores_reserved_files() {
    let rule = "[[rule]]\nid = \"x\"\ncategory = \"interest\"\nkeywords = [\"x\"]\n";
    let (dir, first) = load(&[("a.toml", rule)]);
    let v1 = first.unwrap().version().to_string();
    std::fs::write(dir.path().join("status_codes.toml"), "[whatever]\nx = 1\n").unwrap();
    std::fs::write(
        dir.path().join("preference_policy.toml"),
        "not toml at all [",
    )
    .unwrap();
    assert_eq!(RuleSet::load_dir(dir.path()).unwrap().version(), v1);
    std::fs::write(dir.path().join("a.toml"), format!("{rule}# comment\n")).unwrap();
    assert_ne!(RuleSet::load_dir(dir.path()).unwrap().version(), v1);
}

#[test]
fn default_rules_decide_mixed_signals_in_the_documented_order() {
    let s = RuleSet::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
    let cases = [
        ("stop, and where is my refund?", Category::OptOut),
        ("Who is this? Stop texting me", Category::OptOut),
        ("Thanks! Where is my order?", Category::Service),
        ("Who is this? How much is it?", Category::Interest),
        ("Thanks, how much?", Category::Interest),
        ("Don't stop sending me deals", Category::Interest),
        ("no pares", Category::Service),
    ];
    for (t, want) in cases {
        assert_eq!(s.classify(&text(t)).category, want, "{t:?}");
    }
    let stop = s.classify(&text("STOP"));
    assert_eq!(stop.action.map(|a| a.effect), Some(PrefEffect::OptOut));
    assert_eq!(stop.matched.as_deref(), Some("STOP"));
    let start = s.classify(&text("START"));
    assert_eq!(start.action.map(|a| a.effect), Some(PrefEffect::OptIn));
}
