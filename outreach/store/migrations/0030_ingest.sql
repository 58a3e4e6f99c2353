-- Ingest's own bookkeeping (outreach/infra/ingest*.py); the events themselves live in `events`.

-- Every inbound message that broke the contract and went to outreach.deadletter: the ops page's
-- "dead-lettered" count and its reasons. A message redelivered after a crash is logged once:
-- (topic, partition, offset, broker timestamp) names one Kafka record even when an embedded
-- broker restarts its offsets at zero. No message content is kept here (it may be personal);
-- the original bytes are on the dead-letter topic.
CREATE TABLE deadletter_log (
    id              bigserial   PRIMARY KEY,
    source_topic    text        NOT NULL,
    source_partition integer    NOT NULL,
    source_offset   bigint      NOT NULL,
    source_timestamp bigint     NOT NULL,
    kind            text        NOT NULL,
    reason          text        NOT NULL,
    event_type      text,
    event_source    text,
    event_id        text,
    deadlettered_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deadletter_log_record UNIQUE (source_topic, source_partition, source_offset,
                                             source_timestamp)
);

CREATE INDEX deadletter_log_time ON deadletter_log (deadlettered_at);

-- Stored agency events whose case delivery is done: signalled (or signal-with-started) to the
-- household's OutreachCase, or found no open case to join. A redelivered event listed here is
-- not sent again; this matters after a case has closed, when the workflow's own dedupe (per
-- run) would no longer recognise the old event and a redelivery would open a new case.
CREATE TABLE ingest_deliveries (
    event_id     uuid        PRIMARY KEY,
    workflow_id  text        NOT NULL,
    outcome      text        NOT NULL CHECK (outcome IN ('delivered', 'no_open_case')),
    delivered_at timestamptz NOT NULL DEFAULT now()
);
