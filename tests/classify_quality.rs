//! Quality of the default rules, measured: per-category precision, recall
//! and F1 on our own labelled set (targets asserted) and on the shared set of
//! real replies (reported only). Run with `--nocapture` to see the tables.

// Test code: a failed set-up should panic with its error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use replydesk::classify::RuleSet;
use replydesk::classify::eval::{Report, evaluate, read_tsv};
use replydesk::model::Category;
use std::path::{Path, PathBuf};

fn manifest_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn default_rules() -> RuleSet {
    RuleSet::load_dir(&manifest_path("rules"))
        .unwrap_or_else(|e| panic!("default rules do not load:\n{e}"))
}

fn print_report(name: &str, report: &Report) {
    println!("\n== {name} ==\n{}", report.table());
    if std::env::var_os("REPLYDESK_SHOW_MISSES").is_some() {
        for m in &report.misses {
            println!(
                "  miss [{}] expected {} got {} ({}): {}",
                m.lang, m.expected, m.got, m.rule, m.text
            );
        }
    }
}

#[test]
fn default_rules_meet_the_targets_on_the_labelled_set() {
    let rules = default_rules();
    let rows = read_tsv(&manifest_path("tests/data/eval.tsv")).unwrap();
    assert!(
        rows.len() >= 400,
        "the evaluation set has {} rows",
        rows.len()
    );
    let report = evaluate(&rules, &rows);
    print_report("tests/data/eval.tsv", &report);

    let opt_out = report.score(Category::OptOut);
    assert!(
        opt_out.recall() >= 0.99,
        "opt-out recall {:.3} < 0.99",
        opt_out.recall()
    );
    assert!(
        opt_out.precision() >= 0.97,
        "opt-out precision {:.3} < 0.97",
        opt_out.precision()
    );
    assert!(
        report.macro_f1() >= 0.85,
        "macro-F1 {:.3} < 0.85",
        report.macro_f1()
    );
}

#[test]
fn default_rules_are_measured_on_the_real_replies() {
    let path = manifest_path("../shared/eval/replies-real.tsv");
    if !path.exists() {
        let why = format!(
            "{} does not exist (it lives outside the repository, in the shared folder)",
            path.display()
        );
        assert!(
            std::env::var("REPLYDESK_REQUIRE_ALL").as_deref() != Ok("1"),
            "REPLYDESK_REQUIRE_ALL=1 but {why}"
        );
        println!("real-reply evaluation skipped: {why}");
        return;
    }
    let rows = read_tsv(&path).unwrap();
    let report = evaluate(&default_rules(), &rows);
    // Reported, not asserted: the rows stand in for real WhatsApp replies
    // and must not become tuning targets.
    print_report("../shared/eval/replies-real.tsv (report only)", &report);
}
