-- The chat's log of changes other than messages (see migrations/postgres).
ALTER TABLE chats ADD COLUMN last_event_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE chat_events (
    chat_id     BLOB NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    event_seq   INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('created', 'renamed', 'described', 'added', 'left', 'removed')),
    actor_id    BLOB NOT NULL REFERENCES users (id),
    subject_id  BLOB REFERENCES users (id),
    detail      TEXT,
    after_seq   INTEGER NOT NULL,
    created_at  DATETIME NOT NULL,
    PRIMARY KEY (chat_id, event_seq)
);
CREATE INDEX chat_events_by_position ON chat_events (chat_id, after_seq);
