//! Quality of the default rules, measured: per-category precision, recall
//! and F1 on our own labelled set (targets asserted) and on the shared set of
//! real replies (reported only). Run with `--nocapture` to see the tables.

// Test code: a failed set-up should panic with its error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "harness/mod.rs"]
mod harness;
use harness::SHARED;

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

fn main() {
    harness::main()
}

crate::test_case! {
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
}

crate::test_case! {
    needs [SHARED]
    fn default_rules_are_measured_on_the_real_replies() {
        let path = manifest_path("../shared/eval/replies-real.tsv");
        let rows = read_tsv(&path).unwrap();
        let report = evaluate(&default_rules(), &rows);
        // Reported, not asserted: the rows stand in for real WhatsApp replies
        // and must not become tuning targets.
        print_report("../shared/eval/replies-real.tsv (report only)", &report);
    }
}

crate::test_case! {
    needs [SHARED]
    /// The desk's language detector gives whatlang's own answer on the real
    /// replies too (the unit tests compare it on the repository's texts).
    fn the_language_detector_agrees_with_whatlang_on_the_real_replies() {
        use whatlang::{Detector, Lang};
        let langs = [Lang::Eng, Lang::Spa, Lang::Por, Lang::Fra, Lang::Deu, Lang::Ita, Lang::Nld];
        let codes = ["en", "es", "pt", "fr", "de", "it", "nl"];
        let detector = Detector::with_allowlist(langs.to_vec());
        let rows = read_tsv(&manifest_path("../shared/eval/replies-real.tsv")).unwrap();
        assert!(rows.len() >= 300, "only {} real replies", rows.len());
        let mut detected = 0;
        for row in &rows {
            let theirs = detector
                .detect(&row.text)
                .filter(whatlang::Info::is_reliable)
                .and_then(|info| langs.iter().position(|l| *l == info.lang()))
                .map(|i| codes[i]);
            let ours = replydesk::classify::detect_language(&row.text);
            assert_eq!(ours, theirs, "text: {:?}", row.text);
            detected += usize::from(ours.is_some());
        }
        assert!(detected >= 50, "only {detected} real replies detected");
    }
}
