-- Read models built from the event store (outreach/infra/projections/). Each is rebuilt from
-- position 0 by `outreach projections rebuild NAME`; its checkpoint is checkpoints.name =
-- 'projection:NAME', updated in the same transaction as its rows.

-- One row per case (outreach/infra/projections/cases.py documents the events it follows).
CREATE TABLE cases (
    case_id       text        PRIMARY KEY,
    household     text        NOT NULL,  -- the household's stream key (HMAC), not its id
    status        text        NOT NULL CHECK (status IN ('open', 'closed')),
    stage         text        NOT NULL,
    district      text,
    programmes    jsonb       NOT NULL DEFAULT '[]',
    outcome       text,
    close_reason  text,
    opened_at     timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    closed_at     timestamptz,
    last_position bigint      NOT NULL
);

CREATE INDEX cases_household ON cases (household);
CREATE INDEX cases_status_district ON cases (status, district);

-- Latest fact of each kind per household, from facts.household.reported.
CREATE TABLE household_facts (
    household   text        NOT NULL,  -- stream key
    kind        text        NOT NULL,  -- income, real_estate, vehicle, business, pension, benefit
    district    text,
    amount      numeric,
    count       integer,
    period      text,
    detail      jsonb,
    fact        jsonb       NOT NULL,  -- the whole fact object as reported
    reported_at timestamptz NOT NULL,  -- occurred_at of the event (the agency's time)
    event_id    uuid        NOT NULL,
    position    bigint      NOT NULL,
    PRIMARY KEY (household, kind)
);
