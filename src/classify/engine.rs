//! The compiled rules set and the classifier. Rules compile once into a few
//! shared matchers (a hash table of whole-message keywords and of button
//! payloads, one Aho-Corasick automaton for every phrase, one `RegexSet` for
//! every pattern and exception); classifying a reply runs each matcher once
//! and then walks the rules in order, so the cost barely grows with the
//! number of rules.

use super::lang::{self, LANGUAGES};
use super::normalize::{Normalized, keyword_key, normalize};
use super::rules::{self, ActionDef, ExampleDef, RuleDef, SourceFile, SourceSet};
use super::{Classification, PrefEffect, PreferenceAction, Reply, RulesError, RulesErrors};
use crate::model::{Category, MessageKind, PrefChannel, Purpose};
use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Shorter normalized texts are not given to the detector: on our evaluation
/// sets whatlang was reliable for only 3 of 450 replies under 20 bytes, and
/// a short reply's category should not turn on a guess at its language.
const MIN_DETECT_LEN: usize = 20;

/// The id reported when no rule matched.
const DEFAULT_RULE_ID: &str = "default";

/// How a rule's text matched, kept per rule while classifying one reply.
const HIT_KEYWORD: u8 = 1;
const HIT_PHRASE: u8 = 2;
const HIT_PATTERN: u8 = 4;
const HIT_PAYLOAD: u8 = 8;

/// A compiled, tested rules set.
#[derive(Debug)]
pub struct RuleSet {
    version: Arc<str>,
    default_category: Category,
    default_id: Arc<str>,
    rules: Vec<Rule>,
    keywords: HashMap<Box<str>, Vec<usize>>,
    payloads: HashMap<Box<str>, Vec<usize>>,
    phrases: Option<AhoCorasick>,
    phrase_owner: Vec<usize>,
    patterns: RegexSet,
    pattern_owner: Vec<PatternOwner>,
    /// The same patterns one by one, to find the span of the winning rule.
    pattern_regexes: Vec<Regex>,
    files: usize,
    examples: usize,
}

#[derive(Debug)]
struct Rule {
    id: Arc<str>,
    category: Category,
    action: Option<PreferenceAction>,
    /// Bit per `MessageKind`; 0 means any kind.
    kinds: u32,
    /// Bit per entry of `LANGUAGES`; 0 means any language.
    langs: u8,
    has_text: Option<bool>,
    no_words: Option<bool>,
    /// Whether the rule has keywords, phrases, patterns or payloads.
    has_content: bool,
}

#[derive(Debug, Clone, Copy)]
struct PatternOwner {
    rule: usize,
    unless: bool,
}

/// Per-thread buffers, so classifying allocates only the result.
#[derive(Default)]
struct Scratch {
    norm: Normalized,
    hits: Vec<u8>,
    phrase_spans: Vec<(usize, usize)>,
    vetoed: Vec<bool>,
    pattern_matches: Vec<bool>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl RuleSet {
    /// Reads, compiles and tests every rules file of `dir`. The set is
    /// returned only if everything compiles and every example passes.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, RulesErrors> {
        let sources = rules::read_dir(dir)?;
        let set = compile(&sources)?;
        let failures = run_examples(&set, &sources.files);
        if failures.is_empty() {
            Ok(set)
        } else {
            Err(RulesErrors(failures))
        }
    }

