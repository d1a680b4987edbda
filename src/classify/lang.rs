//! Language detection for the seven languages the rules may name.
//!
//! The result is whatlang's: its script detection, then its combined method
//! (alphabet and trigram scores) restricted to these seven languages, kept
//! only when whatlang would call it reliable. The scoring is computed here
//! rather than by `whatlang::Detector` because whatlang walks each language's
//! 300 profile trigrams and looks every one up in the text's trigrams (2,100
//! lookups a reply). Looking the text's few trigrams up in the profiles gives
//! the same distances with a few dozen, which is most of what it takes to
//! classify at 200,000 replies a second on one core. The profiles are
//! whatlang's own (`lang_profiles.rs`); the tests hold the result equal to
//! `whatlang::Detector` on every evaluation text and on generated ones.

use super::lang_profiles::{ALPHABETS, PROFILES};
use std::collections::HashMap;
use std::sync::LazyLock;
use whatlang::Script;

/// The languages the desk detects, as ISO 639-1 codes, in the order of the
/// profiles.
pub(super) const LANGUAGES: [&str; 7] = ["en", "es", "pt", "fr", "de", "it", "nl"];
const N: usize = LANGUAGES.len();

/// whatlang's constants: a profile holds 300 trigrams, at most 600 of the
/// text's are ranked, and a result is reliable above 0.9 confidence.
const MAX_TRIGRAM_DISTANCE: i64 = 300;
const TEXT_TRIGRAMS_SIZE: usize = 600;
const RELIABLE_CONFIDENCE: f64 = 0.9;

/// A profile rank meaning "not in this language's profile".
const ABSENT: u16 = u16::MAX;

/// Three characters packed into one sortable key (21 bits each), so that
/// ordering keys orders trigrams the way whatlang's `Trigram` does.
type Key = u64;

fn key(a: char, b: char, c: char) -> Key {
    (u64::from(a) << 42) | (u64::from(b) << 21) | u64::from(c)
}

struct Profiles {
    /// Every trigram of any profile with its rank in each language, by key.
    ranks: Vec<(Key, [u16; N])>,
    /// Which languages' alphabets hold each ASCII letter, as bits.
    ascii: [u8; 128],
    /// The same for the other letters of the alphabets, by character.
    other: Vec<(char, u8)>,
}

static PROFILES_BY_TRIGRAM: LazyLock<Profiles> = LazyLock::new(Profiles::build);

impl Profiles {
    fn build() -> Self {
        let mut by_key: HashMap<Key, [u16; N]> = HashMap::new();
        for (lang, profile) in PROFILES.iter().enumerate() {
            for (rank, trigram) in profile.iter().enumerate() {
                let mut chars = trigram.chars();
                let mut next = || chars.next().unwrap_or(' ');
                let (a, b, c) = (next(), next(), next());
                by_key.entry(key(a, b, c)).or_insert([ABSENT; N])[lang] = rank as u16;
            }
        }
        let mut ranks: Vec<(Key, [u16; N])> = by_key.into_iter().collect();
        ranks.sort_unstable_by_key(|(k, _)| *k);
        let mut ascii = [0u8; 128];
        let mut other: Vec<(char, u8)> = Vec::new();
        for (lang, alphabet) in ALPHABETS.iter().enumerate() {
            for ch in alphabet.chars() {
                match ascii_index(ch) {
                    Some(i) => ascii[i] |= 1 << lang,
                    None => match other.iter_mut().find(|(c, _)| *c == ch) {
                        Some((_, bits)) => *bits |= 1 << lang,
                        None => other.push((ch, 1 << lang)),
                    },
                }
            }
        }
        Profiles {
            ranks,
            ascii,
            other,
        }
    }

    fn alphabets_of(&self, ch: char) -> u8 {
        match ascii_index(ch) {
            Some(i) => self.ascii[i],
            None => self
                .other
                .iter()
                .find(|(c, _)| *c == ch)
                .map_or(0, |(_, bits)| *bits),
        }
    }

    fn ranks_of(&self, k: Key) -> Option<&[u16; N]> {
        let at = self.ranks.partition_point(|(x, _)| *x < k);
        self.ranks.get(at).filter(|(x, _)| *x == k).map(|(_, r)| r)
    }
}

