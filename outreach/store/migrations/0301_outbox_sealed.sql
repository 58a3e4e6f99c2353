-- Outbound messages name the household (data.household_id). From this version on the event
-- store writes that field encrypted with the household's data key, under data.personal like an
-- event's personal fields (outreach/infra/event_store.py, OUTBOX_PERSONAL), and the relay opens
-- it when it publishes; shredding the household leaves it unreadable.
--
-- Rows written in clear before: unsent ones are still published as they are (the relay reads
-- both forms) and lose the field when marked sent; sent ones, kept only until the retention
-- prune, lose it now (a published message needs nothing more from its row).
UPDATE outbox SET payload = payload #- '{data,household_id}'
WHERE sent_at IS NOT NULL AND payload #> '{data,household_id}' IS NOT NULL;

COMMENT ON COLUMN outbox.payload IS
    'The CloudEvent; personal fields of its data (household_id) are AES-GCM ciphertext under '
    'data.personal, with the stream''s key';
