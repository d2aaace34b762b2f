-- Accounts. Usernames and emails are stored lowercase, so uniqueness is case-insensitive.
CREATE TABLE users (
    id             uuid PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    email          text NOT NULL UNIQUE,
    display_name   text NOT NULL,
    password_hash  text NOT NULL,
    is_active      boolean NOT NULL DEFAULT true,
    -- Bumped by logout, password change and deactivation: tokens carrying an older
    -- version stop working everywhere.
    token_version  bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE TABLE chats (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('direct', 'group')),
    name             text,
    description      text,
    created_by       uuid NOT NULL REFERENCES users (id),
    -- The pair of a direct chat, smaller id first: a pair has one direct chat.
    direct_key       text UNIQUE,
    -- The chat's message counter; taken by `UPDATE … RETURNING` inside each write.
    last_seq         bigint NOT NULL DEFAULT 0,
    last_message_at  timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE chat_participants (
    chat_id    uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id),
    role       text NOT NULL CHECK (role IN ('owner', 'member')),
    joined_at  timestamptz NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX chat_participants_by_user ON chat_participants (user_id);

CREATE TABLE messages (
    id          uuid PRIMARY KEY,
    chat_id     uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    sender_id   uuid NOT NULL REFERENCES users (id),
    content     text NOT NULL,
    client_id   text,
    created_at  timestamptz NOT NULL,
    edited_at   timestamptz,
    deleted_at  timestamptz,
    UNIQUE (chat_id, seq),
    UNIQUE (chat_id, sender_id, client_id)
);

-- Incremented for every other participant in the message's own transaction, by one
-- statement: no read-modify-write race.
CREATE TABLE unread_counts (
    chat_id       uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id),
    unread_count  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_id)
);

-- A read watermark per participant: "who has read message N" is every participant
-- whose last_read_seq >= N.
CREATE TABLE message_reads (
    chat_id        uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    user_id        uuid NOT NULL REFERENCES users (id),
    last_read_seq  bigint NOT NULL DEFAULT 0,
    read_at        timestamptz NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);
