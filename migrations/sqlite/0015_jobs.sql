-- Long jobs (rules dry runs) with their progress and result, so that any
-- instance can show a job's page and a job whose instance died is marked
-- failed instead of running forever.

CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,                 -- dry_run
    owner        TEXT NOT NULL,                 -- the user who started it; only they see it
    subject      TEXT NOT NULL,                 -- the rules file
    instance     TEXT NOT NULL,                 -- the instance running it
    state        TEXT NOT NULL,                 -- running, done, failed
    done         INTEGER NOT NULL DEFAULT 0,
    total        INTEGER NOT NULL DEFAULT 0,
    result       TEXT,                          -- JSON, once done
    error        TEXT,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,                   -- the running instance says it is alive
    finished_at  INTEGER
);
CREATE INDEX jobs_started ON jobs (started_at);
