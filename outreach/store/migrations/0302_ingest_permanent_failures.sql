-- Ingest sets aside what can never succeed instead of retrying it forever (ingest_pipeline).

-- A dead letter the broker refused (e.g. larger than any message it takes) is recorded and
-- skipped: publish_error says why it is not on outreach.deadletter.
ALTER TABLE deadletter_log ADD COLUMN publish_error text;

-- A stored event whose case delivery Temporal refused for what it carries: 'rejected', logged
-- as an error, not sent again.
ALTER TABLE ingest_deliveries DROP CONSTRAINT ingest_deliveries_outcome_check;
ALTER TABLE ingest_deliveries ADD CONSTRAINT ingest_deliveries_outcome_check
    CHECK (outcome IN ('delivered', 'no_open_case', 'rejected'));
