-- Administration: every version of every rules file, and the audit log.

-- Each rules file's text as it was activated (or found on disk), so any
-- earlier version can be shown, compared and restored. Rows are only added.
CREATE TABLE rule_versions (
    id            TEXT PRIMARY KEY,               -- uuid v7: sorts by time
    file          TEXT NOT NULL,                  -- file name in the rules directory
    sha256        TEXT NOT NULL,                  -- of the text, hex
    body          TEXT NOT NULL,                  -- the whole file
    set_version   TEXT,                           -- the rules set's version once this file was active
    kind          TEXT NOT NULL,                  -- activated, restored, example, disk
    restored_from TEXT,                           -- the version a restore copied
    correction_id TEXT,                           -- the correction an example came from
    actor         TEXT NOT NULL,                  -- a user's email, or "system" for what was found on disk
    comment       TEXT,
    at            INTEGER NOT NULL
);
CREATE INDEX rule_versions_file ON rule_versions (file, at);
CREATE INDEX rule_versions_correction ON rule_versions (correction_id) WHERE correction_id IS NOT NULL;

-- Who changed what, when, from what to what. Append-only: no route edits
-- or deletes it, and the database refuses to.
CREATE TABLE audit_log (
    id           TEXT PRIMARY KEY,                -- uuid v7: sorts by time
    at           INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,                   -- rules.activate, user.disable, conversation.assigned, …
    target       TEXT NOT NULL,
    before_state TEXT,                            -- JSON
    after_state  TEXT                             -- JSON
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_action ON audit_log (action, at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
