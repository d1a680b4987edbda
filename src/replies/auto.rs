//! Auto-replies, from `rules/auto_replies.toml`, each off until enabled:
//! the confirmation of an opt-out (once per opt-out, inside the window),
//! the answer to HELP / INFO, and the out-of-hours answer of a team (at
//! most once per conversation per closed period). Each goes through the
//! same gate and queue as an agent's reply, in the customer's language
//! when the file has it, and shows in the conversation as sent by
//! `auto:<kind>`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::{Author, FileError, Replies, ReplyError, Request, read_rules_file, toml_error};
use crate::model::Category;
use crate::sla::clock::Calendars;
use crate::store::Db;

pub const FILE: &str = "auto_replies.toml";

/// What the router hands over for each reply it routed.
#[derive(Debug, Clone)]
pub struct Routed {
    pub event_id: i64,
    pub conversation_id: String,
    pub category: Category,
    pub lang: Option<String>,
    pub body: Option<String>,
    pub occurred_at: crate::clock::Millis,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    opt_out_confirmation: Option<toml::Spanned<Section>>,
    #[serde(default)]
    help: Option<toml::Spanned<Section>>,
    #[serde(default)]
    out_of_hours: Option<toml::Spanned<Section>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    enabled: bool,
    /// HELP only: the whole reply, any case.
    #[serde(default)]
    keywords: Vec<String>,
    /// By two-letter language; `en` answers when the customer's language has none.
    #[serde(default)]
    text: BTreeMap<String, String>,
}

/// One kind of auto-reply, when enabled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    pub keywords: Vec<String>,
    pub text: BTreeMap<String, String>,
}

impl Answer {
    fn in_language(&self, lang: Option<&str>) -> Option<&str> {
        lang.and_then(|l| self.text.get(&l.to_ascii_lowercase()))
            .or_else(|| self.text.get("en"))
            .or_else(|| self.text.values().next())
            .map(String::as_str)
    }
}

/// The enabled auto-replies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoReplies {
    pub opt_out_confirmation: Option<Answer>,
    pub help: Option<Answer>,
    pub out_of_hours: Option<Answer>,
}

