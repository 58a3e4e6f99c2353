-- Events a projection can never apply (a value its table cannot hold: a count past integer, an
-- index row too large): recorded here and skipped, so the projection goes on with the rest
-- (outreach/infra/subscription.py). Ops see them on the overview and with
-- `outreach projections failures`; a fixed projection is rebuilt to take them in.
CREATE TABLE projection_failures (
    subscription text        NOT NULL,  -- e.g. projection:household_facts
    position     bigint      NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    reason       text        NOT NULL,
    failed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription, position)
);
