-- Mentions (see migrations/postgres).
CREATE TABLE message_mentions (
    chat_id     BLOB NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id),
    message_seq INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id, message_seq)
);
CREATE INDEX message_mentions_by_message ON message_mentions (chat_id, message_seq);
