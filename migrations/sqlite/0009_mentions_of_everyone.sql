-- `@all` (see migrations/postgres).
ALTER TABLE messages ADD COLUMN mentions_all BOOLEAN NOT NULL DEFAULT 0;
CREATE INDEX messages_mentioning_all ON messages (chat_id, seq) WHERE mentions_all;
