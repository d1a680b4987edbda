-- Preferences ledger, outbound registrations, the durable outbox, and
-- conversations with their routing log.

CREATE TABLE preference_events (
    id                  TEXT PRIMARY KEY,
    dedupe_key          TEXT NOT NULL UNIQUE,     -- the same signal recorded twice is one row
    contact_id          TEXT NOT NULL,
    channel             TEXT NOT NULL,            -- whatsapp, email
    purpose             TEXT NOT NULL,            -- marketing, all
    effect              TEXT NOT NULL,            -- opt_out, opt_in, unreachable, dnc_set, dnc_lift
    signal              TEXT NOT NULL,            -- what the customer or provider did: keyword_opt_out, status_131026, …
    source              TEXT NOT NULL,            -- customer, provider, admin, api
    evidence_message_id TEXT,
    evidence_status     TEXT,
    evidence_code       TEXT,
    rule_id             TEXT,
    actor               TEXT,
    reason              TEXT,
    occurred_at         BIGINT NOT NULL,         -- the provider's (or caller's) event time
    recorded_at         BIGINT NOT NULL
);
CREATE INDEX preference_events_state ON preference_events (contact_id, channel, effect, occurred_at);
CREATE INDEX preference_events_recorded ON preference_events (recorded_at, id);

CREATE TABLE outbound_messages (
    message_id       TEXT PRIMARY KEY,            -- the provider's id (wamid, Twilio SID)
    contact_id       TEXT NOT NULL,
    journey          TEXT,
    campaign         TEXT,
    template         TEXT,
    purpose          TEXT NOT NULL,
    fallback_channel TEXT,
    sent_at          BIGINT NOT NULL,
    registered_at    BIGINT NOT NULL,
    registered_by    TEXT
);
CREATE INDEX outbound_messages_contact ON outbound_messages (contact_id, sent_at);

-- Everything the desk sends out (fallback notices, emails): a row first,
-- delivered by a worker, retried with backoff, marked sent only on success.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,                -- fallback, email
    idempotency_key TEXT NOT NULL UNIQUE,
    target          TEXT NOT NULL,                -- URL or address list
    subject         TEXT,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,                -- pending, sent, dead
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    lease_owner     TEXT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';

CREATE TABLE conversations (
    id                TEXT PRIMARY KEY,
    contact_id        TEXT NOT NULL,
    channel           TEXT NOT NULL,
    status            TEXT NOT NULL,              -- open, resolved, closed (by the system)
    category          TEXT NOT NULL,
    team              TEXT,
    assignee          TEXT,
    journey           TEXT,
    outbound_id       TEXT,
    lang              TEXT,
    last_text         TEXT,
    message_count     BIGINT NOT NULL DEFAULT 0,
    opened_at         BIGINT NOT NULL,
    last_inbound_at   BIGINT NOT NULL,
    first_response_at BIGINT,
    resolved_at       BIGINT,
    resolution        TEXT,
    due_at            BIGINT,                    -- SLA: when the next human step is due
    updated_at        BIGINT NOT NULL
);
CREATE INDEX conversations_contact ON conversations (contact_id, channel, status);
CREATE INDEX conversations_queue ON conversations (team, status, due_at);
CREATE INDEX conversations_assignee ON conversations (assignee, status);

-- The timeline of a conversation besides its messages: routing decisions,
-- assignments, notes, reclassifications, responses, resolutions.
CREATE TABLE conversation_log (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    at              BIGINT NOT NULL,
    actor           TEXT NOT NULL,                -- a user's email, or "system"
    kind            TEXT NOT NULL,
    detail          TEXT                          -- JSON
);
CREATE INDEX conversation_log_conversation ON conversation_log (conversation_id, at);

CREATE TABLE agent_presence (
    email      TEXT PRIMARY KEY,
    away       BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

CREATE TABLE team_cursor (
    team          TEXT PRIMARY KEY,
    last_assignee TEXT
);

ALTER TABLE events ADD COLUMN conversation_id TEXT;
ALTER TABLE events ADD COLUMN outbound_id TEXT;
CREATE INDEX events_conversation ON events (conversation_id, occurred_at);
