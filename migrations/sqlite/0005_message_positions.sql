-- Where each message sits among the chat's logged changes (see migrations/postgres).
ALTER TABLE messages ADD COLUMN after_event_seq INTEGER NOT NULL DEFAULT 0;
