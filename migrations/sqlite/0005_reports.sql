-- Reports: conversions, report facts with their daily rollups, alerts, and
-- the indexes the reports use to find what changed since they last looked.
--
-- Why rollups and not only indexes: a report over 30 days of 200,000
-- registered sends would join every send with its statuses, replies and
-- conversions on every page view (hundreds of milliseconds on SQLite). A
-- background refresh keeps one row of facts per send and per conversation,
-- recomputed when something about it changes, and a rollup per UTC day and
-- journey/campaign/template (and team for conversations); a report then
-- reads a few thousand rollup rows.

CREATE TABLE conversions (
    id              TEXT PRIMARY KEY,
    external_id     TEXT NOT NULL UNIQUE,         -- the caller's id: a repeat changes nothing
    contact_id      TEXT NOT NULL,
    type            TEXT NOT NULL,                -- purchase, booking, form, call, quote_accepted, …
    value           REAL,
    currency        TEXT,
    occurred_at     INTEGER NOT NULL,
    message_id      TEXT,                         -- the registered send it is attributed to
    journey         TEXT,                         -- that send's journey, or the journey the caller named
    attributed_by   TEXT NOT NULL,                -- message_id, conversation, window, journey, none
    conversation_id TEXT,                         -- set when an agent resolved a conversation as converted
    source          TEXT NOT NULL,                -- api:<key name>, csv:<file>, agent:<email>
    recorded_at     INTEGER NOT NULL
);
CREATE INDEX conversions_message ON conversions (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX conversions_recorded ON conversions (recorded_at);
-- Covers the report's read of unattributed conversions: no table lookups.
CREATE INDEX conversions_unattributed ON conversions (occurred_at, journey, currency, value, message_id) WHERE message_id IS NULL;
CREATE INDEX conversions_contact ON conversions (contact_id, occurred_at);

-- One row per registered send: what became of it. Every counter is 0/1 or
-- a count for this send, so a rollup is the sum of its rows.
CREATE TABLE report_sends (
    message_id         TEXT PRIMARY KEY,
    day                INTEGER NOT NULL,          -- UTC day start of sent_at
    sent_at            INTEGER NOT NULL,
    journey            TEXT NOT NULL,             -- '' when none
    campaign           TEXT NOT NULL,
    template           TEXT NOT NULL,
    channel            TEXT,                      -- from its statuses
    delivered_at       INTEGER,
    failed_at          INTEGER,
    sent               INTEGER NOT NULL,
    delivered          INTEGER NOT NULL,
    read               INTEGER NOT NULL,
    failed             INTEGER NOT NULL,
    f_unreachable      INTEGER NOT NULL,
    f_opt_out          INTEGER NOT NULL,
    f_content          INTEGER NOT NULL,
    f_window           INTEGER NOT NULL,
    f_transient        INTEGER NOT NULL,
    f_account          INTEGER NOT NULL,
    replies            INTEGER NOT NULL,
    r_opt_out          INTEGER NOT NULL,
    r_interest         INTEGER NOT NULL,
    r_confusion        INTEGER NOT NULL,
    r_service          INTEGER NOT NULL,
    r_noise            INTEGER NOT NULL,
    replied            INTEGER NOT NULL,
    opted_out          INTEGER NOT NULL,
    conversions        INTEGER NOT NULL,
    converted          INTEGER NOT NULL,
    reached            INTEGER NOT NULL,
    reached_converted  INTEGER NOT NULL,
    replied_converted  INTEGER NOT NULL,
    fallback_queued    INTEGER NOT NULL,
    fallback_delivered INTEGER NOT NULL,
    fallback_converted INTEGER NOT NULL,
    failed_no_fallback INTEGER NOT NULL,
    conversion_value   REAL NOT NULL
);
CREATE INDEX report_sends_day ON report_sends (day);
CREATE INDEX report_sends_delivered ON report_sends (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX report_sends_failed ON report_sends (failed_at) WHERE failed_at IS NOT NULL;

CREATE TABLE report_daily (
    day                INTEGER NOT NULL,
    journey            TEXT NOT NULL,
    campaign           TEXT NOT NULL,
    template           TEXT NOT NULL,
    sent               INTEGER NOT NULL,
    delivered          INTEGER NOT NULL,
    read               INTEGER NOT NULL,
    failed             INTEGER NOT NULL,
    f_unreachable      INTEGER NOT NULL,
    f_opt_out          INTEGER NOT NULL,
    f_content          INTEGER NOT NULL,
    f_window           INTEGER NOT NULL,
    f_transient        INTEGER NOT NULL,
    f_account          INTEGER NOT NULL,
    replies            INTEGER NOT NULL,
    r_opt_out          INTEGER NOT NULL,
    r_interest         INTEGER NOT NULL,
    r_confusion        INTEGER NOT NULL,
    r_service          INTEGER NOT NULL,
    r_noise            INTEGER NOT NULL,
    replied            INTEGER NOT NULL,
    opted_out          INTEGER NOT NULL,
    conversions        INTEGER NOT NULL,
    converted          INTEGER NOT NULL,
    reached            INTEGER NOT NULL,
    reached_converted  INTEGER NOT NULL,
    replied_converted  INTEGER NOT NULL,
    fallback_queued    INTEGER NOT NULL,
    fallback_delivered INTEGER NOT NULL,
    fallback_converted INTEGER NOT NULL,
    failed_no_fallback INTEGER NOT NULL,
    conversion_value   REAL NOT NULL,
    PRIMARY KEY (day, journey, campaign, template)
);

-- One row per conversation: who handled it, how fast, whether its SLA broke.
CREATE TABLE report_conversations (
    conversation_id TEXT PRIMARY KEY,
    day             INTEGER NOT NULL,             -- UTC day start of opened_at
    journey         TEXT NOT NULL,
    campaign        TEXT NOT NULL,
    template        TEXT NOT NULL,
    team            TEXT NOT NULL,
    routed          INTEGER NOT NULL,
    responded       INTEGER NOT NULL,
    breached        INTEGER NOT NULL,
    response_ms     INTEGER,
    bucket          INTEGER                       -- response-time histogram bucket
);
CREATE INDEX report_conversations_day ON report_conversations (day);

CREATE TABLE report_conversations_daily (
    day       INTEGER NOT NULL,
    journey   TEXT NOT NULL,
    campaign  TEXT NOT NULL,
    template  TEXT NOT NULL,
    team      TEXT NOT NULL,
    opened    INTEGER NOT NULL,
    routed    INTEGER NOT NULL,
    responded INTEGER NOT NULL,
    breached  INTEGER NOT NULL,
    -- first-response times: conversations per histogram bucket (h36: longer than 30 days)
    h00        INTEGER NOT NULL,
    h01        INTEGER NOT NULL,
    h02        INTEGER NOT NULL,
    h03        INTEGER NOT NULL,
    h04        INTEGER NOT NULL,
    h05        INTEGER NOT NULL,
    h06        INTEGER NOT NULL,
    h07        INTEGER NOT NULL,
    h08        INTEGER NOT NULL,
    h09        INTEGER NOT NULL,
    h10        INTEGER NOT NULL,
    h11        INTEGER NOT NULL,
    h12        INTEGER NOT NULL,
    h13        INTEGER NOT NULL,
    h14        INTEGER NOT NULL,
    h15        INTEGER NOT NULL,
    h16        INTEGER NOT NULL,
    h17        INTEGER NOT NULL,
    h18        INTEGER NOT NULL,
    h19        INTEGER NOT NULL,
    h20        INTEGER NOT NULL,
    h21        INTEGER NOT NULL,
    h22        INTEGER NOT NULL,
    h23        INTEGER NOT NULL,
    h24        INTEGER NOT NULL,
    h25        INTEGER NOT NULL,
    h26        INTEGER NOT NULL,
    h27        INTEGER NOT NULL,
    h28        INTEGER NOT NULL,
    h29        INTEGER NOT NULL,
    h30        INTEGER NOT NULL,
    h31        INTEGER NOT NULL,
    h32        INTEGER NOT NULL,
    h33        INTEGER NOT NULL,
    h34        INTEGER NOT NULL,
    h35        INTEGER NOT NULL,
    h36        INTEGER NOT NULL,
    PRIMARY KEY (day, journey, campaign, template, team)
);

-- How far the refresh has read each source; 'lock' serializes refreshes.
CREATE TABLE report_marks (
    source TEXT PRIMARY KEY,
    mark   INTEGER NOT NULL
);

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    rule            TEXT NOT NULL,                -- opt_out_rate, failure_rate, delivered_drop, dead_letters, unrouted
    scope           TEXT NOT NULL,                -- channel:<name> or journey:<name>
    window_start    INTEGER NOT NULL,             -- the window slot it was recorded for
    window_from     INTEGER NOT NULL,             -- the numbers cover [window_from, window_to)
    window_to       INTEGER NOT NULL,
    owner           TEXT,                         -- the team that owns the scope
    observed        REAL NOT NULL,
    threshold       REAL NOT NULL,
    count           INTEGER NOT NULL,
    summary         TEXT NOT NULL,
    at              INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    UNIQUE (rule, scope, window_start)
);
CREATE INDEX alerts_at ON alerts (at);

-- What changed since the last refresh. Each index is partial or on a table
-- the webhook write path does not insert into, so ingest pays nothing:
-- replies enter events_replies_routed only when the router marks them.
CREATE INDEX events_replies_routed ON events (routed_at)
    WHERE kind = 'message' AND direction = 'in' AND routed_at IS NOT NULL;
CREATE INDEX events_outbound ON events (outbound_id) WHERE outbound_id IS NOT NULL;
CREATE INDEX outbound_messages_registered ON outbound_messages (registered_at);
CREATE INDEX conversations_updated ON conversations (updated_at);
CREATE INDEX conversation_log_routed ON conversation_log (at) WHERE kind = 'routed';
CREATE INDEX outbox_fallback_created ON outbox (created_at) WHERE kind = 'fallback';
CREATE INDEX outbox_fallback_sent ON outbox (sent_at) WHERE kind = 'fallback';
