-- A person may hide their presence: the people they share chats with then never see
-- whether they are around.
ALTER TABLE users ADD COLUMN presence_hidden BOOLEAN NOT NULL DEFAULT 0;