    /// The hash of the rules files' names and contents.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How many rules files, rules and examples the set holds.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.files, self.rules.len(), self.examples)
    }

    /// The category used when no rule matches.
    pub fn default_category(&self) -> Category {
        self.default_category
    }

    /// Classifies one reply. Pure: the same set and reply give the same answer.
    pub fn classify(&self, reply: &Reply<'_>) -> Classification {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => self.classify_with(reply, &mut scratch),
            // Only reachable if classify re-entered itself on this thread.
            Err(_) => self.classify_with(reply, &mut Scratch::default()),
        })
    }

    fn classify_with(&self, reply: &Reply<'_>, s: &mut Scratch) -> Classification {
        let kind = reply.kind.unwrap_or(MessageKind::Text);
        let non_blank = |t: &&str| !t.trim().is_empty();
        let text = reply
            .text
            .filter(non_blank)
            .or(reply.title.filter(non_blank));
        s.norm.fill(text.unwrap_or(""));
        s.hits.clear();
        s.hits.resize(self.rules.len(), 0);
        s.vetoed.clear();
        s.vetoed.resize(self.rules.len(), false);
        s.phrase_spans.clear();
        s.phrase_spans.resize(self.rules.len(), (0, 0));
        self.match_text(s);
        self.match_payload(reply.payload, s);
        let lang = text.and_then(|t| self.detect(t, &s.norm));
        let winner = self.rules.iter().enumerate().find(|(i, rule)| {
            rule_applies(rule, kind, text.is_some(), &s.norm, lang)
                && (!rule.has_content || s.hits[*i] != 0)
                && !s.vetoed[*i]
        });
        let Some((index, rule)) = winner else {
            return self.result(
                self.default_category,
                &self.default_id,
                None,
                None,
                lang,
                text,
            );
        };
        let span = self
            .span_of(index, s)
            .and_then(|(a, b)| s.norm.origin_of(a, b));
        self.result(rule.category, &rule.id, rule.action, span, lang, text)
    }

    fn match_text(&self, s: &mut Scratch) {
        let text = s.norm.text.as_str();
        if text.is_empty() {
            return;
        }
        if let Some(rules) = self.keywords.get(keyword_key(text).1) {
            for &r in rules {
                s.hits[r] |= HIT_KEYWORD;
            }
        }
        if let Some(ac) = &self.phrases {
            for m in ac.find_overlapping_iter(text) {
                let r = self.phrase_owner[m.pattern().as_usize()];
                if s.hits[r] & HIT_PHRASE == 0 && at_word_edges(text, m.start(), m.end()) {
                    s.hits[r] |= HIT_PHRASE;
                    s.phrase_spans[r] = (m.start(), m.end());
                }
            }
        }
        if self.pattern_owner.is_empty() {
            return;
        }
        s.pattern_matches.clear();
        s.pattern_matches.resize(self.pattern_owner.len(), false);
        if self
            .patterns
            .matches_read_at(&mut s.pattern_matches, text.as_bytes(), 0)
        {
            for (owner, _) in self
                .pattern_owner
                .iter()
                .zip(&s.pattern_matches)
                .filter(|(_, m)| **m)
            {
                if owner.unless {
                    s.vetoed[owner.rule] = true;
                } else {
                    s.hits[owner.rule] |= HIT_PATTERN;
                }
            }
        }
    }

    fn match_payload(&self, payload: Option<&str>, s: &mut Scratch) {
        let Some(payload) = payload else { return };
        if let Some(rules) = self.payloads.get(normalize(payload).as_str()) {
            for &r in rules {
                s.hits[r] |= HIT_PAYLOAD;
            }
        }
    }

    /// The detected language, only when whatlang is sure.
    fn detect(&self, text: &str, norm: &Normalized) -> Option<&'static str> {
        if norm.text.len() < MIN_DETECT_LEN {
            return None;
        }
        lang::detect(text)
    }

    /// The normalized-text span that made rule `index` match, if text did.
    fn span_of(&self, index: usize, s: &Scratch) -> Option<(usize, usize)> {
        let hits = s.hits[index];
        let text = s.norm.text.as_str();
        if hits & HIT_KEYWORD != 0 {
            let (start, key) = keyword_key(text);
            return Some((start, start + key.len()));
        }
        if hits & HIT_PHRASE != 0 {
            return Some(s.phrase_spans[index]);
        }
        if hits & HIT_PATTERN != 0 {
            return self
                .pattern_owner
                .iter()
                .zip(&self.pattern_regexes)
                .filter(|(o, _)| o.rule == index && !o.unless)
                .find_map(|(_, re)| re.find(text.as_bytes()))
                .map(|m| (m.start(), m.end()));
        }
        None
    }

    fn result(
        &self,
        category: Category,
        rule_id: &Arc<str>,
        action: Option<PreferenceAction>,
        span: Option<(usize, usize)>,
        lang: Option<&'static str>,
        text: Option<&str>,
    ) -> Classification {
        let matched = span
            .and_then(|(a, b)| text.and_then(|t| t.get(a..b)))
            .map(str::to_string);
        Classification {
            category,
            rule_id: rule_id.clone(),
            span,
            matched,
            lang,
            rules_version: self.version.clone(),
            action,
        }
    }
}

