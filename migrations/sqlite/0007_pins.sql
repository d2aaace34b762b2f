-- Pins (see migrations/postgres). SQLite cannot change a CHECK constraint in place:
-- the log's table is rebuilt.
ALTER TABLE messages ADD COLUMN pinned_at DATETIME;
CREATE INDEX messages_pinned ON messages (chat_id, pinned_at) WHERE pinned_at IS NOT NULL;

CREATE TABLE chat_events_new (
    chat_id     BLOB NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    event_seq   INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('created', 'renamed', 'described', 'added', 'left', 'removed', 'edited', 'deleted', 'reacted', 'unreacted', 'pinned', 'unpinned')),
    actor_id    BLOB NOT NULL REFERENCES users (id),
    subject_id  BLOB REFERENCES users (id),
    detail      TEXT,
    after_seq   INTEGER NOT NULL,
    created_at  DATETIME NOT NULL,
    message_seq INTEGER,
    previous    TEXT,
    PRIMARY KEY (chat_id, event_seq)
);
INSERT INTO chat_events_new (chat_id, event_seq, kind, actor_id, subject_id, detail, after_seq, created_at, message_seq, previous)
    SELECT chat_id, event_seq, kind, actor_id, subject_id, detail, after_seq, created_at, message_seq, previous FROM chat_events;
DROP TABLE chat_events;
ALTER TABLE chat_events_new RENAME TO chat_events;
CREATE INDEX chat_events_by_position ON chat_events (chat_id, after_seq);
CREATE INDEX chat_events_by_message ON chat_events (chat_id, message_seq) WHERE message_seq IS NOT NULL;
