//! The rules pages for administrators: every file with its rules, the
//! editor (check, dry run, activate), the history with diffs and restore,
//! and the corrections loop. Handlers extract, call one `admin` function and
//! render; an htmx request gets the editor's `result` block only.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::BTreeMap;

use super::{Chrome, htmx, render};
use crate::admin::dry_run::{self, Options, Report};
use crate::admin::jobs::State as JobState;
use crate::admin::rules::{self, Activated, Change, DiffLine, Kind};
use crate::admin::{AdminError, MAX_DRY_RUN_DAYS, Problem, corrections};
use crate::model::Category;
use crate::web::format;
use crate::web::session::{Admin, CurrentUser};
use crate::web::{AppState, WebError};

impl From<AdminError> for WebError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(what) => WebError::NotFound(what),
            AdminError::Invalid { field, message } => WebError::bad(field, message),
            AdminError::Store(s) => s.into(),
            AdminError::Io(m) => WebError::Internal(m),
            other @ (AdminError::Rules(_) | AdminError::ChangedOnDisk { .. }) => {
                WebError::Conflict(other.to_string())
            }
        }
    }
}

/// Browsers send a textarea's lines with CRLF (HTML form encoding); files keep LF.
fn from_textarea(text: &str) -> String {
    text.replace("\r\n", "\n")
}

pub struct ProblemView {
    file: String,
    line: usize,
    reason: String,
    /// In the file being edited (link to the line) or another file.
    here: bool,
}

pub struct DiffView {
    tag: char,
    class: &'static str,
    text: String,
}

fn diff_views(lines: Vec<DiffLine>) -> Vec<DiffView> {
    lines
        .into_iter()
        .map(|l| DiffView {
            class: match l.tag {
                '+' => "add",
                '-' => "del",
                '@' => "hunk",
                _ => "same",
            },
            tag: if l.tag == '@' { ' ' } else { l.tag },
            text: l.text,
        })
        .collect()
}

pub struct ChangeView {
    when: String,
    message_id: String,
    text: String,
    from: &'static str,
    to: &'static str,
    from_rule: String,
    to_rule: String,
    from_matched: Option<String>,
    to_matched: Option<String>,
    lost: bool,
}