/// The language of `text` as an ISO 639-1 code, when whatlang would detect
/// it reliably as one of English, Spanish, Portuguese, French, German,
/// Italian or Dutch.
pub fn detect(text: &str) -> Option<&'static str> {
    if whatlang::detect_script(text) != Some(Script::Latin) {
        return None;
    }
    let profiles = &*PROFILES_BY_TRIGRAM;
    let lower = text.to_lowercase();
    let (alphabet, letters) = alphabet_scores(profiles, &lower);
    let (trigram, trigrams) = trigram_scores(profiles, &lower);
    let alphabet_weight = (-(letters as f64 / 300.0) + 2.0 / 3.0).clamp(1.0 / 3.0, 2.0 / 3.0);
    let trigram_weight = 1.0 - alphabet_weight;
    let mut best = (0usize, f64::MIN);
    let mut second = f64::MIN;
    for lang in 0..N {
        let score = alphabet[lang] * alphabet_weight + trigram[lang] * trigram_weight;
        if score > best.1 {
            second = best.1;
            best = (lang, score);
        } else if score > second {
            second = score;
        }
    }
    (confidence(best.1, second, trigrams) > RELIABLE_CONFIDENCE).then_some(LANGUAGES[best.0])
}

/// whatlang's alphabet method: the share of the text's letters each
/// language's alphabet holds, and how many letters the text has.
fn alphabet_scores(profiles: &Profiles, lower: &str) -> ([f64; N], usize) {
    let mut held = [0usize; N];
    let mut letters = 0usize;
    for ch in lower.chars().filter(|c| !is_stop_char(*c)) {
        letters += 1;
        let bits = profiles.alphabets_of(ch);
        for (lang, held) in held.iter_mut().enumerate() {
            if bits & (1 << lang) != 0 {
                *held += 2;
            }
        }
    }
    let scores = held.map(|h| h.saturating_sub(letters) as f64 / letters as f64);
    (scores, letters)
}

/// whatlang's trigram method: how close the ranking of the text's trigrams
/// is to each language's profile, and how many distinct trigrams it has.
fn trigram_scores(profiles: &Profiles, lower: &str) -> ([f64; N], usize) {
    let ranked = ranked_trigrams(lower);
    let count = ranked.len() as i64;
    // A profile trigram missing from the text is 300 away; one found at
    // position p is |p - rank| away, so only found ones need looking up.
    let mut saved = [0i64; N];
    for (position, k) in ranked.iter().enumerate() {
        let Some(ranks) = profiles.ranks_of(*k) else {
            continue;
        };
        for (lang, rank) in ranks.iter().enumerate().filter(|(_, r)| **r != ABSENT) {
            let distance = (position as i64 - i64::from(*rank)).abs();
            saved[lang] += MAX_TRIGRAM_DISTANCE - distance;
        }
    }
    let max_total = MAX_TRIGRAM_DISTANCE * MAX_TRIGRAM_DISTANCE;
    let max_distance = count * MAX_TRIGRAM_DISTANCE;
    let scores = saved.map(|saved| {
        let mut distance = max_total - saved;
        if MAX_TRIGRAM_DISTANCE > count {
            distance -= (MAX_TRIGRAM_DISTANCE - count) * MAX_TRIGRAM_DISTANCE;
        }
        let distance = distance.clamp(0, max_total);
        (max_distance - distance) as f64 / max_distance as f64
    });
    (scores, ranked.len())
}

/// The text's distinct trigrams, most frequent first (ties: the greater
/// trigram first), at most 600, as whatlang ranks them.
fn ranked_trigrams(lower: &str) -> Vec<Key> {
    let mut all: Vec<Key> = Vec::with_capacity(lower.len() + 1);
    let mut chars = lower
        .chars()
        .map(|c| if is_stop_char(c) { ' ' } else { c })
        .chain(Some(' '));
    let mut c1 = ' ';
    let mut c2 = chars.next().unwrap_or(' ');
    for c3 in chars {
        if !(c2 == ' ' && (c1 == ' ' || c3 == ' ')) {
            all.push(key(c1, c2, c3));
        }
        c1 = c2;
        c2 = c3;
    }
    all.sort_unstable();
    let mut counted: Vec<(u32, Key)> = Vec::with_capacity(all.len());
    for k in all {
        match counted.last_mut() {
            Some((n, last)) if *last == k => *n += 1,
            _ => counted.push((1, k)),
        }
    }
    counted.sort_unstable_by(|a, b| b.cmp(a));
    counted.truncate(TEXT_TRIGRAMS_SIZE);
    counted.into_iter().map(|(_, k)| k).collect()
}