fn rule_applies(
    rule: &Rule,
    kind: MessageKind,
    has_text: bool,
    norm: &Normalized,
    lang: Option<&str>,
) -> bool {
    if rule.kinds != 0 && rule.kinds & kind_bit(kind) == 0 {
        return false;
    }
    if rule.has_text.is_some_and(|want| want != has_text) {
        return false;
    }
    if rule
        .no_words
        .is_some_and(|want| want != (has_text && !norm.has_words))
    {
        return false;
    }
    if rule.langs != 0 {
        let Some(bit) = lang.and_then(lang_bit) else {
            return false;
        };
        if rule.langs & bit == 0 {
            return false;
        }
    }
    true
}

/// Phrases match whole words: the match must start and end at a word edge.
fn at_word_edges(text: &str, start: usize, end: usize) -> bool {
    let edge = |b: Option<&u8>| b.is_none_or(|b| matches!(b, b' ' | b'\''));
    let bytes = text.as_bytes();
    edge(start.checked_sub(1).and_then(|i| bytes.get(i))) && edge(bytes.get(end))
}

fn kind_bit(kind: MessageKind) -> u32 {
    let index = MessageKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0);
    1 << index
}

fn lang_bit(code: &str) -> Option<u8> {
    LANGUAGES.iter().position(|c| *c == code).map(|i| 1 << i)
}

/// Builds the matchers of a parsed set, collecting every problem found.
fn compile(sources: &SourceSet) -> Result<RuleSet, RulesErrors> {
    let mut c = Compiler::default();
    let mut ordered = Vec::new();
    for (file_index, file) in sources.files.iter().enumerate() {
        c.settings(file);
        for (position, def) in file.def.rule.iter().enumerate() {
            ordered.push((-def.priority, file_index, position, file, def));
        }
    }
    // Higher priority first; ties keep file-name order, then written order.
    ordered.sort_by_key(|(p, f, r, _, _)| (*p, *f, *r));
    for (_, _, _, file, def) in ordered {
        c.rule(file, def);
    }
    let examples = sources.files.iter().map(|f| f.def.example.len()).sum();
    c.finish(sources, examples)
}

#[derive(Default)]
struct Compiler {
    errors: Vec<RulesError>,
    default_category: Option<(Category, String)>,
    rules: Vec<Rule>,
    ids: HashMap<String, String>,
    keywords: HashMap<Box<str>, Vec<usize>>,
    payloads: HashMap<Box<str>, Vec<usize>>,
    phrases: Vec<String>,
    phrase_owner: Vec<usize>,
    patterns: Vec<String>,
    pattern_owner: Vec<PatternOwner>,
    pattern_regexes: Vec<Regex>,
}

impl Compiler {
    fn settings(&mut self, file: &SourceFile) {
        let Some(settings) = &file.def.settings else {
            return;
        };
        let at = settings.span().start;
        let here = format!(
            "{}:{}",
            file.path.display(),
            rules::line_of(&file.source, at)
        );
        if let Some((_, first)) = &self.default_category {
            let reason = format!("a second [settings] table; the first is at {first}");
            self.errors.push(file.error_at(at, reason));
            return;
        }
        let category = settings
            .get_ref()
            .default_category
            .unwrap_or(rules::DEFAULT_CATEGORY);
        self.default_category = Some((category, here));
    }

    fn rule(&mut self, file: &SourceFile, def: &RuleDef) {
        let index = self.rules.len();
        let errors_before = self.errors.len();
        self.check_id(file, def);
        let kinds = self.kinds(file, def);
        let langs = self.langs(file, def);
        let action = def.action.as_ref().and_then(|a| self.action(file, a));
        self.texts(file, def, index);
        let has_content = !(def.keywords.is_empty()
            && def.phrases.is_empty()
            && def.patterns.is_empty()
            && def.payloads.is_empty());
        if !has_content
            && def.kinds.is_empty()
            && def.lang.is_empty()
            && def.has_text.is_none()
            && def.no_words.is_none()
        {
            let reason = format!(
                "rule \"{}\" has no conditions and would match every reply; set [settings] default_category instead",
                def.id.get_ref()
            );
            self.errors.push(file.error_at(def.id.span().start, reason));
        }
        if self.errors.len() > errors_before {
            // Keep indexes aligned; the set is rejected anyway.
            self.rules.push(placeholder_rule());
            return;
        }
        self.rules.push(Rule {
            id: Arc::from(def.id.get_ref().as_str()),
            category: def.category,
            action,
            kinds,
            langs,
            has_text: def.has_text,
            no_words: def.no_words,
            has_content,
        });
    }

