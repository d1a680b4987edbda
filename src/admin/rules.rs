//! Rules files as administrators change them: read, check a candidate text
//! beside the other files, activate it (write the file atomically, reload,
//! record the version), and restore any earlier version the same way.
//!
//! The files in the rules directory stay the source of truth, so admins can
//! keep them in git: the database only remembers every version's full text
//! (`rule_versions`) so the history can show diffs and restore. Texts found
//! on disk that the history does not know yet (edited outside the editor)
//! are recorded as `disk` versions before anything else is written, so a
//! restore can always go back to them. Past classifications are never
//! touched: replies keep the rule and version that decided them.

use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::{AdminError, Problem, audit, invalid};
use crate::classify::{LiveRules, RuleSet, RulesErrors};
use crate::clock::Millis;
use crate::store::Db;

/// The base hash an editor sends for a file that does not exist yet.
pub const ABSENT: &str = "absent";

/// How a version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Edited in the browser and activated.
    Activated,
    /// An earlier version put back.
    Restored,
    /// A correction turned into an example.
    Example,
    /// Found on disk, written outside the editor.
    Disk,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Activated => "activated",
            Kind::Restored => "restored",
            Kind::Example => "example",
            Kind::Disk => "disk",
        }
    }

    fn audit_action(self) -> &'static str {
        match self {
            Kind::Activated => "rules.activate",
            Kind::Restored => "rules.restore",
            Kind::Example => "rules.example",
            Kind::Disk => "rules.changed_on_disk",
        }
    }
}

/// One rules file on disk, with the rules it defines.
#[derive(Debug, Clone)]
pub struct FileInfo {
    pub name: String,
    pub sha: String,
    pub text: String,
    pub rules: Vec<RuleInfo>,
    pub examples: usize,
    /// Set when the file does not parse; the rules list is then empty.
    pub unreadable: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub id: String,
    pub category: String,
    pub line: usize,
}

/// Just enough of the rules format to list a file's rules; the classifier
/// owns the real parsing and every check.
#[derive(serde::Deserialize)]
struct Outline {
    #[serde(default)]
    rule: Vec<OutlineRule>,
    #[serde(default)]
    example: Vec<toml::Value>,
}

#[derive(serde::Deserialize)]
struct OutlineRule {
    id: toml::Spanned<String>,
    category: String,
}

pub fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn io_error(e: impl std::fmt::Display) -> AdminError {
    AdminError::Io(e.to_string())
}

/// Refuses anything but a plain rules file name (no paths, no reserved files).
pub fn valid_name(name: &str) -> Result<(), AdminError> {
    let plain = Path::new(name).file_name().and_then(|n| n.to_str()) == Some(name);
    if plain && LiveRules::is_rules_file(name) && name.len() <= 100 {
        Ok(())
    } else {
        Err(invalid(
            "file",
            format!(
                "{name:?} is not a rules file name (NN-name.toml, not hidden, not status_codes.toml or preference_policy.toml)"
            ),
        ))
    }
}

/// Every rules file of `dir`, in name order (the order rules are tried).
pub fn read_files(dir: &Path) -> Result<Vec<FileInfo>, AdminError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && LiveRules::is_rules_file(name)
            && path.is_file()
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let text = std::fs::read_to_string(dir.join(&name)).map_err(io_error)?;
        files.push(file_info(name, text));
    }
    Ok(files)
}

fn file_info(name: String, text: String) -> FileInfo {
    let (rules, examples, unreadable) = match toml::from_str::<Outline>(&text) {
        Ok(outline) => (
            outline
                .rule
                .iter()
                .map(|r| RuleInfo {
                    id: r.id.get_ref().clone(),
                    category: r.category.clone(),
                    line: line_of(&text, r.id.span().start),
                })
                .collect(),
            outline.example.len(),
            None,
        ),
        Err(e) => (Vec::new(), 0, Some(e.message().to_string())),
    };
    FileInfo {
        name,
        sha: sha256(&text),
        text,
        rules,
        examples,
        unreadable,
    }
}

/// The text of one rules file, or `None` when it does not exist.
pub fn read_file(dir: &Path, name: &str) -> Result<Option<String>, AdminError> {
    valid_name(name)?;
    match std::fs::read_to_string(dir.join(name)) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(e)),
    }
}

