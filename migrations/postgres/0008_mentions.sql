-- Mentions: the members a message names with @username, found when it is sent. A
-- person's unread mentions in a chat are those after their read watermark.
CREATE TABLE message_mentions (
    chat_id     uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id),
    message_seq bigint NOT NULL,
    PRIMARY KEY (chat_id, user_id, message_seq)
);
CREATE INDEX message_mentions_by_message ON message_mentions (chat_id, message_seq);
