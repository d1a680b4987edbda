-- Answering customers from the desk: every message an agent, a machine or
-- an auto-reply sends is a row first (stored before the 202), then sent by
-- a worker that claims it under a lease; the provider's statuses follow it
-- to delivered and read. The templates each channel may send, as synced
-- from the provider. And the number each customer message was sent to, so
-- a reply leaves from it.

CREATE TABLE replies (
    id                  TEXT PRIMARY KEY,
    idempotency_key     TEXT NOT NULL UNIQUE,      -- a repeated request changes nothing
    conversation_id     TEXT NOT NULL,
    contact_id          TEXT NOT NULL,
    channel             TEXT NOT NULL,
    to_address          TEXT NOT NULL,             -- the wa_id the provider used, or a user id
    to_kind             TEXT NOT NULL,             -- wa_id, user_id
    from_number         TEXT NOT NULL,             -- Meta phone_number_id, Twilio whatsapp:+…
    kind                TEXT NOT NULL,             -- text, template
    body                TEXT NOT NULL,             -- the text, or the template filled in
    template_name       TEXT,
    template_language   TEXT,
    template_ref        TEXT,                      -- Twilio's Content SID
    parameters          TEXT,                      -- JSON array of the body parameters
    reply_to            TEXT,                      -- the customer message answered (context)
    purpose             TEXT NOT NULL,             -- service, marketing, utility, authentication, opt_out_confirmation
    author              TEXT NOT NULL,             -- a user's email, api:<key>, auto:<kind>
    state               TEXT NOT NULL,             -- queued, sending, sent, delivered, read, failed, unconfirmed
    provider_message_id TEXT,
    error_code          TEXT,
    error               TEXT,
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT NOT NULL,
    lease_until         BIGINT,
    lease_owner         TEXT,
    created_at          BIGINT NOT NULL,
    accepted_at         BIGINT,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX replies_due ON replies (next_attempt_at) WHERE state = 'queued';
CREATE INDEX replies_sending ON replies (lease_until) WHERE state = 'sending';
CREATE INDEX replies_conversation ON replies (conversation_id, created_at);
CREATE UNIQUE INDEX replies_provider_message ON replies (provider_message_id) WHERE provider_message_id IS NOT NULL;

CREATE TABLE templates (
    channel     TEXT NOT NULL,
    provider_id TEXT NOT NULL,                     -- Meta template id, Twilio Content SID
    name        TEXT NOT NULL,
    language    TEXT NOT NULL,
    category    TEXT NOT NULL,                     -- marketing, utility, authentication, or as the provider said
    status      TEXT NOT NULL,                     -- approved, pending, rejected, paused, disabled, …
    body        TEXT NOT NULL,
    synced_at   BIGINT NOT NULL,
    PRIMARY KEY (channel, provider_id)
);

ALTER TABLE events ADD COLUMN business_number TEXT;