    fn check_id(&mut self, file: &SourceFile, def: &RuleDef) {
        let id = def.id.get_ref();
        let at = def.id.span().start;
        let valid = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            let reason = format!("rule id \"{id}\" must be letters, digits, '-', '_' or '.'");
            self.errors.push(file.error_at(at, reason));
        }
        if id == DEFAULT_RULE_ID {
            self.errors.push(file.error_at(
                at,
                "rule id \"default\" is reserved for \"no rule matched\"",
            ));
        }
        let here = format!(
            "{}:{}",
            file.path.display(),
            rules::line_of(&file.source, at)
        );
        if let Some(first) = self.ids.insert(id.clone(), here) {
            self.errors
                .push(file.error_at(at, format!("rule id \"{id}\" is already used at {first}")));
        }
    }

    fn kinds(&mut self, file: &SourceFile, def: &RuleDef) -> u32 {
        let mut bits = 0;
        for kind in &def.kinds {
            match parse_kinds(kind.get_ref()) {
                Some(b) => bits |= b,
                None => {
                    let names: Vec<&str> = MessageKind::ALL.iter().map(|k| k.as_str()).collect();
                    let reason = format!(
                        "unknown message kind \"{}\"; expected \"media\" or one of: {}",
                        kind.get_ref(),
                        names.join(", ")
                    );
                    self.errors.push(file.error_at(kind.span().start, reason));
                }
            }
        }
        bits
    }

    fn langs(&mut self, file: &SourceFile, def: &RuleDef) -> u8 {
        let mut bits = 0;
        for lang in &def.lang {
            match lang_bit(lang.get_ref()) {
                Some(b) => bits |= b,
                None => {
                    let reason = format!(
                        "unknown language \"{}\"; expected one of: {}",
                        lang.get_ref(),
                        LANGUAGES.join(", ")
                    );
                    self.errors.push(file.error_at(lang.span().start, reason));
                }
            }
        }
        bits
    }

    fn action(
        &mut self,
        file: &SourceFile,
        def: &toml::Spanned<ActionDef>,
    ) -> Option<PreferenceAction> {
        match parse_action(def.get_ref()) {
            Ok(action) => Some(action),
            Err(reason) => {
                self.errors.push(file.error_at(def.span().start, reason));
                None
            }
        }
    }

    /// Keywords, phrases, payloads, patterns and exceptions of one rule.
    fn texts(&mut self, file: &SourceFile, def: &RuleDef, index: usize) {
        for (what, list, table) in [("keyword", &def.keywords, 0), ("payload", &def.payloads, 1)] {
            for word in list {
                let Some(key) = self.normalized(file, what, word) else {
                    continue;
                };
                let key = keyword_key(&key).1.into();
                let map = if table == 0 {
                    &mut self.keywords
                } else {
                    &mut self.payloads
                };
                let owners: &mut Vec<usize> = map.entry(key).or_default();
                if !owners.contains(&index) {
                    owners.push(index);
                }
            }
        }
        for phrase in &def.phrases {
            if let Some(p) = self.normalized(file, "phrase", phrase) {
                self.phrases.push(p);
                self.phrase_owner.push(index);
            }
        }
        for (unless, list) in [(false, &def.patterns), (true, &def.unless)] {
            for pattern in list {
                self.pattern(
                    file,
                    def,
                    pattern,
                    PatternOwner {
                        rule: index,
                        unless,
                    },
                );
            }
        }
    }

    fn normalized(
        &mut self,
        file: &SourceFile,
        what: &str,
        word: &toml::Spanned<String>,
    ) -> Option<String> {
        let n = normalize(word.get_ref());
        if keyword_key(&n).1.is_empty() {
            let reason = format!(
                "{what} \"{}\" is empty once emoji and punctuation are ignored; use no_words = true for replies without words",
                word.get_ref()
            );
            self.errors.push(file.error_at(word.span().start, reason));
            return None;
        }
        Some(n)
    }

    fn pattern(
        &mut self,
        file: &SourceFile,
        def: &RuleDef,
        pattern: &toml::Spanned<String>,
        owner: PatternOwner,
    ) {
        let at = pattern.span().start;
        let id = def.id.get_ref();
        let text = pattern.get_ref();
        if let Some(c) = text
            .chars()
            .find(|c| !c.is_ascii() && normalize(&c.to_string()) != c.to_string())
        {
            let reason = format!(
                "rule \"{id}\": pattern {text:?} contains {c:?}; patterns see text in lower case without accents, write {:?}",
                normalize(&c.to_string())
            );
            self.errors.push(file.error_at(at, reason));
            return;
        }
        match RegexBuilder::new(text)
            .unicode(false)
            .case_insensitive(true)
            .build()
        {
            Ok(re) => {
                self.patterns.push(text.clone());
                self.pattern_owner.push(owner);
                self.pattern_regexes.push(re);
            }
            Err(e) => {
                let reason = format!(
                    "rule \"{id}\": pattern does not compile: {}",
                    one_line(&e.to_string())
                );
                self.errors.push(file.error_at(at, reason));
            }
        }
    }

    fn finish(self, sources: &SourceSet, examples: usize) -> Result<RuleSet, RulesErrors> {
        let mut errors = self.errors;
        let dir_error = |reason: String| RulesError {
            file: sources.dir.clone(),
            line: 0,
            reason,
        };
        let phrases = if self.phrases.is_empty() {
            None
        } else {
            match AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&self.phrases)
            {
                Ok(ac) => Some(ac),
                Err(e) => {
                    errors.push(dir_error(format!("cannot build the phrase table: {e}")));
                    None
                }
            }
        };
        // ASCII classes and word boundaries: the normalized text of the
        // seven languages is ASCII once accents are dropped, and Unicode
        // word boundaries would make the DFA fall back to a slow engine.
        // The lazy DFA's cache (one per classifying thread) gets 16 MiB: at
        // the default 2 MiB, varied replies filled it again and again until
        // the set fell back to the PikeVM, and the evaluation set classified
        // ten times slower than with room for its states.
        let patterns = RegexSetBuilder::new(&self.patterns)
            .unicode(false)
            .case_insensitive(true)
            .size_limit(64 << 20)
            .dfa_size_limit(16 << 20)
            .build()
            .map_err(|e| {
                dir_error(format!(
                    "the patterns together are too large: {}",
                    one_line(&e.to_string())
                ))
            });
        let patterns = match patterns {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                RegexSet::empty()
            }
        };
        if !errors.is_empty() {
            return Err(RulesErrors(errors));
        }
        Ok(RuleSet {
            version: Arc::from(sources.version.as_str()),
            default_category: self
                .default_category
                .map_or(rules::DEFAULT_CATEGORY, |(c, _)| c),
            default_id: Arc::from(DEFAULT_RULE_ID),
            rules: self.rules,
            keywords: self.keywords,
            payloads: self.payloads,
            phrases,
            phrase_owner: self.phrase_owner,
            patterns,
            pattern_owner: self.pattern_owner,
            pattern_regexes: self.pattern_regexes,
            files: sources.files.len(),
            examples,
        })
    }
}

