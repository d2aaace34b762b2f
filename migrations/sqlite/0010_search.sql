-- Full-text search over messages: an FTS5 index of their content, kept by triggers (an
-- edit re-indexes a message, a delete empties it). unicode61 folds case and splits on
-- what is not a letter or digit, as the PostgreSQL index does; accents are kept, as
-- there.
CREATE VIRTUAL TABLE messages_search USING fts5(
    content,
    content = 'messages',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_search (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, content)
        VALUES ('delete', old.rowid, old.content);
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_search (messages_search, rowid, content)
        VALUES ('delete', old.rowid, old.content);
    INSERT INTO messages_search (rowid, content) VALUES (new.rowid, new.content);
END;
INSERT INTO messages_search (messages_search) VALUES ('rebuild');
