-- Unread counts are derived, not stored: a participant's count is
-- chats.last_seq - message_reads.last_read_seq. Sending moves the sender's watermark
-- to their newest message, newcomers start at the chat's end and watermarks only move
-- forward, so everything after a watermark was written by someone else.
DROP TABLE unread_counts;
