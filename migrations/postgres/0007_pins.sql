-- Pins: when a message was pinned to its chat. Pinning and unpinning are changes
-- logged in the chat like any other.
ALTER TABLE messages ADD COLUMN pinned_at timestamptz;
CREATE INDEX messages_pinned ON messages (chat_id, pinned_at) WHERE pinned_at IS NOT NULL;

ALTER TABLE chat_events DROP CONSTRAINT chat_events_kind_check;
ALTER TABLE chat_events ADD CONSTRAINT chat_events_kind_check
    CHECK (kind IN ('created', 'renamed', 'described', 'added', 'left', 'removed', 'edited', 'deleted',
                    'reacted', 'unreacted', 'pinned', 'unpinned'));
