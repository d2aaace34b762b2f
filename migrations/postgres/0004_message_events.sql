-- Edits and deletes join the chat's log, so they reach subscribers in order with every
-- other change and are replayed to those who missed them. message_seq names the
-- message; an edit's detail is the content it set (the message's earlier versions),
-- cleared when the message is deleted.
ALTER TABLE chat_events ADD COLUMN message_seq bigint;
ALTER TABLE chat_events DROP CONSTRAINT chat_events_kind_check;
ALTER TABLE chat_events ADD CONSTRAINT chat_events_kind_check
    CHECK (kind IN ('created', 'renamed', 'described', 'added', 'left', 'removed', 'edited', 'deleted'));
CREATE INDEX chat_events_by_message ON chat_events (chat_id, message_seq) WHERE message_seq IS NOT NULL;
