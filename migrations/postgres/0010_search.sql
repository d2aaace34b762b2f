-- Full-text search over messages. 'simple' is language-neutral (no stemming, no stop
-- words: every language is found as written, by the starts of its words). The column
-- follows the content by itself: an edited message is found by its new text, a deleted
-- one (its content emptied) by none.
ALTER TABLE messages ADD COLUMN search tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED;
CREATE INDEX messages_search ON messages USING gin (search);
