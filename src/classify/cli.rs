//! Command-line entry points for `replydesk rules check` and
//! `replydesk classify`. Plain functions over a writer, so `main.rs` only
//! parses arguments and tests can read what an administrator would see.

use super::{Classification, PrefEffect, Reply, RuleSet, RulesErrors};
use crate::model::MessageKind;
use std::io::{self, BufRead, Write};
use std::path::Path;

/// `replydesk rules check [DIR]`: compiles the rules and runs every example.
/// Prints a summary, or every problem as `file:line: reason`; the caller
/// exits non-zero on `Err`.
pub fn rules_check(dir: &Path, out: &mut dyn Write) -> Result<(), RulesErrors> {
    // Write failures (a closed pipe) cannot be reported anywhere better.
    match RuleSet::load_dir(dir) {
        Ok(set) => {
            let (files, rules, examples) = set.counts();
            let _ = writeln!(
                out,
                "rules OK: {}\n  files: {files}\n  rules: {rules}\n  examples: {examples} (all pass)\n  default category: {}\n  version: {}",
                dir.display(),
                set.default_category(),
                set.version()
            );
            Ok(())
        }
        Err(errors) => {
            for e in &errors.0 {
                let _ = writeln!(out, "{e}");
            }
            let _ = writeln!(
                out,
                "{} problem(s); this rules set would not be activated",
                errors.0.len()
            );
            Err(errors)
        }
    }
}

/// `replydesk classify` without TEXT: one message per input line, one result
/// per output line, in the same order.
pub fn classify_lines(
    rules: &RuleSet,
    json: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        classify_one(rules, json, line.trim_end_matches(['\n', '\r']), out)?;
    }
}

/// `replydesk classify TEXT`: one result line.
/// Plain form: `category<TAB>rule<TAB>"matched"<TAB>lang` (`-` when absent).
pub fn classify_one(
    rules: &RuleSet,
    json: bool,
    text: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let reply = Reply {
        kind: Some(MessageKind::Text),
        text: Some(text),
        payload: None,
        title: None,
    };
    let c = rules.classify(&reply);
    if json {
        writeln!(out, "{}", json_line(text, &c))
    } else {
        let matched = c.matched.as_deref().map_or_else(|| "-".to_string(), quoted);
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            c.category,
            c.rule_id,
            matched,
            c.lang.unwrap_or("-")
        )
    }
}

fn json_line(text: &str, c: &Classification) -> serde_json::Value {
    let action = c.action.map(|a| {
        serde_json::json!({
            "effect": match a.effect { PrefEffect::OptOut => "opt_out", PrefEffect::OptIn => "opt_in" },
            "channel": a.channel.map_or("all", |ch| ch.as_str()),
            "purpose": a.purpose.as_str(),
        })
    });
    serde_json::json!({
        "text": text,
        "category": c.category.as_str(),
        "rule": &*c.rule_id,
        "lang": c.lang,
        "matched": c.matched,
        "span": c.span.map(|(a, b)| [a, b]),
        "version": &*c.rules_version,
        "action": action,
    })
}

/// A JSON string literal: quotes and control characters escaped, so the
/// plain form stays one line per message.
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}
