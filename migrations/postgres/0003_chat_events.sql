-- The chat's log of changes other than messages: created, renamed, described, people
-- added, left or removed. Written in the same transaction as the change, numbered per
-- chat without gaps by chats.last_event_seq (taken as last_seq is, by an UPDATE … 
-- RETURNING inside the write), so a client can resume after the last one it saw.
-- after_seq is the chat's last message seq when it happened: where it sits among the
-- messages.
ALTER TABLE chats ADD COLUMN last_event_seq bigint NOT NULL DEFAULT 0;

CREATE TABLE chat_events (
    chat_id     uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    event_seq   bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('created', 'renamed', 'described', 'added', 'left', 'removed')),
    actor_id    uuid NOT NULL REFERENCES users (id),
    -- Who was added or removed.
    subject_id  uuid REFERENCES users (id),
    -- The new name of a rename.
    detail      text,
    after_seq   bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (chat_id, event_seq)
);
CREATE INDEX chat_events_by_position ON chat_events (chat_id, after_seq);
