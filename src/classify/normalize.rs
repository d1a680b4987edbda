//! The text normalizer shared by rules and messages: both sides of every
//! comparison go through the same function, so a keyword written `Arrêt` in a
//! rules file matches a message `ARRET!!` and `arrêt 🛑`.
//!
//! The normalized form is: compatibility-decomposed (NFKD) with accents
//! dropped, lower case, a few letters folded (`ß` → `ss`, `œ` → `oe`, …),
//! emoji, symbols and punctuation replaced by a single space, apostrophes kept
//! only inside words (as `'`), question marks kept as a lone `?` word (a bare
//! `?` is a meaningful reply), whitespace collapsed and trimmed.
//!
//! Each byte of the normalized text remembers which bytes of the original it
//! came from, so a match can be shown to an agent in the words the customer
//! actually typed.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// A normalized text plus, for each of its bytes, the original byte range.
#[derive(Debug, Default)]
pub(crate) struct Normalized {
    pub(crate) text: String,
    origin: Vec<(u32, u32)>,
    /// Set by `push`: the next word character must be preceded by a space.
    pending_space: bool,
    /// True once any letter or digit was seen.
    pub(crate) has_words: bool,
}

impl Normalized {
    /// Normalizes `raw` into this buffer, reusing its allocations.
    pub(crate) fn fill(&mut self, raw: &str) {
        self.text.clear();
        self.origin.clear();
        self.pending_space = false;
        self.has_words = false;
        for (start, c) in raw.char_indices() {
            let range = (to_u32(start), to_u32(start + c.len_utf8()));
            self.push_raw(c, range);
        }
        self.drop_trailing_apostrophe();
    }

    /// The original byte range that produced `text[start..end]`.
    pub(crate) fn origin_of(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        if start >= end {
            return None;
        }
        let first = self.origin.get(start)?;
        let last = self.origin.get(end - 1)?;
        Some((first.0 as usize, last.1 as usize))
    }

    fn push_raw(&mut self, c: char, range: (u32, u32)) {
        if is_apostrophe(c) {
            self.push_folded('\'', range);
            return;
        }
        if c.is_ascii() {
            self.push_folded(c.to_ascii_lowercase(), range);
            return;
        }
        // Lower-casing after decomposition: compatibility forms such as the
        // Roman numeral `Ⅻ` decompose into upper-case letters.
        decompose_compatible(c, |d| {
            for lower in d.to_lowercase() {
                decompose_compatible(lower, |e| {
                    if !is_combining_mark(e) {
                        self.push_letter_fold(e, range);
                    }
                });
            }
        });
    }

    fn push_letter_fold(&mut self, c: char, range: (u32, u32)) {
        let folded = match c {
            'ß' => "ss",
            'æ' => "ae",
            'œ' => "oe",
            'ø' => "o",
            'ł' => "l",
            'đ' | 'ð' => "d",
            'þ' => "th",
            'ı' => "i",
            _ => return self.push_folded(c, range),
        };
        for f in folded.chars() {
            self.push_folded(f, range);
        }
    }

    /// Pushes one already lower-cased, accent-free character.
    fn push_folded(&mut self, c: char, range: (u32, u32)) {
        if c.is_alphanumeric() {
            self.has_words = true;
            self.push_word_char(c, range);
        } else if c == '\'' {
            // Kept only right after a letter; dropped again if no letter follows.
            if !self.pending_space
                && self
                    .text
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric)
            {
                self.push_char(c, range);
            }
        } else if c == '?' {
            self.drop_trailing_apostrophe();
            if !self.text.ends_with('?') {
                self.pending_space = true;
                self.push_word_char('?', range);
                self.pending_space = true;
            }
        } else {
            self.drop_trailing_apostrophe();
            self.pending_space = true;
        }
    }

    fn push_word_char(&mut self, c: char, range: (u32, u32)) {
        if self.text.ends_with('?') {
            self.pending_space = true;
        }
        if self.pending_space && !self.text.is_empty() {
            self.push_char(' ', range);
        }
        self.pending_space = false;
        self.push_char(c, range);
    }

    fn push_char(&mut self, c: char, range: (u32, u32)) {
        self.text.push(c);
        for _ in 0..c.len_utf8() {
            self.origin.push(range);
        }
    }

    fn drop_trailing_apostrophe(&mut self) {
        if self.text.ends_with('\'') {
            self.text.pop();
            self.origin.pop();
        }
    }
}

fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{00B4}' | '\u{0060}' | '\u{FF07}'
    )
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The normalized form of `text`, as rules and messages are compared.
pub fn normalize(text: &str) -> String {
    let mut n = Normalized::default();
    n.fill(text);
    n.text
}

/// The whole-message key used for keywords: the normalized text without
/// question marks at either end ("who is this?" and "who is this" are the
/// same keyword).
pub(crate) fn keyword_key(normalized: &str) -> (usize, &str) {
    let trimmed_start = normalized.trim_start_matches(['?', ' ']);
    let start = normalized.len() - trimmed_start.len();
    (start, trimmed_start.trim_end_matches(['?', ' ']))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folds_case_accents_punctuation_and_emoji() {
        let cases = [
            ("STOP!!!", "stop"),
            ("  Arrêt 🛑 ", "arret"),
            ("Stop 👍🏽\u{FE0F}", "stop"),
            ("Don’t   text me...", "don't text me"),
            ("¿Quién es?", "quien es ?"),
            ("who is this???", "who is this ?"),
            ("opt-out", "opt out"),
            ("Schließen", "schliessen"),
            ("'quoted'", "quoted"),
            ("l'ordine", "l'ordine"),
            ("ＳＴＯＰ", "stop"),
            ("😂😂", ""),
            ("?!", "?"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw), want, "normalizing {raw:?}");
        }
    }

    #[test]
    fn origin_points_back_to_the_typed_words() {
        let raw = "Hola, ¿QUIÉN es?";
        let mut n = Normalized::default();
        n.fill(raw);
        let at = n.text.find("quien").unwrap();
        let (s, e) = n.origin_of(at, at + "quien".len()).unwrap();
        assert_eq!(&raw[s..e], "QUIÉN");
    }

    #[test]
    fn keyword_key_ignores_question_marks_at_the_ends() {
        assert_eq!(keyword_key("? quien es ?"), (2, "quien es"));
        assert_eq!(keyword_key("?"), (1, ""));
    }

    proptest! {
        #[test]
        fn normalization_is_idempotent(text in "\\PC{0,40}") {
            let once = normalize(&text);
            prop_assert_eq!(normalize(&once), once);
        }

        #[test]
        fn normalization_is_idempotent_on_latin_text(text in "[a-zA-ZàâçéèêëîïôûùüÿñæœßÄÖÜ'’?¿!.,  -]{0,40}") {
            let once = normalize(&text);
            prop_assert_eq!(normalize(&once), once);
        }
    }
}