/// The rules set the directory would have with `file` replaced by `text`:
/// compiled, with every example of every file run. Nothing is written to
/// the rules directory; the candidate is assembled in a scratch directory.
pub async fn check(dir: &Path, file: &str, text: &str) -> Result<Arc<RuleSet>, AdminError> {
    valid_name(file)?;
    let (dir, file, text) = (dir.to_path_buf(), file.to_string(), text.to_string());
    // Compiling patterns and running every example takes tens of milliseconds.
    tokio::task::spawn_blocking(move || check_blocking(&dir, &file, &text).map(Arc::new))
        .await
        .map_err(io_error)?
}

fn check_blocking(dir: &Path, file: &str, text: &str) -> Result<RuleSet, AdminError> {
    let scratch = tempfile::Builder::new()
        .prefix("replydesk-candidate-")
        .tempdir()
        .map_err(io_error)?;
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && LiveRules::is_rules_file(name)
            && name != file
            && path.is_file()
        {
            std::fs::copy(&path, scratch.path().join(name)).map_err(io_error)?;
        }
    }
    std::fs::write(scratch.path().join(file), text).map_err(io_error)?;
    RuleSet::load_dir(scratch.path()).map_err(|e| AdminError::Rules(problems(scratch.path(), &e)))
}

/// Names files by their name alone: the scratch directory means nothing to
/// an administrator.
pub fn problems(dir: &Path, errors: &RulesErrors) -> Vec<Problem> {
    let prefix = format!("{}/", dir.display());
    errors
        .0
        .iter()
        .map(|e| Problem {
            file: match e.file.strip_prefix(dir) {
                Ok(rest) if !rest.as_os_str().is_empty() => rest.display().to_string(),
                _ => "(rules directory)".to_string(),
            },
            line: e.line,
            reason: e.reason.replace(&prefix, ""),
        })
        .collect()
}

/// A stored version of one file.
#[derive(Debug, Clone)]
pub struct Version {
    pub id: String,
    pub file: String,
    pub sha: String,
    pub body: String,
    pub set_version: Option<String>,
    pub kind: String,
    pub restored_from: Option<String>,
    pub correction_id: Option<String>,
    pub actor: String,
    pub comment: Option<String>,
    pub at: Millis,
}

const VERSION_COLUMNS: &str =
    "id, file, sha256, body, set_version, kind, restored_from, correction_id, actor, comment, at";

fn version_from(r: &sqlx::any::AnyRow) -> Result<Version, sqlx::Error> {
    Ok(Version {
        id: r.try_get(0)?,
        file: r.try_get(1)?,
        sha: r.try_get(2)?,
        body: r.try_get(3)?,
        set_version: r.try_get(4)?,
        kind: r.try_get(5)?,
        restored_from: r.try_get(6)?,
        correction_id: r.try_get(7)?,
        actor: r.try_get(8)?,
        comment: r.try_get(9)?,
        at: r.try_get(10)?,
    })
}

/// Versions of one file, newest first.
pub async fn versions(db: &Db, file: &str, limit: i64) -> Result<Vec<Version>, AdminError> {
    let rows = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM rule_versions WHERE file = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(file)
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    Ok(rows.iter().map(version_from).collect::<Result<_, _>>()?)
}

/// The latest changes made through the editor (not those found on disk), newest first.
pub async fn recent_activations(db: &Db, limit: i64) -> Result<Vec<Version>, AdminError> {
    let rows = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM rule_versions WHERE kind <> 'disk' ORDER BY id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db.reader())
    .await?;
    Ok(rows.iter().map(version_from).collect::<Result<_, _>>()?)
}

pub async fn version(db: &Db, id: &str) -> Result<Option<Version>, AdminError> {
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM rule_versions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.reader())
    .await?;
    Ok(row.as_ref().map(version_from).transpose()?)
}

