-- Where each message sits among the chat's logged changes: the chat's last_event_seq
-- when it was written (under the chat's lock, which every logged change takes too). A
-- receiver delivers a message only once it has applied every change up to there, so a
-- member removed before a message never gets it, whatever order the bus brings them in.
-- Messages written before this migration count as coming after no change.
ALTER TABLE messages ADD COLUMN after_event_seq bigint NOT NULL DEFAULT 0;
