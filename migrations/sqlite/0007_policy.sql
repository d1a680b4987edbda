-- Preference policy: which policy line produced a ledger row, journey
-- exclusions, reviews, and delivery failures by effect class.

ALTER TABLE preference_events ADD COLUMN policy TEXT;

CREATE TABLE journey_exclusions (
    id                  TEXT PRIMARY KEY,
    dedupe_key          TEXT NOT NULL UNIQUE,
    contact_id          TEXT NOT NULL,
    journey             TEXT NOT NULL,
    signal              TEXT NOT NULL,
    policy              TEXT,
    evidence_message_id TEXT,
    created_at          INTEGER NOT NULL,
    lifted_at           INTEGER,
    lifted_by           TEXT,
    lift_reason         TEXT
);
CREATE INDEX journey_exclusions_contact ON journey_exclusions (contact_id, journey);

-- Contacts held for a person to decide before any further contact.
CREATE TABLE reviews (
    id                  TEXT PRIMARY KEY,
    dedupe_key          TEXT NOT NULL UNIQUE,
    contact_id          TEXT NOT NULL,
    signal              TEXT NOT NULL,
    policy              TEXT,
    team                TEXT,
    evidence_message_id TEXT,
    evidence_code       TEXT,
    created_at          INTEGER NOT NULL,
    resolved_at         INTEGER,
    resolved_by         TEXT,
    resolution          TEXT,                     -- cleared, confirmed, do_not_contact
    reason              TEXT
);
CREATE INDEX reviews_open ON reviews (team, created_at) WHERE resolved_at IS NULL;
CREATE INDEX reviews_contact ON reviews (contact_id);

-- Failed deliveries with their effect class, for "repeated content failures".
CREATE TABLE delivery_failures (
    id         TEXT PRIMARY KEY,
    contact_id TEXT NOT NULL,
    message_id TEXT,
    provider   TEXT NOT NULL,
    code       TEXT NOT NULL,
    effect     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    UNIQUE (message_id, code)
);
CREATE INDEX delivery_failures_contact ON delivery_failures (contact_id, effect, at);

-- Preference events posted by other systems, by their id: a repeat changes nothing.
CREATE TABLE external_preferences (
    external_id TEXT PRIMARY KEY,
    contact_id  TEXT NOT NULL,
    source      TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX contacts_email ON contacts (email) WHERE email IS NOT NULL;

-- Eligibility looks up the latest event of each effect and purpose: one
-- index descent each, however long the contact's history.
DROP INDEX preference_events_state;
CREATE INDEX preference_events_latest ON preference_events (contact_id, channel, effect, purpose, occurred_at);
