-- `@all`: a group owner's message that mentions every other member. It is one flag on
-- the message, not a row per member: a member's unread mentions add the flagged
-- messages after their read watermark that someone else wrote.
ALTER TABLE messages ADD COLUMN mentions_all boolean NOT NULL DEFAULT false;
CREATE INDEX messages_mentioning_all ON messages (chat_id, seq) WHERE mentions_all;
