-- SLA clocks and their transitions.

-- Which clock a conversation's due time belongs to, and the instants at
-- which its state changes, so the worker finds work by index, not by scan.
ALTER TABLE conversations ADD COLUMN sla_target TEXT;          -- first_response, resolution
ALTER TABLE conversations ADD COLUMN at_risk_at INTEGER;
ALTER TABLE conversations ADD COLUMN level2_at INTEGER;
ALTER TABLE conversations ADD COLUMN next_check_at INTEGER;    -- the next instant the worker must look
CREATE INDEX conversations_next_check ON conversations (next_check_at) WHERE next_check_at IS NOT NULL;

-- Each transition is recorded once: at risk, breached (level 1), escalated (level 2).
CREATE TABLE sla_events (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    target          TEXT NOT NULL,                -- first_response, resolution
    kind            TEXT NOT NULL,                -- at_risk, breached, escalated
    level           INTEGER NOT NULL,             -- 0 at risk, 1 breach (team leads), 2 named addresses
    due_at          INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    team            TEXT,
    assignee        TEXT,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    ack_comment     TEXT,
    UNIQUE (conversation_id, target, level, due_at)
);
CREATE INDEX sla_events_at ON sla_events (at);
CREATE INDEX sla_events_team ON sla_events (team, at);
