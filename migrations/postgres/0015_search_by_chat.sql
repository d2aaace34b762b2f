-- SQLite's search index now carries each message's chat (its 0015); PostgreSQL already
-- looks in the searcher's chats first (per chat, or through the chat list), so nothing
-- changes here. The file keeps both backends at the same version.
SELECT 1;
