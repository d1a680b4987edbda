-- The queue lists open conversations by SLA due time. Without this index a
-- queue that sees every team (administrators, or a lead of several teams)
-- sorts all open conversations on every view: 0.4 s at 100,000 open.
CREATE INDEX conversations_open_due ON conversations (due_at, id) WHERE status = 'open';
