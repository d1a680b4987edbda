//! Measuring a rules set on a labelled file of replies: per-category
//! precision, recall and F1, macro-F1, and the rows it got wrong. Used by the
//! quality tests; nothing here affects classification.

use super::{Reply, RuleSet};
use crate::model::{Category, MessageKind};
use std::fmt::Write as _;
use std::path::Path;

/// One labelled reply.
#[derive(Debug, Clone)]
pub struct LabelledRow {
    pub text: String,
    pub label: Category,
    pub lang: String,
}

/// Reads a tab-separated file whose header names at least `text` and
/// `label` (and optionally `lang`); other columns are ignored.
pub fn read_tsv(path: &Path) -> Result<Vec<LabelledRow>, String> {
    let source = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = source.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(text_at), Some(label_at)) = (column("text"), column("label")) else {
        return Err(format!(
            "{}:1: the header must name the columns text and label",
            path.display()
        ));
    };
    let lang_at = column("lang");
    let mut rows = Vec::new();
    for (number, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let field = |at: usize| fields.get(at).copied().unwrap_or_default();
        let label = Category::parse(field(label_at).trim()).ok_or_else(|| {
            format!(
                "{}:{}: unknown label {:?}",
                path.display(),
                number + 2,
                field(label_at)
            )
        })?;
        let lang = lang_at.map(field).unwrap_or_default().trim().to_string();
        rows.push(LabelledRow {
            text: field(text_at).to_string(),
            label,
            lang,
        });
    }
    Ok(rows)
}

/// Counts for one category.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    pub true_pos: usize,
    pub false_pos: usize,
    pub false_neg: usize,
}

impl Score {
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_pos,
            self.true_pos + self.false_pos,
            self.false_neg == 0,
        )
    }

    pub fn recall(&self) -> f64 {
        ratio(
            self.true_pos,
            self.true_pos + self.false_neg,
            self.false_pos == 0,
        )
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// `num / den`, or, when nothing was there to count, 1 if that is right
/// (nothing expected, nothing predicted) and 0 otherwise.
fn ratio(num: usize, den: usize, empty_is_right: bool) -> f64 {
    match den {
        0 if empty_is_right => 1.0,
        0 => 0.0,
        _ => num as f64 / den as f64,
    }
}

/// A row the rules got wrong.
#[derive(Debug, Clone)]
pub struct Miss {
    pub text: String,
    pub lang: String,
    pub expected: Category,
    pub got: Category,
    pub rule: String,
}

/// The result of measuring a rules set on labelled rows.
#[derive(Debug, Clone)]
pub struct Report {
    pub rows: usize,
    pub correct: usize,
    pub scores: Vec<(Category, Score)>,
    pub misses: Vec<Miss>,
    /// Rows whose language was detected reliably, and of those, how many
    /// agree with the row's `lang` column.
    pub lang_detected: usize,
    pub lang_correct: usize,
}

impl Report {
    pub fn score(&self, category: Category) -> Score {
        self.scores
            .iter()
            .find(|(c, _)| *c == category)
            .map(|(_, s)| *s)
            .unwrap_or_default()
    }

    /// Mean F1 over the categories present in the labels or the predictions.
    pub fn macro_f1(&self) -> f64 {
        let present: Vec<f64> = self
            .scores
            .iter()
            .filter(|(_, s)| s.true_pos + s.false_pos + s.false_neg > 0)
            .map(|(_, s)| s.f1())
            .collect();
        if present.is_empty() {
            0.0
        } else {
            present.iter().sum::<f64>() / present.len() as f64
        }
    }

    /// A plain-text table for people.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<10} {:>7} {:>9} {:>7} {:>7}",
            "category", "support", "precision", "recall", "f1"
        );
        for (category, s) in &self.scores {
            let support = s.true_pos + s.false_neg;
            let _ = writeln!(
                t,
                "{:<10} {:>7} {:>9.3} {:>7.3} {:>7.3}",
                category.as_str(),
                support,
                s.precision(),
                s.recall(),
                s.f1()
            );
        }
        let accuracy = if self.rows == 0 {
            0.0
        } else {
            self.correct as f64 / self.rows as f64
        };
        let _ = writeln!(
            t,
            "rows {}  accuracy {:.3}  macro-F1 {:.3}",
            self.rows,
            accuracy,
            self.macro_f1()
        );
        let _ = writeln!(
            t,
            "language detected reliably on {} rows, {} of them matching the lang column",
            self.lang_detected, self.lang_correct
        );
        t
    }
}

/// Classifies every row as a text reply and scores the result.
pub fn evaluate(rules: &RuleSet, rows: &[LabelledRow]) -> Report {
    let mut scores: Vec<(Category, Score)> = Category::ALL
        .iter()
        .map(|c| (*c, Score::default()))
        .collect();
    let mut misses = Vec::new();
    let mut correct = 0;
    let (mut lang_detected, mut lang_correct) = (0, 0);
    for row in rows {
        let reply = Reply {
            kind: Some(MessageKind::Text),
            text: Some(&row.text),
            payload: None,
            title: None,
        };
        let got = rules.classify(&reply);
        if let Some(lang) = got.lang {
            lang_detected += 1;
            lang_correct += usize::from(lang == row.lang);
        }
        for (category, score) in &mut scores {
            match (*category == row.label, *category == got.category) {
                (true, true) => score.true_pos += 1,
                (false, true) => score.false_pos += 1,
                (true, false) => score.false_neg += 1,
                (false, false) => {}
            }
        }
        if got.category == row.label {
            correct += 1;
        } else {
            misses.push(Miss {
                text: row.text.clone(),
                lang: row.lang.clone(),
                expected: row.label,
                got: got.category,
                rule: got.rule_id.to_string(),
            });
        }
    }
    Report {
        rows: rows.len(),
        correct,
        scores,
        misses,
        lang_detected,
        lang_correct,
    }
}