/// One cell of the moves matrix: (to, same category as the row, count).
type MoveCell = (&'static str, bool, usize);

pub struct DryRunView {
    replayed: usize,
    changed: usize,
    since: String,
    capped: bool,
    cap: usize,
    active: String,
    candidate: String,
    lost: usize,
    /// (category, active, candidate, change)
    counts: Vec<(&'static str, usize, usize, String)>,
    categories: Vec<&'static str>,
    matrix: Vec<(&'static str, Vec<MoveCell>)>,
    moves: Vec<(&'static str, &'static str, usize)>,
    changes: Vec<ChangeView>,
    shown: usize,
}

/// Changed replies listed on the page; the counts cover them all.
const CHANGES_SHOWN: usize = 200;

fn dry_run_view(r: &Report) -> DryRunView {
    let count = |m: &BTreeMap<Category, usize>, c: &Category| m.get(c).copied().unwrap_or(0);
    let changes: Vec<ChangeView> = r
        .changes
        .iter()
        .take(CHANGES_SHOWN)
        .map(|c| ChangeView {
            when: format::when(c.received_at),
            message_id: c.message_id.clone().unwrap_or_default(),
            text: c.text.clone().unwrap_or_default(),
            from: c.from.as_str(),
            to: c.to.as_str(),
            from_rule: c.from_rule.clone(),
            to_rule: c.to_rule.clone(),
            from_matched: c.from_matched.clone(),
            to_matched: c.to_matched.clone(),
            lost: c.loses_opt_out(),
        })
        .collect();
    DryRunView {
        replayed: r.replayed,
        changed: r.changed,
        since: format::when(r.since),
        capped: r.capped,
        cap: r.cap,
        active: r.active_version.clone(),
        candidate: r.candidate_version.clone(),
        lost: r.lost_opt_outs(),
        counts: Category::ALL
            .iter()
            .map(|c| {
                let (b, a) = (count(&r.before, c), count(&r.after, c));
                let delta = i64::try_from(a).unwrap_or(0) - i64::try_from(b).unwrap_or(0);
                let delta = if delta > 0 {
                    format!("+{delta}")
                } else {
                    delta.to_string()
                };
                (c.as_str(), b, a, delta)
            })
            .collect(),
        categories: Category::ALL.iter().map(|c| c.as_str()).collect(),
        matrix: Category::ALL
            .iter()
            .map(|from| {
                let cells = Category::ALL
                    .iter()
                    .map(|to| {
                        let n = r.moves.get(&(*from, *to)).copied().unwrap_or(0);
                        (to.as_str(), from == to, n)
                    })
                    .collect();
                (from.as_str(), cells)
            })
            .collect(),
        moves: r
            .moves
            .iter()
            .map(|((f, t), n)| (f.as_str(), t.as_str(), *n))
            .collect(),
        shown: changes.len(),
        changes,
    }
}

/// What the editor's result area shows.
pub enum Outcome {
    None,
    Message(String),
    Problems(Vec<ProblemView>),
    CheckOk {
        version: String,
        files: usize,
        rules: usize,
        examples: usize,
    },
    Running {
        job: String,
        done: usize,
        total: usize,
        percent: usize,
    },
    DryRun(Box<DryRunView>),
    Failed(String),
    Activated {
        set_version: String,
        previous: String,
        version_id: String,
    },
    Conflict {
        disk_sha: String,
        diff: Vec<DiffView>,
    },
}

fn problems_view(problems: Vec<Problem>, file: &str) -> Outcome {
    Outcome::Problems(
        problems
            .into_iter()
            .map(|p| ProblemView {
                here: p.file == file,
                file: p.file,
                line: p.line,
                reason: p.reason,
            })
            .collect(),
    )
}

#[derive(Template)]
#[template(path = "admin_editor.html")]
struct EditorPage {
    chrome: Chrome,
    file: String,
    active_version: String,
    message: Option<String>,
    base_sha: String,
    correction_id: Option<String>,
    lines: Vec<usize>,
    bad_lines: Vec<usize>,
    rows: usize,
    text: String,
    days: u32,
    max_days: u32,
    comment: String,
    comment_error: Option<String>,
    oob: bool,
    new_sha: Option<String>,
    result: Outcome,
}

#[derive(Template)]
#[template(path = "admin_editor.html", block = "result")]
struct ResultFragment {
    file: String,
    comment: String,
    comment_error: Option<String>,
    oob: bool,
    new_sha: Option<String>,
    result: Outcome,
}

/// The form every editor button posts.
#[derive(Deserialize)]
pub struct EditForm {
    text: String,
    base_sha: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    days: Option<String>,
    #[serde(default)]
    correction_id: Option<String>,
}

/// The editor as a whole page or, for htmx, its result block.
struct Editor {
    file: String,
    text: String,
    base_sha: String,
    comment: String,
    comment_error: Option<String>,
    correction_id: Option<String>,
    days: u32,
    message: Option<String>,
    new_sha: Option<String>,
    result: Outcome,
}

impl Editor {
    fn from_form(file: String, form: EditForm, default_days: u32) -> Editor {
        Editor {
            file,
            text: from_textarea(&form.text),
            base_sha: form.base_sha,
            comment: form.comment,
            comment_error: None,
            correction_id: form.correction_id.filter(|c| !c.is_empty()),
            days: form
                .days
                .and_then(|d| d.trim().parse().ok())
                .unwrap_or(default_days),
            message: None,
            new_sha: None,
            result: Outcome::None,
        }
    }

    async fn respond(
        self,
        state: &AppState,
        current: &CurrentUser,
        headers: &HeaderMap,
    ) -> Response {
        if htmx(headers) {
            return render(&ResultFragment {
                file: self.file,
                comment: self.comment,
                comment_error: self.comment_error,
                oob: true,
                new_sha: self.new_sha,
                result: self.result,
            });
        }
        let line_count = self.text.lines().count().max(1);
        let bad_lines = match &self.result {
            Outcome::Problems(ps) => ps.iter().filter(|p| p.here).map(|p| p.line).collect(),
            _ => Vec::new(),
        };
        render(&EditorPage {
            chrome: Chrome::for_user(state, current, "admin-rules").await,
            active_version: state.rules.version(),
            message: self.message,
            base_sha: self.new_sha.unwrap_or(self.base_sha),
            correction_id: self.correction_id,
            lines: (1..=line_count).collect(),
            bad_lines,
            rows: line_count + 2,
            text: self.text,
            days: self.days,
            max_days: MAX_DRY_RUN_DAYS,
            comment: self.comment,
            comment_error: self.comment_error,
            oob: false,
            new_sha: None,
            file: self.file,
            result: self.result,
        })
    }
}

pub async fn index(_: Admin) -> Redirect {
    Redirect::to("/admin/rules")
}

pub struct FileRow {
    name: String,
    rules: Vec<RuleRow>,
    examples: usize,
    unreadable: Option<String>,
    last_change: String,
}

pub struct RuleRow {
    id: String,
    category: String,
    line: usize,
    corrections: i64,
    classified: i64,
    rate: String,
}

pub struct VersionRow {
    id: String,
    file: String,
    when: String,
    actor: String,
    kind: String,
    comment: String,
    set_version: String,
}

fn version_row(v: &rules::Version) -> VersionRow {
    VersionRow {
        id: v.id.clone(),
        file: v.file.clone(),
        when: format::when(v.at),
        actor: v.actor.clone(),
        kind: v.kind.clone(),
        comment: v.comment.clone().unwrap_or_default(),
        set_version: v.set_version.clone().unwrap_or_else(|| "-".into()),
    }
}

#[derive(Template)]
#[template(path = "admin_rules.html")]
struct RulesPage {
    chrome: Chrome,
    active_version: String,
    loaded_at: String,
    dir: String,
    last_change: Option<VersionRow>,
    reload_errors: Vec<Problem>,
    rate_days: i64,
    files: Vec<FileRow>,
    recent: Vec<VersionRow>,
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "-".into();
    }
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let p = part as f64 * 100.0 / whole as f64;
    format!("{p:.1}%")
}

/// Every rules file with its rules, the active version, and who changed it.
pub async fn rules_page(
    State(state): State<AppState>,
    Admin(current): Admin,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let dir = state.rules.dir();
    rules::record_disk_versions(&state.db, dir, now).await?;
    let rates = corrections::rates(&state.db, now).await?;
    let recent: Vec<rules::Version> = rules::recent_activations(&state.db, 10).await?;
    let mut files = Vec::new();
    for f in rules::read_files(dir)? {
        let last = rules::versions(&state.db, &f.name, 1).await?;
        files.push(FileRow {
            rules: f
                .rules
                .iter()
                .map(|r| {
                    let (corrections, classified) = rates.get(&r.id).copied().unwrap_or((0, 0));
                    RuleRow {
                        id: r.id.clone(),
                        category: r.category.clone(),
                        line: r.line,
                        corrections,
                        classified,
                        rate: percent(corrections, classified),
                    }
                })
                .collect(),
            examples: f.examples,
            unreadable: f.unreadable.clone(),
            last_change: last
                .first()
                .map(|v| format!("{} by {}", format::when(v.at), v.actor))
                .unwrap_or_default(),
            name: f.name,
        });
    }
    let loaded_at = jiff::Timestamp::try_from(state.rules.loaded_at())
        .map_or_else(|_| "-".into(), |t| format::when(t.as_millisecond()));
    Ok(render(&RulesPage {
        chrome: Chrome::for_user(&state, &current, "admin-rules").await,
        active_version: state.rules.version(),
        loaded_at,
        dir: dir.display().to_string(),
        last_change: recent.first().map(version_row),
        reload_errors: state
            .rules
            .last_error()
            .map(|e| rules::problems(dir, &e))
            .unwrap_or_default(),
        rate_days: corrections::RATE_DAYS,
        files,
        recent: recent.iter().map(version_row).collect(),
    }))
}

/// The editor, loaded with the file as it is on disk.
pub async fn editor(
    State(state): State<AppState>,
    Admin(current): Admin,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Result<Response, WebError> {
    rules::valid_name(&file).map_err(|_| WebError::NotFound("rules file"))?;
    let text =
        rules::read_file(state.rules.dir(), &file)?.ok_or(WebError::NotFound("rules file"))?;
    rules::record_disk_versions(&state.db, state.rules.dir(), state.clock.now_ms()).await?;
    let editor = Editor {
        base_sha: rules::sha256(&text),
        text,
        file,
        comment: String::new(),
        comment_error: None,
        correction_id: None,
        days: state.config.admin.dry_run_days,
        message: None,
        new_sha: None,
        result: Outcome::None,
    };
    Ok(editor.respond(&state, &current, &headers).await)
}

/// Check: compile the candidate and run every example.
pub async fn check(
    State(state): State<AppState>,
    Admin(current): Admin,
    headers: HeaderMap,
    Path(file): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, WebError> {
    let mut e = Editor::from_form(file, form, state.config.admin.dry_run_days);
    e.result = match rules::check(state.rules.dir(), &e.file, &e.text).await {
        Ok(set) => {
            let (files, rules, examples) = set.counts();
            Outcome::CheckOk {
                version: set.version().to_string(),
                files,
                rules,
                examples,
            }
        }
        Err(AdminError::Rules(p)) => problems_view(p, &e.file),
        Err(other) => return Err(other.into()),
    };
    Ok(e.respond(&state, &current, &headers).await)
}

/// Dry run: check, then replay recent replies. htmx gets a progress bar that
/// polls the job; a plain form waits for the result.
pub async fn dry_run(
    State(state): State<AppState>,
    Admin(current): Admin,
    headers: HeaderMap,
    Path(file): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let mut e = Editor::from_form(file, form, state.config.admin.dry_run_days);
    if !(1..=MAX_DRY_RUN_DAYS).contains(&e.days) {
        e.result = Outcome::Message(format!(
            "The period must be from 1 to {MAX_DRY_RUN_DAYS} days."
        ));
        return Ok(e.respond(&state, &current, &headers).await);
    }
    let candidate = match rules::check(state.rules.dir(), &e.file, &e.text).await {
        Ok(set) => set,
        Err(AdminError::Rules(p)) => {
            e.result = problems_view(p, &e.file);
            return Ok(e.respond(&state, &current, &headers).await);
        }
        Err(other) => return Err(other.into()),
    };
    let options = Options {
        since: now - i64::from(e.days) * 86_400_000,
        cap: state.config.admin.dry_run_cap,
    };
    let active = state.rules.current();
    e.result = if htmx(&headers) {
        let job = crate::admin::jobs::start_dry_run(
            state.db.clone(),
            state.clock.clone(),
            &state.admin.instance,
            active,
            candidate,
            options,
            &current.user.id,
            &e.file,
        )
        .await?;
        Outcome::Running {
            job,
            done: 0,
            total: 0,
            percent: 0,
        }
    } else {
        let progress = dry_run::Progress::default();
        let report = dry_run::run(&state.db, active, candidate, options, &progress).await?;
        Outcome::DryRun(Box::new(dry_run_view(&report)))
    };
    Ok(e.respond(&state, &current, &headers).await)
}

/// A dry run's progress, or its result once finished (polled by htmx), from
/// whichever instance runs it.
pub async fn dry_run_status(
    State(state): State<AppState>,
    Admin(current): Admin,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let job = crate::admin::jobs::get(&state.db, &id, now)
        .await?
        .filter(|j| j.owner == current.user.id);
    let (file, result) = match job {
        None => (
            String::new(),
            Outcome::Message("This dry run is not known to the desk. Run it again.".into()),
        ),
        Some(job) => (
            job.subject,
            match job.state {
                JobState::Running { done, total } => Outcome::Running {
                    job: job.id,
                    done,
                    total,
                    percent: (done * 100).checked_div(total).unwrap_or(0),
                },
                JobState::Done(report) => Outcome::DryRun(Box::new(dry_run_view(&report))),
                JobState::Failed(e) => Outcome::Failed(format!("The dry run failed: {e}")),
            },
        ),
    };
    Ok(render(&ResultFragment {
        file,
        comment: String::new(),
        comment_error: None,
        oob: false,
        new_sha: None,
        result,
    }))
}

/// Activate: refuse if the file changed on disk, check, write, reload, record.
pub async fn activate(
    State(state): State<AppState>,
    Admin(current): Admin,
    headers: HeaderMap,
    Path(file): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, WebError> {
    let mut e = Editor::from_form(file, form, state.config.admin.dry_run_days);
    let change = Change {
        file: e.file.clone(),
        text: e.text.clone(),
        base_sha: e.base_sha.clone(),
        actor: current.user.email.clone(),
        comment: e.comment.clone(),
        kind: if e.correction_id.is_some() {
            Kind::Example
        } else {
            Kind::Activated
        },
        restored_from: None,
        correction_id: e.correction_id.clone(),
    };
    let now = state.clock.now_ms();
    match rules::activate(
        &state.db,
        &state.rules,
        &state.admin.activation,
        change,
        now,
    )
    .await
    {
        Ok(done) => activated(&mut e, done),
        Err(err) => e.result = refusal(err, &e.file, &mut e.comment_error)?,
    }
    Ok(e.respond(&state, &current, &headers).await)
}

fn activated(e: &mut Editor, done: Activated) {
    e.new_sha = Some(done.sha);
    e.comment.clear();
    e.result = Outcome::Activated {
        set_version: done.set_version,
        previous: done.previous_set_version,
        version_id: done.version_id,
    };
}

/// Why an activation was refused, as the editor shows it.
fn refusal(
    err: AdminError,
    file: &str,
    comment_error: &mut Option<String>,
) -> Result<Outcome, WebError> {
    Ok(match err {
        AdminError::Rules(p) => problems_view(p, file),
        AdminError::ChangedOnDisk { disk_sha, diff, .. } => Outcome::Conflict {
            disk_sha,
            diff: diff_views(diff),
        },
        AdminError::Invalid {
            field: "comment",
            message,
        } => {
            *comment_error = Some(message.clone());
            Outcome::Message(format!("Not activated: {message}."))
        }
        AdminError::Invalid { message, .. } => {
            Outcome::Message(format!("Not activated: {message}."))
        }
        other => return Err(other.into()),
    })
}

pub struct HistoryItem {
    v: VersionRow,
    restored_from: Option<String>,
    correction_id: Option<String>,
    on_disk: bool,
    diff: Vec<DiffView>,
}

#[derive(Template)]
#[template(path = "admin_history.html")]
struct HistoryPage {
    chrome: Chrome,
    file: String,
    disk_sha: String,
    message: Option<String>,
    problems: Vec<ProblemView>,
    rollback: Option<VersionRow>,
    items: Vec<HistoryItem>,
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    restored: Option<String>,
}

async fn history_page(
    state: &AppState,
    current: &CurrentUser,
    file: String,
    message: Option<String>,
    problems: Vec<ProblemView>,
) -> Result<Response, WebError> {
    rules::valid_name(&file).map_err(|_| WebError::NotFound("rules file"))?;
    let dir = state.rules.dir();
    rules::record_disk_versions(&state.db, dir, state.clock.now_ms()).await?;
    let disk_sha = rules::read_file(dir, &file)?
        .map_or_else(|| rules::ABSENT.to_string(), |t| rules::sha256(&t));
    let versions = rules::versions(&state.db, &file, 200).await?;
    let mut items = Vec::with_capacity(versions.len());
    for (i, v) in versions.iter().enumerate() {
        let older = versions.get(i + 1).map_or("", |o| o.body.as_str());
        items.push(HistoryItem {
            v: version_row(v),
            restored_from: v.restored_from.clone(),
            correction_id: v.correction_id.clone(),
            on_disk: v.sha == disk_sha,
            diff: diff_views(rules::diff(older, &v.body)),
        });
    }
    // One step back: the newest version that differs from the file on disk.
    let rollback = versions
        .iter()
        .skip(1)
        .find(|v| v.sha != disk_sha)
        .filter(|_| versions.first().is_some_and(|v| v.sha == disk_sha))
        .map(version_row);
    Ok(render(&HistoryPage {
        chrome: Chrome::for_user(state, current, "admin-rules").await,
        file,
        disk_sha,
        message,
        problems,
        rollback,
        items,
    }))
}

/// Every version of a file, newest first, with what each changed.
pub async fn history(
    State(state): State<AppState>,
    Admin(current): Admin,
    Path(file): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, WebError> {
    let message = q
        .restored
        .map(|v| format!("Restored and active: the desk now runs rules version {v}."));
    history_page(&state, &current, file, message, Vec::new()).await
}

#[derive(Deserialize)]
pub struct RestoreForm {
    base_sha: String,
    #[serde(default)]
    note: Option<String>,
}

/// Restores an earlier version through the same check and activation.
pub async fn restore(
    State(state): State<AppState>,
    Admin(current): Admin,
    Path(id): Path<String>,
    Form(form): Form<RestoreForm>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let v = rules::version(&state.db, &id)
        .await?
        .ok_or(WebError::NotFound("version"))?;
    let result = rules::restore(
        &state.db,
        &state.rules,
        &state.admin.activation,
        &id,
        &form.base_sha,
        &current.user.email,
        form.note.as_deref(),
        now,
    )
    .await;
    match result {
        Ok(done) => Ok(Redirect::to(&format!(
            "/admin/rules/{}/history?restored={}",
            v.file, done.set_version
        ))
        .into_response()),
        Err(err) => {
            let mut ignored = None;
            let (message, problems) = match refusal(err, &v.file, &mut ignored)? {
                Outcome::Problems(p) => (
                    "Not restored: the rules would have problems.".to_string(),
                    p,
                ),
                Outcome::Conflict { .. } => (
                    format!(
                        "Not restored: {} was changed on disk since this page was loaded. The history now shows the file on disk; try again.",
                        v.file
                    ),
                    Vec::new(),
                ),
                Outcome::Message(m) => (m, Vec::new()),
                _ => (String::new(), Vec::new()),
            };
            history_page(&state, &current, v.file, Some(message), problems).await
        }
    }
}

pub struct CorrectionView {
    id: String,
    when: String,
    actor: String,
    text: String,
    from: String,
    to: String,
    note: String,
    conversation_id: String,
    example_version: Option<String>,
}

pub struct RuleCorrections {
    rule: String,
    file: Option<String>,
    corrections: i64,
    classified: i64,
    rate: String,
    items: Vec<CorrectionView>,
}

#[derive(Template)]
#[template(path = "admin_corrections.html")]
struct CorrectionsPage {
    chrome: Chrome,
    message: Option<String>,
    rule: String,
    rate_days: i64,
    groups: Vec<RuleCorrections>,
}

#[derive(Deserialize)]
pub struct CorrectionsQuery {
    rule: Option<String>,
    added: Option<String>,
}

/// Agents' reclassifications, per rule, with each rule's corrections rate.
pub async fn corrections_page(
    State(state): State<AppState>,
    Admin(current): Admin,
    Query(q): Query<CorrectionsQuery>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let rule = q.rule.unwrap_or_default();
    let list = corrections::list(
        &state.db,
        Some(&rule).filter(|r| !r.is_empty()).map(String::as_str),
        500,
    )
    .await?;
    let rates = corrections::rates(&state.db, now).await?;
    let files = rules::read_files(state.rules.dir())?;
    let mut groups: BTreeMap<String, RuleCorrections> = BTreeMap::new();
    for c in &list {
        let key = c.original_rule.clone().unwrap_or_else(|| "default".into());
        let group = groups.entry(key.clone()).or_insert_with(|| {
            let (corrections, classified) = rates.get(&key).copied().unwrap_or((0, 0));
            RuleCorrections {
                file: corrections::file_for(&files, c),
                rate: percent(corrections, classified),
                rule: key,
                corrections,
                classified,
                items: Vec::new(),
            }
        });
        group.items.push(CorrectionView {
            id: c.id.clone(),
            when: format::when(c.at),
            actor: c.actor.clone(),
            text: c
                .text
                .clone()
                .or_else(|| c.title.clone())
                .unwrap_or_default(),
            from: c.original_category.clone().unwrap_or_default(),
            to: c.corrected.clone(),
            note: c.note.clone().unwrap_or_default(),
            conversation_id: c.conversation_id.clone(),
            example_version: c.example_version.clone(),
        });
    }
    Ok(render(&CorrectionsPage {
        chrome: Chrome::for_user(&state, &current, "admin-corrections").await,
        message: q
            .added
            .map(|_| "The example was added and activated: every example passes.".into()),
        rule,
        rate_days: corrections::RATE_DAYS,
        groups: groups.into_values().collect(),
    }))
}

/// One click: the correction becomes an example in the right rules file.
/// When the rules already agree it is activated; otherwise the editor opens
/// with the example added and the failing check shown.
pub async fn correction_to_example(
    State(state): State<AppState>,
    Admin(current): Admin,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let now = state.clock.now_ms();
    let outcome = corrections::add_example(
        &state.db,
        &state.rules,
        &state.admin.activation,
        &id,
        &current.user.email,
        now,
    )
    .await?;
    match outcome {
        corrections::ExampleOutcome::Activated(_) => {
            Ok(Redirect::to(&format!("/admin/corrections?added={id}")).into_response())
        }
        corrections::ExampleOutcome::NeedsFix {
            file,
            text,
            base_sha,
            problems,
        } => {
            let result = problems_view(problems, &file);
            let editor = Editor {
                file,
                text,
                base_sha,
                comment: "example from an agent's correction".into(),
                comment_error: None,
                correction_id: Some(id),
                days: state.config.admin.dry_run_days,
                message: Some("The example is added at the end of the file below, but the rules do not yet classify it as the agent did. Change the rule, then Check, Dry run and Activate.".into()),
                new_sha: None,
                result,
            };
            // Always the whole page: the example lands in the editor.
            let mut plain = headers.clone();
            plain.remove("hx-request");
            Ok(editor.respond(&state, &current, &plain).await)
        }
    }
}