impl AutoReplies {
    pub fn load_dir(dir: &Path) -> Result<AutoReplies, FileError> {
        match read_rules_file(dir, FILE)? {
            Some((text, path)) => AutoReplies::parse(&text, &path),
            None => Ok(AutoReplies::default()),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<AutoReplies, FileError> {
        let err = |line: usize, reason: String| FileError {
            file: path.to_path_buf(),
            line,
            reason,
        };
        let file: File = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
        let section = |s: Option<toml::Spanned<Section>>, name: &str, needs_keywords: bool| {
            let Some(s) = s else { return Ok(None) };
            let line = crate::classify::line_of(text, s.span().start);
            let s = s.into_inner();
            for (lang, t) in &s.text {
                if lang.len() != 2 || !lang.chars().all(|c| c.is_ascii_lowercase()) {
                    return Err(err(
                        line,
                        format!("[{name}] text.{lang}: use a two-letter language code such as en"),
                    ));
                }
                if t.trim().is_empty() {
                    return Err(err(line, format!("[{name}] text.{lang} is empty")));
                }
            }
            if !s.enabled {
                return Ok(None);
            }
            if s.text.is_empty() {
                return Err(err(line, format!("[{name}] is enabled but has no text")));
            }
            if needs_keywords && s.keywords.iter().all(|k| k.trim().is_empty()) {
                return Err(err(
                    line,
                    format!("[{name}] is enabled but has no keywords"),
                ));
            }
            Ok(Some(Answer {
                keywords: s.keywords.iter().map(|k| k.trim().to_uppercase()).collect(),
                text: s.text,
            }))
        };
        Ok(AutoReplies {
            opt_out_confirmation: section(
                file.opt_out_confirmation,
                "opt_out_confirmation",
                false,
            )?,
            help: section(file.help, "help", true)?,
            out_of_hours: section(file.out_of_hours, "out_of_hours", false)?,
        })
    }

    pub fn any(&self) -> bool {
        self.opt_out_confirmation.is_some() || self.help.is_some() || self.out_of_hours.is_some()
    }
}

/// Sends the auto-replies the router's replies call for.
#[derive(Debug, Clone)]
pub struct AutoResponder {
    pub db: Db,
    pub replies: Replies,
    /// Read for each reply, so a change on disk applies at once.
    pub files: Arc<super::ReplyFiles>,
    pub calendars: Arc<Calendars>,
}

impl AutoResponder {
    /// Handles what the router routes, until `stop` (or the router goes away).
    pub async fn run(
        self,
        mut routed: tokio::sync::mpsc::UnboundedReceiver<Vec<Routed>>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            let batch = tokio::select! {
                () = stop.cancelled() => return,
                batch = routed.recv() => batch,
            };
            let Some(batch) = batch else { return };
            for r in batch {
                if let Err(error) = self.answer(&r).await {
                    tracing::error!(%error, conversation = %r.conversation_id, "an auto-reply could not be queued; the conversation is answered by agents as usual");
                }
            }
        }
    }

    /// Queues what this reply calls for, if anything; returns how many.
    pub async fn answer(&self, r: &Routed) -> Result<usize, ReplyError> {
        let answers = self.files.auto();
        if !answers.any() {
            return Ok(0);
        }
        let Some(c) = crate::conversations::load(&self.db, &r.conversation_id).await? else {
            return Ok(0);
        };
        let lang = r.lang.as_deref().or(c.lang.as_deref());
        let mut wanted: Vec<(&str, &Answer, String, bool)> = Vec::new();
        if r.category == Category::OptOut
            && let Some(a) = &answers.opt_out_confirmation
        {
            wanted.push(("opt_out", a, format!("auto:opt_out:{}", r.event_id), true));
        }
        let said = r
            .body
            .as_deref()
            .unwrap_or_default()
            .trim()
            .trim_end_matches(['!', '?', '.'])
            .to_uppercase();
        if let Some(a) = &answers.help
            && a.keywords.contains(&said)
        {
            wanted.push(("help", a, format!("auto:help:{}", r.event_id), false));
        }
        if let Some(a) = &answers.out_of_hours
            && r.category != Category::OptOut
            && let Some(hours) = self.calendars.for_team(c.team.as_deref())
            && !hours.is_open(r.occurred_at)
        {
            // The closed period is named by the opening that ends it.
            let opens = hours.due_at(r.occurred_at, 0);
            wanted.push((
                "out_of_hours",
                a,
                format!("auto:out_of_hours:{opens}"),
                false,
            ));
        }
        let mut queued = 0;
        for (kind, answer, key, confirms_opt_out) in wanted {
            let Some(text) = answer.in_language(lang) else {
                continue;
            };
            let author = Author {
                name: format!("auto:{kind}"),
                confirms_opt_out,
            };
            let request = Request::Text {
                body: text.to_string(),
                reply_to: None,
            };
            match self.replies.queue(&c, &author, request, &key).await {
                Ok(q) if q.created => queued += 1,
                Ok(_) => {}
                Err(ReplyError::Refused(why)) => {
                    tracing::info!(conversation = %c.id, kind, reason = why.reason, "auto-reply not sent: {}", why.explanation);
                }
                Err(ReplyError::CannotSend(why)) => {
                    tracing::debug!(conversation = %c.id, kind, "auto-reply not sent: {why}");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_off_until_enabled_and_checked_either_way() {
        let off = "[help]\nkeywords = [\"HELP\"]\ntext.en = \"We answer within a day.\"\n";
        assert_eq!(
            AutoReplies::parse(off, Path::new("a")).unwrap(),
            AutoReplies::default()
        );
        let on = "[help]\nenabled = true\nkeywords = [\"help\", \"info\"]\ntext.en = \"Hi\"\ntext.nl = \"Hoi\"\n";
        let a = AutoReplies::parse(on, Path::new("a")).unwrap();
        let help = a.help.unwrap();
        assert_eq!(help.keywords, ["HELP", "INFO"]);
        assert_eq!(help.in_language(Some("nl")), Some("Hoi"));
        assert_eq!(
            help.in_language(Some("de")),
            Some("Hi"),
            "English when the language has no text"
        );
        let bad = "[help]\n\n[out_of_hours]\nenabled = true\n";
        let e = AutoReplies::parse(bad, Path::new("auto_replies.toml")).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.reason.contains("no text"), "{e}");
        let e = AutoReplies::parse("[help]\ntext.english = \"x\"\n", Path::new("a")).unwrap_err();
        assert!(e.reason.contains("two-letter"), "{e}");
    }
}