/// The sha of each file's latest recorded version.
async fn latest_shas(db: &Db) -> Result<HashMap<String, String>, AdminError> {
    let rows = sqlx::query(
        "SELECT r.file, r.sha256 FROM rule_versions r \
         WHERE r.id = (SELECT MAX(l.id) FROM rule_versions l WHERE l.file = r.file)",
    )
    .fetch_all(db.reader())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Records the text of every rules file the history does not know yet
/// (first use, or an edit made outside the editor). Returns how many.
pub async fn record_disk_versions(db: &Db, dir: &Path, now: Millis) -> Result<usize, AdminError> {
    let latest = latest_shas(db).await?;
    let changed: Vec<FileInfo> = read_files(dir)?
        .into_iter()
        .filter(|f| latest.get(&f.name) != Some(&f.sha))
        .collect();
    if changed.is_empty() {
        return Ok(0);
    }
    let mut tx = db.writer().begin().await?;
    for f in &changed {
        let previous = latest.get(&f.name);
        let comment = if previous.is_some() {
            "changed on disk outside the editor"
        } else {
            "as found on disk when the history started"
        };
        insert_version(
            &mut tx,
            &NewVersion {
                file: &f.name,
                sha: &f.sha,
                body: &f.text,
                set_version: None,
                kind: Kind::Disk,
                restored_from: None,
                correction_id: None,
                actor: "system",
                comment: Some(comment),
            },
            now,
        )
        .await?;
        // A first sighting is not a change; a different text is.
        if let Some(previous) = previous {
            audit::record(
                &mut *tx,
                "system",
                Kind::Disk.audit_action(),
                &f.name,
                Some(&json!({ "sha256": previous })),
                Some(&json!({ "sha256": f.sha })),
                now,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(changed.len())
}

struct NewVersion<'a> {
    file: &'a str,
    sha: &'a str,
    body: &'a str,
    set_version: Option<&'a str>,
    kind: Kind,
    restored_from: Option<&'a str>,
    correction_id: Option<&'a str>,
    actor: &'a str,
    comment: Option<&'a str>,
}

async fn insert_version(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    v: &NewVersion<'_>,
    now: Millis,
) -> Result<String, AdminError> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(&format!(
        "INSERT INTO rule_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&id)
    .bind(v.file)
    .bind(v.sha)
    .bind(v.body)
    .bind(v.set_version)
    .bind(v.kind.as_str())
    .bind(v.restored_from)
    .bind(v.correction_id)
    .bind(v.actor)
    .bind(v.comment)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// A change an administrator asks to activate.
#[derive(Debug, Clone)]
pub struct Change {
    pub file: String,
    pub text: String,
    /// The sha256 of the file as the editor loaded it ([`ABSENT`] for a new file).
    pub base_sha: String,
    pub actor: String,
    pub comment: String,
    pub kind: Kind,
    pub restored_from: Option<String>,
    pub correction_id: Option<String>,
}

/// What an activation did.
#[derive(Debug, Clone)]
pub struct Activated {
    pub version_id: String,
    pub set_version: String,
    pub previous_set_version: String,
    /// The file's new sha256: the editor's next base.
    pub sha: String,
}

/// Checks, writes and activates one file. Refuses when the file changed on
/// disk since the editor loaded it (with the difference), when nothing
/// changed, or when the candidate set has problems; the active set then
/// stays as it was.
pub async fn activate(
    db: &Db,
    live: &Arc<LiveRules>,
    lock: &tokio::sync::Mutex<()>,
    change: Change,
    now: Millis,
) -> Result<Activated, AdminError> {
    valid_name(&change.file)?;
    if change.comment.trim().is_empty() {
        return Err(invalid(
            "comment",
            "say in a few words what this change does; the history shows it",
        ));
    }
    let _one_at_a_time = lock.lock().await;
    let dir = live.dir().to_path_buf();
    let disk = read_file(&dir, &change.file)?;
    let disk_sha = disk.as_deref().map_or_else(|| ABSENT.to_string(), sha256);
    if disk_sha != change.base_sha {
        return Err(AdminError::ChangedOnDisk {
            file: change.file.clone(),
            diff: diff(disk.as_deref().unwrap_or(""), &change.text),
            disk_sha,
        });
    }
    if disk.as_deref() == Some(change.text.as_str()) {
        return Err(invalid(
            "text",
            "this text is already the file on disk: nothing to activate",
        ));
    }
    check(&dir, &change.file, &change.text).await?;
    // The text being replaced must be restorable, even if it was written by hand.
    record_disk_versions(db, &dir, now).await?;
    let previous_set_version = live.version();
    write_atomically(&dir, &change.file, &change.text)?;
    if let Err(errors) = reload(live).await {
        // Another file changed between the check and now: put ours back so
        // the directory matches the active set again.
        match &disk {
            Some(old) => write_atomically(&dir, &change.file, old)?,
            None => std::fs::remove_file(dir.join(&change.file)).map_err(io_error)?,
        }
        let _ = reload(live).await;
        return Err(AdminError::Rules(problems(&dir, &errors)));
    }
    let set_version = live.version();
    let sha = sha256(&change.text);
    // The file is written and active; if recording fails, the next page view
    // records it as found on disk, so the history never loses a text.
    let mut tx = db.writer().begin().await?;
    let version_id = insert_version(
        &mut tx,
        &NewVersion {
            file: &change.file,
            sha: &sha,
            body: &change.text,
            set_version: Some(&set_version),
            kind: change.kind,
            restored_from: change.restored_from.as_deref(),
            correction_id: change.correction_id.as_deref(),
            actor: &change.actor,
            comment: Some(change.comment.trim()),
        },
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        &change.actor,
        change.kind.audit_action(),
        &change.file,
        Some(&json!({ "sha256": disk_sha, "set_version": previous_set_version })),
        Some(&json!({
            "sha256": sha, "set_version": set_version, "version": version_id,
            "comment": change.comment.trim(), "restored_from": change.restored_from,
            "correction": change.correction_id,
        })),
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(file = %change.file, version = %set_version, previous = %previous_set_version,
        kind = change.kind.as_str(), "rules file activated from the admin editor");
    Ok(Activated {
        version_id,
        set_version,
        previous_set_version,
        sha,
    })
}

async fn reload(live: &Arc<LiveRules>) -> Result<(), RulesErrors> {
    let live = live.clone();
    tokio::task::spawn_blocking(move || live.reload())
        .await
        .unwrap_or_else(|e| {
            Err(RulesErrors(vec![crate::classify::RulesError {
                file: std::path::PathBuf::new(),
                line: 0,
                reason: format!("reload did not finish: {e}"),
            }]))
        })
}

/// Puts an earlier version of a file back, through the same check and
/// activation as an edit.
#[allow(clippy::too_many_arguments)]
pub async fn restore(
    db: &Db,
    live: &Arc<LiveRules>,
    lock: &tokio::sync::Mutex<()>,
    version_id: &str,
    base_sha: &str,
    actor: &str,
    note: Option<&str>,
    now: Millis,
) -> Result<Activated, AdminError> {
    let v = version(db, version_id)
        .await?
        .ok_or(AdminError::NotFound("version"))?;
    let when = jiff::Timestamp::from_millisecond(v.at).map_or_else(
        |_| v.at.to_string(),
        |t| t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
    );
    let mut comment = format!("restored the version of {when} by {}", v.actor);
    if let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) {
        comment = format!("{comment}: {note}");
    }
    activate(
        db,
        live,
        lock,
        Change {
            file: v.file.clone(),
            text: v.body.clone(),
            base_sha: base_sha.to_string(),
            actor: actor.to_string(),
            comment,
            kind: Kind::Restored,
            restored_from: Some(v.id.clone()),
            correction_id: None,
        },
        now,
    )
    .await
}

/// Writes a file so that readers (and the directory watcher) see either the
/// old or the new text, never half of one: a hidden temporary file in the
/// same directory, flushed, then renamed over the old one.
fn write_atomically(dir: &Path, name: &str, text: &str) -> Result<(), AdminError> {
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(format!("{name}: {e}")));
    }
    // Make the rename itself durable; not every platform can sync a directory.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// One line of a unified diff: `tag` is ' ', '+', '-' or '@' (a hunk header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    pub tag: char,
    pub text: String,
}

/// The line-by-line difference from `old` to `new`, three lines of context.
pub fn diff(old: &str, new: &str) -> Vec<DiffLine> {
    use similar::{ChangeTag, TextDiff};
    let d = TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for group in d.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (old_range, new_range) = (first.old_range(), first.new_range());
        out.push(DiffLine {
            tag: '@',
            text: format!(
                "@@ lines {}–{} → {}–{} @@",
                old_range.start + 1,
                last.old_range().end,
                new_range.start + 1,
                last.new_range().end
            ),
        });
        for op in &group {
            for change in d.iter_changes(op) {
                out.push(DiffLine {
                    tag: match change.tag() {
                        ChangeTag::Equal => ' ',
                        ChangeTag::Insert => '+',
                        ChangeTag::Delete => '-',
                    },
                    text: change.value().trim_end_matches(['\n', '\r']).to_string(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_plain_rules_files() {
        assert!(valid_name("50-interest.toml").is_ok());
        for bad in [
            "../x.toml",
            "a/b.toml",
            ".hidden.toml",
            "status_codes.toml",
            "x.txt",
        ] {
            assert!(valid_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_diff_marks_added_and_removed_lines() {
        let d = diff("a\nb\nc\n", "a\nB\nc\n");
        let tags: String = d.iter().map(|l| l.tag).collect();
        assert_eq!(tags, "@ -+ ", "{d:?}");
    }

    #[test]
    fn the_outline_lists_rules_with_their_lines() {
        let f = file_info(
            "x.toml".into(),
            "# c\n[[rule]]\nid = \"a\"\ncategory = \"noise\"\nkeywords = [\"ok\"]\n".into(),
        );
        assert_eq!(f.rules.len(), 1);
        assert_eq!(f.rules[0].id, "a");
        assert_eq!(f.rules[0].line, 3);
    }
}
