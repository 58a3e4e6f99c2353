-- People's access to the service (outreach/infra/access.py): API tokens and the access log.

-- Bearer tokens for the HTTP API and web page. Only a SHA-256 of the token is kept; the token
-- itself is shown once, by `outreach tokens create`. Caseworkers and supervisors see the
-- districts listed; ops see every district (districts is empty for them).
CREATE TABLE api_tokens (
    token_id    uuid        PRIMARY KEY,
    token_hash  bytea       NOT NULL UNIQUE,
    name        text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('caseworker', 'supervisor', 'ops')),
    districts   text[]      NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK (role = 'ops' OR cardinality(districts) > 0)
);

-- Every read of personal fields (names, ID numbers, phones, addresses, notes): who, what, when.
-- Append-only; `household` is the stream key, never the household id.
CREATE TABLE access_log (
    access_id   bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    token_id    uuid,
    role        text        NOT NULL,
    channel     text        NOT NULL CHECK (channel IN ('api', 'web', 'cli')),
    action      text        NOT NULL,
    case_id     text,
    household   text,
    fields      text[]      NOT NULL
);

CREATE INDEX access_log_case ON access_log (case_id, at);
CREATE INDEX access_log_actor ON access_log (actor, at);
