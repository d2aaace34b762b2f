-- Files attached to messages. A file is uploaded first (message_id NULL: owned by its
-- uploader, for one chat) and becomes part of a message in the message's own write.
-- The bytes live in the data folder's blob store under the file's id.
CREATE TABLE files (
    id           BLOB PRIMARY KEY,
    chat_id      BLOB NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    uploader_id  BLOB NOT NULL REFERENCES users (id),
    message_id   BLOB REFERENCES messages (id) ON DELETE CASCADE,
    position     INTEGER,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    width        INTEGER,
    height       INTEGER,
    created_at   DATETIME NOT NULL
);
CREATE INDEX files_message ON files (message_id, position);