/// whatlang's confidence that the best-scoring language is right.
fn confidence(highest: f64, second: f64, count: usize) -> f64 {
    if highest == 0.0 {
        return 0.0;
    }
    if second == 0.0 {
        return highest;
    }
    let confident_rate = (3.0 / count as f64) + 0.015;
    let rate = (highest - second) / second;
    if rate > confident_rate {
        1.0
    } else {
        rate / confident_rate
    }
}

fn ascii_index(ch: char) -> Option<usize> {
    ch.is_ascii().then_some(ch as usize)
}

/// Space, ASCII punctuation or digit: no help in telling languages apart.
fn is_stop_char(ch: char) -> bool {
    matches!(ch, '\u{0000}'..='\u{0040}' | '\u{005B}'..='\u{0060}' | '\u{007B}'..='\u{007E}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatlang::{Detector, Lang};

    const WHATLANG: [Lang; N] = [
        Lang::Eng,
        Lang::Spa,
        Lang::Por,
        Lang::Fra,
        Lang::Deu,
        Lang::Ita,
        Lang::Nld,
    ];

    fn whatlang_says(detector: &Detector, text: &str) -> Option<&'static str> {
        let info = detector.detect(text).filter(whatlang::Info::is_reliable)?;
        WHATLANG
            .iter()
            .position(|l| *l == info.lang())
            .map(|i| LANGUAGES[i])
    }

    /// The repository's own labelled texts. The shared real replies are
    /// compared in `tests/classify_quality.rs`, whose harness reports that
    /// test ignored when `../shared` is not beside the repository.
    fn eval_texts() -> Vec<String> {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval.tsv");
        crate::classify::eval::read_tsv(&file)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .into_iter()
            .map(|row| row.text)
            .collect()
    }

    #[test]
    fn agrees_with_whatlang_on_the_evaluation_texts() {
        let detector = Detector::with_allowlist(WHATLANG.to_vec());
        let texts = eval_texts();
        assert!(texts.len() >= 400, "only {} evaluation texts", texts.len());
        let mut detected = 0;
        for text in &texts {
            let ours = detect(text);
            assert_eq!(ours, whatlang_says(&detector, text), "text: {text:?}");
            detected += usize::from(ours.is_some());
        }
        // 34 of the 559 rows are long enough for a reliable detection.
        assert!(detected >= 30, "only {detected} texts detected");
    }

    #[test]
    fn agrees_with_whatlang_on_sentences_in_each_language() {
        let detector = Detector::with_allowlist(WHATLANG.to_vec());
        let sentences = [
            (
                "en",
                "I would like to know the price of the blue one, please",
            ),
            (
                "es",
                "Hola, necesito ayuda con la factura porque el cobro está mal y quiero una devolución",
            ),
            (
                "pt",
                "Quero saber mais sobre a promoção, não recebi o código",
            ),
            (
                "fr",
                "Je voudrais savoir où en est ma commande, s'il vous plaît",
            ),
            (
                "de",
                "Ich möchte bitte wissen, wann meine Bestellung ankommt",
            ),
            (
                "it",
                "Buongiorno, vorrei sapere perché il mio ordine non è ancora arrivato e quando lo riceverò",
            ),
            ("nl", "Ik wil graag weten wanneer mijn bestelling aankomt"),
        ];
        for (lang, text) in sentences {
            assert_eq!(detect(text), Some(lang), "{text}");
            assert_eq!(whatlang_says(&detector, text), Some(lang), "{text}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn agrees_with_whatlang_on_generated_texts(
            text in "[a-zA-Z áéíóúàèìòùâêîôûãõçñüöäëïßœĳ¿¡.,!?0-9'😀Жα]{0,120}"
        ) {
            let detector = Detector::with_allowlist(WHATLANG.to_vec());
            proptest::prop_assert_eq!(detect(&text), whatlang_says(&detector, &text));
        }

        #[test]
        fn agrees_with_whatlang_on_generated_words(
            words in proptest::collection::vec(
                "the|and|you|que|de|não|und|ich|het|een|per|il|est|les|pas|mijn|muito|wann|price|order|pedido",
                1..40,
            )
        ) {
            let detector = Detector::with_allowlist(WHATLANG.to_vec());
            let text = words.join(" ");
            proptest::prop_assert_eq!(detect(&text), whatlang_says(&detector, &text));
        }
    }
}
