-- People: accounts, team memberships, sessions, one-time links, login failures.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,           -- stored lower-case
    name          TEXT,
    role          TEXT NOT NULL,                  -- agent, lead, admin
    password_hash TEXT,                           -- argon2id PHC string; NULL until the invite is used
    away          BIGINT NOT NULL DEFAULT 0,
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE user_teams (
    user_id TEXT NOT NULL,
    team    TEXT NOT NULL,
    PRIMARY KEY (user_id, team)
);

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,                -- sha256 of the cookie value
    user_id      TEXT NOT NULL,
    csrf         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- One-time links: first administrator, invitations, password resets.
CREATE TABLE one_time_links (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    email      TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE TABLE login_failures (
    id    TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    ip    TEXT NOT NULL,
    at    BIGINT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, at);
CREATE INDEX login_failures_ip ON login_failures (ip, at);

-- Reclassifications by agents, kept for rule tuning.
CREATE TABLE corrections (
    id                TEXT PRIMARY KEY,
    event_id          BIGINT NOT NULL,
    conversation_id   TEXT NOT NULL,
    original_category TEXT,
    original_rule     TEXT,
    rules_version     TEXT,
    corrected         TEXT NOT NULL,
    note              TEXT,
    actor             TEXT NOT NULL,
    at                BIGINT NOT NULL
);
CREATE INDEX corrections_rule ON corrections (original_rule);
