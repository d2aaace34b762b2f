-- A participant may mute a chat: no notifications for it, its unread count shown
-- without emphasis. Theirs alone: nobody else sees it, and it is not a change in the
-- chat's log.
ALTER TABLE chat_participants ADD COLUMN muted BOOLEAN NOT NULL DEFAULT 0;
