-- Media in conversations: every file a customer sends (and every file an
-- agent attaches) is a row here, fetched by a worker under a lease so
-- ingest never waits on a download. The bytes live in media_files unless
-- the desk keeps them in a directory; the thumbnail is made once.

CREATE TABLE media (
    id              TEXT PRIMARY KEY,
    event_key       TEXT,                          -- events.dedupe_key of the inbound message
    position        BIGINT NOT NULL DEFAULT 0,    -- Twilio's N in MediaUrlN
    direction       TEXT NOT NULL,                 -- in, out
    provider        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    kind            TEXT NOT NULL,                 -- image, audio, video, document, sticker
    source          TEXT,                          -- Meta media id, Twilio MediaUrl
    claimed_type    TEXT,                          -- what the provider said
    claimed_sha256  TEXT,                          -- Meta's hash of the file
    filename        TEXT,
    animated        BIGINT NOT NULL DEFAULT 0,    -- an animated sticker (its own size limit)
    state           TEXT NOT NULL,                 -- pending, fetching, stored, failed
    detected_type   TEXT,                          -- from the bytes
    size            BIGINT,
    sha256          TEXT,
    stored_in       TEXT,                          -- database, directory
    has_thumbnail   BIGINT NOT NULL DEFAULT 0,
    provider_media_id TEXT,                        -- an outbound file uploaded to Meta
    error           TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    lease_owner     TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX media_event ON media (event_key, position) WHERE event_key IS NOT NULL;
CREATE INDEX media_due ON media (next_attempt_at) WHERE state = 'pending';
CREATE INDEX media_fetching ON media (lease_until) WHERE state = 'fetching';

CREATE TABLE media_files (
    media_id  TEXT PRIMARY KEY,
    bytes     BYTEA NOT NULL,
    thumbnail BYTEA
);

-- Keys the desk makes for itself, shared by every instance (the signature
-- of the expiring links Twilio fetches attachments from).
CREATE TABLE desk_keys (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

ALTER TABLE replies ADD COLUMN media_id TEXT;
CREATE INDEX replies_media ON replies (media_id) WHERE media_id IS NOT NULL;
