-- Where each participant stands with a chat. Someone put in a chat by a person they
-- have never talked with gets it as a request ('requested') until they accept it; a
-- direct request they turn down is 'declined' (hidden from them; the other person is
-- not told). Everyone already in a chat has accepted it.
ALTER TABLE chat_participants ADD COLUMN standing text NOT NULL DEFAULT 'accepted'
    CHECK (standing IN ('accepted', 'requested', 'declined'));
