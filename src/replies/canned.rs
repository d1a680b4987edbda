//! Canned responses: answers agents pick by typing `/` and a name in the
//! reply box, per team and language, with the variables `{{first_name}}`
//! (the contact's first name, or nothing) and `{{agent}}` (the agent's
//! name as their email gives it). Written in `rules/canned_responses.toml`,
//! followed on disk by [`super::ReplyFiles`].

use serde::Deserialize;
use std::path::Path;

use super::{FileError, read_rules_file, toml_error};

pub const FILE: &str = "canned_responses.toml";

const VARIABLES: [&str; 2] = ["first_name", "agent"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canned {
    /// What the agent types after `/`.
    pub name: String,
    /// Only for this team; every team when `None`.
    pub team: Option<String>,
    /// Only for conversations in this language; every language when `None`.
    pub lang: Option<String>,
    pub text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    response: Vec<toml::Spanned<Entry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    text: String,
}

/// Reads the file from the rules directory; without it there are none.
pub fn load_dir(dir: &Path, teams: &[String]) -> Result<Vec<Canned>, FileError> {
    match read_rules_file(dir, FILE)? {
        Some((text, path)) => parse(&text, &path, teams),
        None => Ok(Vec::new()),
    }
}

pub fn parse(text: &str, path: &Path, teams: &[String]) -> Result<Vec<Canned>, FileError> {
    let err = |line: usize, reason: String| FileError {
        file: path.to_path_buf(),
        line,
        reason,
    };
    let file: File = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
    let mut out: Vec<Canned> = Vec::new();
    for spanned in file.response {
        let line = crate::classify::line_of(text, spanned.span().start);
        let e = spanned.into_inner();
        check(&e, teams).map_err(|reason| err(line, reason))?;
        let c = Canned {
            name: e.name.trim().to_string(),
            team: e.team,
            lang: e.lang.map(|l| l.trim().to_ascii_lowercase()),
            text: e.text.trim().to_string(),
        };
        if out
            .iter()
            .any(|o| o.name == c.name && o.team == c.team && o.lang == c.lang)
        {
            return Err(err(
                line,
                format!(
                    "a response named {:?} for this team and language is already defined",
                    c.name
                ),
            ));
        }
        out.push(c);
    }
    Ok(out)
}

fn check(e: &Entry, teams: &[String]) -> Result<(), String> {
    let name = e.name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "name {name:?}: use letters, digits, - and _ (agents type it after /)"
        ));
    }
    if let Some(team) = &e.team
        && !teams.contains(team)
    {
        return Err(format!("team {team:?} is not a [[team]] of replydesk.toml"));
    }
    if let Some(lang) = &e.lang
        && (lang.trim().len() != 2 || !lang.trim().chars().all(|c| c.is_ascii_alphabetic()))
    {
        return Err(format!(
            "lang {lang:?}: give a two-letter language code such as \"en\""
        ));
    }
    if e.text.trim().is_empty() {
        return Err("text is empty".into());
    }
    for var in variables(&e.text) {
        if !VARIABLES.contains(&var) {
            return Err(format!(
                "text: unknown variable {{{{{var}}}}}; the variables are {{{{first_name}}}} and {{{{agent}}}}"
            ));
        }
    }
    Ok(())
}

/// The `{{name}}` variables a text uses.
fn variables(text: &str) -> impl Iterator<Item = &str> {
    text.split("{{")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}").map(|(v, _)| v.trim()))
}

/// The responses an agent of `team` may pick in a conversation in `lang`:
/// those of the conversation's language (or of every language) first.
pub fn for_conversation<'a>(
    all: &'a [Canned],
    team: Option<&str>,
    lang: Option<&str>,
) -> Vec<&'a Canned> {
    let mut out: Vec<&Canned> = all
        .iter()
        .filter(|c| c.team.is_none() || c.team.as_deref() == team)
        .filter(|c| match (lang, c.lang.as_deref()) {
            (Some(l), Some(cl)) => l.eq_ignore_ascii_case(cl),
            _ => true,
        })
        .collect();
    out.sort_by_key(|c| (c.lang.is_none(), c.team.is_none(), c.name.clone()));
    out
}

/// The text with its variables filled in.
pub fn fill(text: &str, contact_name: Option<&str>, agent_email: &str) -> String {
    let first = contact_name
        .and_then(|n| n.split_whitespace().next())
        .unwrap_or_default();
    let agent = agent_email.split('@').next().unwrap_or(agent_email);
    let agent = agent
        .split(['.', '_', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    text.replace("{{first_name}}", first)
        .replace("{{ first_name }}", first)
        .replace("{{agent}}", &agent)
        .replace("{{ agent }}", &agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn teams() -> Vec<String> {
        vec!["sales".into(), "service".into()]
    }

    #[test]
    fn responses_are_read_and_filled() {
        let text = r#"
[[response]]
name = "price"
team = "sales"
lang = "en"
text = "Hi {{first_name}}, it is 20 euros a month. {{agent}}"

[[response]]
name = "price"
team = "sales"
lang = "nl"
text = "Hoi {{first_name}}, het kost 20 euro per maand."
"#;
        let all = parse(text, Path::new("canned_responses.toml"), &teams()).unwrap();
        let picked = for_conversation(&all, Some("sales"), Some("nl"));
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].lang.as_deref(), Some("nl"));
        assert!(for_conversation(&all, Some("service"), None).is_empty());
        assert_eq!(
            fill(
                &all[0].text,
                Some("Ana Cliente"),
                "jan.de-vries@example.com"
            ),
            "Hi Ana, it is 20 euros a month. Jan De Vries"
        );
    }

    #[test]
    fn a_broken_response_is_reported_at_its_line() {
        let text = "[[response]]\nname = \"ok\"\ntext = \"fine\"\n\n[[response]]\nname = \"bad\"\ntext = \"Hi {{firstname}}\"\n";
        let e = parse(text, Path::new("canned_responses.toml"), &teams()).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        assert!(e.reason.contains("firstname"), "{e}");
        let e = parse(
            "[[response]]\nname = \"x\"\nteam = \"nobody\"\ntext = \"t\"\n",
            Path::new("f"),
            &teams(),
        )
        .unwrap_err();
        assert!(e.reason.contains("nobody"), "{e}");
    }
}
