-- Replies, reactions and edit history.

-- Replies: the seq of the message a message answers, in the same chat (seqs never
-- change and messages are never removed, only emptied, so the seq always names it).
ALTER TABLE messages ADD COLUMN reply_to_seq bigint;

-- Reactions: who put which emoji on which message. Adding one twice is one (the key);
-- each addition and removal is also logged in the chat, with the emoji as its detail.
CREATE TABLE message_reactions (
    chat_id     uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    message_seq bigint NOT NULL,
    emoji       text NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (chat_id, message_seq, emoji, user_id)
);

-- Edit history: an edit keeps the content it replaced beside the content it set, so a
-- message's versions are the first edit's previous content, then each edit's.
ALTER TABLE chat_events ADD COLUMN previous text;

ALTER TABLE chat_events DROP CONSTRAINT chat_events_kind_check;
ALTER TABLE chat_events ADD CONSTRAINT chat_events_kind_check
    CHECK (kind IN ('created', 'renamed', 'described', 'added', 'left', 'removed', 'edited', 'deleted',
                    'reacted', 'unreacted'));
