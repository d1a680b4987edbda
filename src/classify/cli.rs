//! PLACEHOLDER command-line entry points; replaced by the real engine.

use std::io::{self, BufRead, Write};
use std::path::Path;

use super::{Reply, RuleSet, RulesErrors};

pub fn rules_check(dir: &Path, out: &mut dyn Write) -> Result<(), RulesErrors> {
    let set = RuleSet::load_dir(dir)?;
    let _ = writeln!(out, "ok: version {}", set.version());
    Ok(())
}

pub fn classify_one(
    rules: &RuleSet,
    _json: bool,
    text: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let c = rules.classify(&Reply {
        text: Some(text),
        ..Reply::default()
    });
    writeln!(out, "{}\t{}", c.category, c.rule_id)
}

pub fn classify_lines(
    rules: &RuleSet,
    json: bool,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> io::Result<()> {
    for line in input.lines() {
        classify_one(rules, json, &line?, out)?;
    }
    Ok(())
}
