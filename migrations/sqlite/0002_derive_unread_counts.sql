-- Unread counts are derived, not stored: a participant's count is
-- chats.last_seq - message_reads.last_read_seq (see migrations/postgres).
DROP TABLE unread_counts;
