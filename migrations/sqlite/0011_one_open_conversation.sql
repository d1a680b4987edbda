-- One open conversation per contact and channel, held by the database
-- whatever the number of instances, restarts or crashes; and the WhatsApp
-- id a contact was last seen with, which is what a reply is addressed to.
--
-- Two routers on one PostgreSQL could each see no open conversation for a
-- contact and each open one. The open conversations that already stand
-- side by side are folded here into the oldest of each contact and channel
-- (its messages, log and the more urgent SLA clock), the others closed as
-- `merged` and pointing at it; how many is written to maintenance_log and
-- said by the desk when it starts.

ALTER TABLE conversations ADD COLUMN merged_into TEXT;
ALTER TABLE contacts ADD COLUMN wa_id TEXT;

-- What a migration or a one-time repair did, for the desk to say once.
CREATE TABLE maintenance_log (
    id       TEXT PRIMARY KEY,
    at       INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    note     TEXT NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE conversation_folds (
    fold_id TEXT PRIMARY KEY,
    keep_id TEXT NOT NULL
);
INSERT INTO conversation_folds (fold_id, keep_id)
SELECT c.id, (SELECT k.id FROM conversations k
              WHERE k.contact_id = c.contact_id AND k.channel = c.channel AND k.status = 'open'
              ORDER BY k.opened_at, k.id LIMIT 1)
FROM conversations c WHERE c.status = 'open';
DELETE FROM conversation_folds WHERE fold_id = keep_id;

-- The customer is owed the earliest of the answers the folded ones waited for.
UPDATE conversations SET (sla_target, at_risk_at, due_at, level2_at, next_check_at) =
    (SELECT d.sla_target, d.at_risk_at, d.due_at, d.level2_at, d.next_check_at
     FROM conversations d JOIN conversation_folds f ON f.fold_id = d.id
     WHERE f.keep_id = conversations.id AND d.due_at IS NOT NULL ORDER BY d.due_at LIMIT 1)
WHERE id IN (SELECT f.keep_id FROM conversation_folds f JOIN conversations d ON d.id = f.fold_id
             WHERE d.due_at IS NOT NULL AND (conversations.due_at IS NULL OR d.due_at < conversations.due_at));

UPDATE conversations SET
    message_count = message_count + (SELECT COALESCE(SUM(d.message_count), 0)
        FROM conversations d JOIN conversation_folds f ON f.fold_id = d.id WHERE f.keep_id = conversations.id),
    last_text = COALESCE((SELECT d.last_text FROM conversations d JOIN conversation_folds f ON f.fold_id = d.id
        WHERE f.keep_id = conversations.id AND d.last_inbound_at > conversations.last_inbound_at
        ORDER BY d.last_inbound_at DESC LIMIT 1), last_text),
    last_inbound_at = MAX(last_inbound_at, (SELECT MAX(d.last_inbound_at)
        FROM conversations d JOIN conversation_folds f ON f.fold_id = d.id WHERE f.keep_id = conversations.id)),
    first_response_at = COALESCE(first_response_at, (SELECT MIN(d.first_response_at)
        FROM conversations d JOIN conversation_folds f ON f.fold_id = d.id WHERE f.keep_id = conversations.id)),
    team = COALESCE(team, (SELECT d.team FROM conversations d JOIN conversation_folds f ON f.fold_id = d.id
        WHERE f.keep_id = conversations.id AND d.team IS NOT NULL ORDER BY d.opened_at LIMIT 1)),
    assignee = COALESCE(assignee, (SELECT d.assignee FROM conversations d JOIN conversation_folds f ON f.fold_id = d.id
        WHERE f.keep_id = conversations.id AND d.assignee IS NOT NULL ORDER BY d.opened_at LIMIT 1)),
    updated_at = (CAST(strftime('%s', 'now') AS INTEGER) * 1000)
WHERE id IN (SELECT keep_id FROM conversation_folds);

UPDATE events SET conversation_id = (SELECT f.keep_id FROM conversation_folds f WHERE f.fold_id = events.conversation_id)
WHERE conversation_id IN (SELECT fold_id FROM conversation_folds);
UPDATE conversation_log SET conversation_id = (SELECT f.keep_id FROM conversation_folds f WHERE f.fold_id = conversation_log.conversation_id)
WHERE conversation_id IN (SELECT fold_id FROM conversation_folds);

UPDATE conversations SET status = 'closed', resolution = 'merged', resolved_at = (CAST(strftime('%s', 'now') AS INTEGER) * 1000),
    merged_into = (SELECT f.keep_id FROM conversation_folds f WHERE f.fold_id = conversations.id),
    message_count = 0, sla_target = NULL, at_risk_at = NULL, due_at = NULL, level2_at = NULL,
    next_check_at = NULL, updated_at = (CAST(strftime('%s', 'now') AS INTEGER) * 1000)
WHERE id IN (SELECT fold_id FROM conversation_folds);

INSERT INTO conversation_log (id, conversation_id, at, actor, kind, detail)
SELECT 'merged-' || f.fold_id, f.keep_id, (CAST(strftime('%s', 'now') AS INTEGER) * 1000), 'system', 'merged',
       '{"from": "' || f.fold_id || '", "reason": "the same customer had two open conversations on this channel (migration 0011)"}'
FROM conversation_folds f;
INSERT INTO conversation_log (id, conversation_id, at, actor, kind, detail)
SELECT 'merged-into-' || f.fold_id, f.fold_id, (CAST(strftime('%s', 'now') AS INTEGER) * 1000), 'system', 'merged', '{"into": "' || f.keep_id || '"}'
FROM conversation_folds f;

INSERT INTO maintenance_log (id, at, count, note)
SELECT '0011_one_open_conversation', (CAST(strftime('%s', 'now') AS INTEGER) * 1000), COUNT(*),
       'duplicate open conversations folded into the oldest open conversation of their contact and channel'
FROM conversation_folds;
DROP TABLE conversation_folds;

CREATE UNIQUE INDEX conversations_one_open ON conversations (contact_id, channel) WHERE status = 'open';
