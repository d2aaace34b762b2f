-- The SQLite mirror of migrations/postgres: uuids are 16-byte blobs, timestamps
-- RFC 3339 text, booleans integers.
CREATE TABLE users (
    id             BLOB PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    email          TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    is_active      BOOLEAN NOT NULL DEFAULT 1,
    token_version  INTEGER NOT NULL DEFAULT 0,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL
);

CREATE TABLE chats (
    id               BLOB PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    name             TEXT,
    description      TEXT,
    created_by       BLOB NOT NULL REFERENCES users (id),
    direct_key       TEXT UNIQUE,
    last_seq         INTEGER NOT NULL DEFAULT 0,
    last_message_at  DATETIME,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL
);

CREATE TABLE chat_participants (
    chat_id    BLOB NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES users (id),
    role       TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    joined_at  DATETIME NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
CREATE INDEX chat_participants_by_user ON chat_participants (user_id);

CREATE TABLE messages (
    id          BLOB PRIMARY KEY,
    chat_id     BLOB NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    sender_id   BLOB NOT NULL REFERENCES users (id),
    content     TEXT NOT NULL,
    client_id   TEXT,
    created_at  DATETIME NOT NULL,
    edited_at   DATETIME,
    deleted_at  DATETIME,
    UNIQUE (chat_id, seq),
    UNIQUE (chat_id, sender_id, client_id)
);

CREATE TABLE unread_counts (
    chat_id       BLOB NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id       BLOB NOT NULL REFERENCES users (id),
    unread_count  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;

CREATE TABLE message_reads (
    chat_id        BLOB NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id        BLOB NOT NULL REFERENCES users (id),
    last_read_seq  INTEGER NOT NULL DEFAULT 0,
    read_at        DATETIME NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
