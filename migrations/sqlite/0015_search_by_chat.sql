-- Searches look only in the searcher's chats before they match words: each message is
-- indexed with a token naming its chat ('c' and the chat's id in hex, in a column of
-- its own), and a query asks for "one of these chats, and these words" in one MATCH,
-- read newest first. Two- and three-letter prefixes get indexes of their own, so a
-- short prefix is one lookup, not a merge of every word it begins. The index keeps no
-- copy of the text (contentless) and deletes by rowid.
DROP TRIGGER messages_search_insert;
DROP TRIGGER messages_search_delete;
DROP TRIGGER messages_search_update;
DROP TABLE messages_search;
CREATE VIRTUAL TABLE messages_search USING fts5(
    content,
    chat,
    content = '',
    contentless_delete = 1,
    prefix = '2 3',
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_search (rowid, content, chat)
        VALUES (new.rowid, new.content, 'c' || lower(hex(new.chat_id)));
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN
    DELETE FROM messages_search WHERE rowid = old.rowid;
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF content ON messages BEGIN
    DELETE FROM messages_search WHERE rowid = old.rowid;
    INSERT INTO messages_search (rowid, content, chat)
        VALUES (new.rowid, new.content, 'c' || lower(hex(new.chat_id)));
END;
INSERT INTO messages_search (rowid, content, chat)
    SELECT rowid, content, 'c' || lower(hex(chat_id)) FROM messages;
