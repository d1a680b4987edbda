-- Ingest: raw webhook bodies, contacts, normalized events, API keys.
-- Times are integer epoch milliseconds; ids are text except the event sequence.

CREATE TABLE webhook_payloads (
    id          TEXT PRIMARY KEY,          -- sha256 of channel + body: a provider retry is the same row
    provider    TEXT NOT NULL,
    channel     TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    body        BLOB NOT NULL,
    event_count INTEGER NOT NULL,
    problem     TEXT,                      -- set when part or all of the body could not be normalized
    resolved_at INTEGER,
    resolved_by TEXT
);
CREATE INDEX webhook_payloads_problem ON webhook_payloads (received_at) WHERE problem IS NOT NULL;

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,          -- derived from the phone number or the WhatsApp user id
    phone       TEXT,                      -- E.164
    wa_user_id  TEXT,                      -- Meta business-scoped user id
    name        TEXT,
    email       TEXT,
    merged_into TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX contacts_phone ON contacts (phone) WHERE phone IS NOT NULL;
CREATE INDEX contacts_wa_user_id ON contacts (wa_user_id) WHERE wa_user_id IS NOT NULL;

CREATE TABLE events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order, the events API cursor
    dedupe_key    TEXT NOT NULL UNIQUE,               -- provider id (+ status): retries change nothing
    payload_id    TEXT NOT NULL,
    provider      TEXT NOT NULL,
    channel       TEXT NOT NULL,
    kind          TEXT NOT NULL,                      -- message, status, echo, preference, notice
    direction     TEXT,                               -- in, out
    provider_id   TEXT,
    contact_id    TEXT,
    occurred_at   INTEGER NOT NULL,                   -- the provider's event time
    received_at   INTEGER NOT NULL,
    msg_type      TEXT,
    body          TEXT,
    payload       TEXT,
    title         TEXT,
    context_id    TEXT,
    status        TEXT,
    error_code    TEXT,
    error_title   TEXT,
    detail        TEXT,                               -- JSON: media, location, referral, raw unknowns
    category      TEXT,
    rule_id       TEXT,
    match_start   INTEGER,
    match_end     INTEGER,
    lang          TEXT,
    rules_version TEXT,
    routed_at     INTEGER
);
CREATE INDEX events_contact ON events (contact_id, occurred_at);
CREATE INDEX events_provider_id ON events (provider_id);
CREATE INDEX events_unrouted ON events (id) WHERE routed_at IS NULL;

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    secret_hash  TEXT NOT NULL,                       -- sha256 of the secret part, hex
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
