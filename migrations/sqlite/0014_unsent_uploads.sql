-- Each person's uploads not yet sent are counted against a quota on every upload.
CREATE INDEX files_unsent ON files (uploader_id, created_at) WHERE message_id IS NULL;
