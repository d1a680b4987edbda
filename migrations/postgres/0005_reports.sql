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
    value           DOUBLE PRECISION,
    currency        TEXT,
    occurred_at     BIGINT NOT NULL,
    message_id      TEXT,                         -- the registered send it is attributed to
    journey         TEXT,                         -- that send's journey, or the journey the caller named
    attributed_by   TEXT NOT NULL,                -- message_id, conversation, window, journey, none
    conversation_id TEXT,                         -- set when an agent resolved a conversation as converted
    source          TEXT NOT NULL,                -- api:<key name>, csv:<file>, agent:<email>
    recorded_at     BIGINT NOT NULL
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
    day                BIGINT NOT NULL,          -- UTC day start of sent_at
    sent_at            BIGINT NOT NULL,
    journey            TEXT NOT NULL,             -- '' when none
    campaign           TEXT NOT NULL,
    template           TEXT NOT NULL,
    channel            TEXT,                      -- from its statuses
    delivered_at       BIGINT,
    failed_at          BIGINT,
    sent               BIGINT NOT NULL,
    delivered          BIGINT NOT NULL,
    read               BIGINT NOT NULL,
    failed             BIGINT NOT NULL,
    f_unreachable      BIGINT NOT NULL,
    f_opt_out          BIGINT NOT NULL,
    f_content          BIGINT NOT NULL,
    f_window           BIGINT NOT NULL,
    f_transient        BIGINT NOT NULL,
    f_account          BIGINT NOT NULL,
    replies            BIGINT NOT NULL,
    r_opt_out          BIGINT NOT NULL,
    r_interest         BIGINT NOT NULL,
    r_confusion        BIGINT NOT NULL,
    r_service          BIGINT NOT NULL,
    r_noise            BIGINT NOT NULL,
    replied            BIGINT NOT NULL,
    opted_out          BIGINT NOT NULL,
    conversions        BIGINT NOT NULL,
    converted          BIGINT NOT NULL,
    reached            BIGINT NOT NULL,
    reached_converted  BIGINT NOT NULL,
    replied_converted  BIGINT NOT NULL,
    fallback_queued    BIGINT NOT NULL,
    fallback_delivered BIGINT NOT NULL,
    fallback_converted BIGINT NOT NULL,
    failed_no_fallback BIGINT NOT NULL,
    conversion_value   DOUBLE PRECISION NOT NULL
);
CREATE INDEX report_sends_day ON report_sends (day);
CREATE INDEX report_sends_delivered ON report_sends (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX report_sends_failed ON report_sends (failed_at) WHERE failed_at IS NOT NULL;

CREATE TABLE report_daily (
    day                BIGINT NOT NULL,
    journey            TEXT NOT NULL,
    campaign           TEXT NOT NULL,
    template           TEXT NOT NULL,
    sent               BIGINT NOT NULL,
    delivered          BIGINT NOT NULL,
    read               BIGINT NOT NULL,
    failed             BIGINT NOT NULL,
    f_unreachable      BIGINT NOT NULL,
    f_opt_out          BIGINT NOT NULL,
    f_content          BIGINT NOT NULL,
    f_window           BIGINT NOT NULL,
    f_transient        BIGINT NOT NULL,
    f_account          BIGINT NOT NULL,
    replies            BIGINT NOT NULL,
    r_opt_out          BIGINT NOT NULL,
    r_interest         BIGINT NOT NULL,
    r_confusion        BIGINT NOT NULL,
    r_service          BIGINT NOT NULL,
    r_noise            BIGINT NOT NULL,
    replied            BIGINT NOT NULL,
    opted_out          BIGINT NOT NULL,
    conversions        BIGINT NOT NULL,
    converted          BIGINT NOT NULL,
    reached            BIGINT NOT NULL,
    reached_converted  BIGINT NOT NULL,
    replied_converted  BIGINT NOT NULL,
    fallback_queued    BIGINT NOT NULL,
    fallback_delivered BIGINT NOT NULL,
    fallback_converted BIGINT NOT NULL,
    failed_no_fallback BIGINT NOT NULL,
    conversion_value   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (day, journey, campaign, template)
);

-- One row per conversation: who handled it, how fast, whether its SLA broke.
CREATE TABLE report_conversations (
    conversation_id TEXT PRIMARY KEY,
    day             BIGINT NOT NULL,             -- UTC day start of opened_at
    journey         TEXT NOT NULL,
    campaign        TEXT NOT NULL,
    template        TEXT NOT NULL,
    team            TEXT NOT NULL,
    routed          BIGINT NOT NULL,
    responded       BIGINT NOT NULL,
    breached        BIGINT NOT NULL,
    response_ms     BIGINT,
    bucket          BIGINT                        -- response-time histogram bucket
);
CREATE INDEX report_conversations_day ON report_conversations (day);

CREATE TABLE report_conversations_daily (
    day       BIGINT NOT NULL,
    journey   TEXT NOT NULL,
    campaign  TEXT NOT NULL,
    template  TEXT NOT NULL,
    team      TEXT NOT NULL,
    opened    BIGINT NOT NULL,
    routed    BIGINT NOT NULL,
    responded BIGINT NOT NULL,
    breached  BIGINT NOT NULL,
    -- first-response times: conversations per histogram bucket (h36: longer than 30 days)
    h00        BIGINT NOT NULL,
    h01        BIGINT NOT NULL,
    h02        BIGINT NOT NULL,
    h03        BIGINT NOT NULL,
    h04        BIGINT NOT NULL,
    h05        BIGINT NOT NULL,
    h06        BIGINT NOT NULL,
    h07        BIGINT NOT NULL,
    h08        BIGINT NOT NULL,
    h09        BIGINT NOT NULL,
    h10        BIGINT NOT NULL,
    h11        BIGINT NOT NULL,
    h12        BIGINT NOT NULL,
    h13        BIGINT NOT NULL,
    h14        BIGINT NOT NULL,
    h15        BIGINT NOT NULL,
    h16        BIGINT NOT NULL,
    h17        BIGINT NOT NULL,
    h18        BIGINT NOT NULL,
    h19        BIGINT NOT NULL,
    h20        BIGINT NOT NULL,
    h21        BIGINT NOT NULL,
    h22        BIGINT NOT NULL,
    h23        BIGINT NOT NULL,
    h24        BIGINT NOT NULL,
    h25        BIGINT NOT NULL,
    h26        BIGINT NOT NULL,
    h27        BIGINT NOT NULL,
    h28        BIGINT NOT NULL,
    h29        BIGINT NOT NULL,
    h30        BIGINT NOT NULL,
    h31        BIGINT NOT NULL,
    h32        BIGINT NOT NULL,
    h33        BIGINT NOT NULL,
    h34        BIGINT NOT NULL,
    h35        BIGINT NOT NULL,
    h36        BIGINT NOT NULL,
    PRIMARY KEY (day, journey, campaign, template, team)
);

-- How far the refresh has read each source; 'lock' serializes refreshes.
CREATE TABLE report_marks (
    source TEXT PRIMARY KEY,
    mark   BIGINT NOT NULL
);

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    rule            TEXT NOT NULL,                -- opt_out_rate, failure_rate, delivered_drop, dead_letters, unrouted
    scope           TEXT NOT NULL,                -- channel:<name> or journey:<name>
    window_start    BIGINT NOT NULL,             -- the window slot it was recorded for
    window_from     BIGINT NOT NULL,             -- the numbers cover [window_from, window_to)
    window_to       BIGINT NOT NULL,
    owner           TEXT,                         -- the team that owns the scope
    observed        DOUBLE PRECISION NOT NULL,
    threshold       DOUBLE PRECISION NOT NULL,
    count           BIGINT NOT NULL,
    summary         TEXT NOT NULL,
    at              BIGINT NOT NULL,
    acknowledged_at BIGINT,
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
