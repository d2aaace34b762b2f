-- Files attached to messages. A file is uploaded first (message_id NULL: owned by its
-- uploader, for one chat) and becomes part of a message in the message's own write.
-- The bytes live in a blob store under the file's id (and `<id>.thumbnail`).
CREATE TABLE files (
    id           uuid PRIMARY KEY,
    chat_id      uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    uploader_id  uuid NOT NULL REFERENCES users (id),
    message_id   uuid REFERENCES messages (id) ON DELETE CASCADE,
    -- Its place among its message's files.
    position     integer,
    name         text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL,
    width        integer,
    height       integer,
    created_at   timestamptz NOT NULL
);
CREATE INDEX files_message ON files (message_id, position);

-- The blob store of the real topology: every instance sees every file, no shared disk.
CREATE TABLE blobs (
    key   text PRIMARY KEY,
    bytes bytea NOT NULL
);
