//! Classification throughput with the default rules on realistic short
//! replies (the mix the desk sees: keywords, short questions, a few longer
//! messages, emoji). Target: 200,000 messages per second on one core.

// Test code: a failed set-up should panic with its error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use replydesk::classify::eval::read_tsv;
use replydesk::classify::{Reply, RuleSet, detect_language};
use replydesk::model::MessageKind;
use std::hint::black_box;
use std::path::Path;

const REPLIES: &[&str] = &[
    "STOP",
    "ok",
    "Thanks!",
    "👍",
    "How much?",
    "Who is this?",
    "Where is my order?",
    "yes please",
    "Baja",
    "¿Cuánto cuesta?",
    "Merci beaucoup",
    "Ich möchte mich abmelden",
    "Mi pedido no ha llegado todavía, ¿me pueden ayudar?",
    "Is it still available in blue? I'd like to order two",
    "Not interested, stop sending me this",
    "I am out of the office until Monday with limited access to email.",
    "wrong number",
    "Vorrei prenotare per sabato",
    "Ik heb de factuur nodig",
    "Quero saber mais sobre a promoção",
];

fn classify_default_rules(c: &mut Criterion) {
    bench_texts(c, "default_rules_mixed_replies", REPLIES);
}

/// Every text of the labelled evaluation set (559 replies across seven
/// languages, hard cases included), a broader mix than the one above.
fn classify_evaluation_set(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval.tsv");
    let rows = read_tsv(&path).unwrap();
    let texts: Vec<&str> = rows.iter().map(|row| row.text.as_str()).collect();
    bench_texts(c, "default_rules_evaluation_set", &texts);
}

/// Classifies every text, as a text message, with the shipped rules.
fn bench_texts(c: &mut Criterion, name: &str, texts: &[&str]) {
    let rules = RuleSet::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")).unwrap();
    let replies: Vec<Reply<'_>> = texts
        .iter()
        .map(|t| Reply {
            kind: Some(MessageKind::Text),
            text: Some(t),
            payload: None,
            title: None,
        })
        .collect();
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(replies.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            for reply in &replies {
                black_box(rules.classify(black_box(reply)));
            }
        })
    });
    group.finish();
}

/// The language detector alone on the replies long enough to be detected:
/// the desk's and `whatlang::Detector`, which it must agree with, side by side.
fn language_detection(c: &mut Criterion) {
    use whatlang::{Detector, Lang};
    let langs = vec![
        Lang::Eng,
        Lang::Spa,
        Lang::Por,
        Lang::Fra,
        Lang::Deu,
        Lang::Ita,
        Lang::Nld,
    ];
    let detector = Detector::with_allowlist(langs);
    let long: Vec<&str> = REPLIES.iter().copied().filter(|t| t.len() >= 20).collect();
    let mut group = c.benchmark_group("language");
    group.throughput(Throughput::Elements(long.len() as u64));
    group.bench_function("desk_replies_of_20_bytes_or_more", |b| {
        b.iter(|| {
            for t in &long {
                black_box(detect_language(black_box(t)));
            }
        })
    });
    group.bench_function("whatlang_replies_of_20_bytes_or_more", |b| {
        b.iter(|| {
            for t in &long {
                black_box(detector.detect(black_box(t)));
            }
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    classify_default_rules,
    classify_evaluation_set,
    language_detection
);
criterion_main!(benches);