fn placeholder_rule() -> Rule {
    Rule {
        id: Arc::from(""),
        category: rules::DEFAULT_CATEGORY,
        action: None,
        kinds: 0,
        langs: 0,
        has_text: None,
        no_words: None,
        has_content: true,
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `media` stands for every media kind (image, audio, video, document, sticker).
fn parse_kinds(name: &str) -> Option<u32> {
    if name == "media" {
        return Some(
            MessageKind::ALL
                .iter()
                .filter(|k| k.is_media())
                .map(|k| kind_bit(*k))
                .fold(0, |a, b| a | b),
        );
    }
    MessageKind::parse(name).map(kind_bit)
}

fn parse_action(def: &ActionDef) -> Result<PreferenceAction, String> {
    let (effect, channel, purpose) = match def {
        ActionDef::Effect(effect) => (effect.as_str(), None, None),
        ActionDef::Table {
            effect,
            channel,
            purpose,
        } => (effect.as_str(), channel.as_deref(), purpose.as_deref()),
    };
    let effect = match effect {
        "opt_out" => PrefEffect::OptOut,
        "opt_in" => PrefEffect::OptIn,
        other => {
            return Err(format!(
                "unknown action \"{other}\"; expected \"opt_out\" or \"opt_in\""
            ));
        }
    };
    // The reply arrived on WhatsApp: without a channel, the action is about WhatsApp.
    let channel = match channel.unwrap_or("whatsapp") {
        "all" => None,
        name => Some(PrefChannel::parse(name).ok_or_else(|| {
            format!("unknown channel \"{name}\"; expected \"whatsapp\", \"email\" or \"all\"")
        })?),
    };
    let purpose = match purpose {
        None => Purpose::All,
        Some(name) => Purpose::parse(name).ok_or_else(|| {
            format!("unknown purpose \"{name}\"; expected \"marketing\" or \"all\"")
        })?,
    };
    Ok(PreferenceAction {
        effect,
        channel,
        purpose,
    })
}

/// Runs every example of every file against the compiled set.
fn run_examples(set: &RuleSet, files: &[SourceFile]) -> Vec<RulesError> {
    let mut failures = Vec::new();
    for file in files {
        for example in &file.def.example {
            if let Err(reason) = check_example(set, example) {
                failures.push(file.error_at(example_offset(example), reason));
            }
        }
    }
    failures
}

/// Where an example starts: its text, else its kind, else its expectation.
fn example_offset(example: &ExampleDef) -> usize {
    let text = example.text.as_ref().map(|t| t.span().start);
    let kind = example.kind.as_ref().map(|k| k.span().start);
    text.or(kind).unwrap_or(example.expect.span().start)
}

fn check_example(set: &RuleSet, example: &ExampleDef) -> Result<(), String> {
    if example.text.is_none()
        && example.kind.is_none()
        && example.payload.is_none()
        && example.title.is_none()
    {
        return Err(
            "example has nothing to classify: give a text, kind, payload or title".to_string(),
        );
    }
    let kind = match &example.kind {
        None => None,
        Some(k) => Some(
            MessageKind::parse(k.get_ref())
                .ok_or_else(|| format!("unknown message kind \"{}\"", k.get_ref()))?,
        ),
    };
    let reply = Reply {
        kind,
        text: example.text.as_ref().map(|t| t.get_ref().as_str()),
        payload: example.payload.as_deref(),
        title: example.title.as_deref(),
    };
    let got = set.classify(&reply);
    let what = describe_example(example);
    let expected = *example.expect.get_ref();
    if got.category != expected {
        return Err(format!(
            "example {what}: expected {expected}, got {} (rule \"{}\")",
            got.category, got.rule_id
        ));
    }
    if let Some(rule) = &example.rule
        && *rule != *got.rule_id
    {
        return Err(format!(
            "example {what}: expected rule \"{rule}\", got rule \"{}\"",
            got.rule_id
        ));
    }
    if let Some(action) = &example.action {
        let got_action = match got.action.map(|a| a.effect) {
            Some(PrefEffect::OptOut) => "opt_out",
            Some(PrefEffect::OptIn) => "opt_in",
            None => "none",
        };
        if action != got_action {
            return Err(format!(
                "example {what}: expected action {action}, got {got_action} (rule \"{}\")",
                got.rule_id
            ));
        }
    }
    Ok(())
}

fn describe_example(example: &ExampleDef) -> String {
    let mut parts = Vec::new();
    if let Some(kind) = &example.kind {
        parts.push(format!("kind={}", kind.get_ref()));
    }
    if let Some(text) = &example.text {
        parts.push(format!("{:?}", text.get_ref()));
    }
    if let Some(payload) = &example.payload {
        parts.push(format!("payload={payload:?}"));
    }
    if let Some(title) = &example.title {
        parts.push(format!("title={title:?}"));
    }
    parts.join(" ")
}
