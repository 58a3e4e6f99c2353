-- The event store: the system of record (DESIGN.md, "Data flow").
--
-- Positions: a row's global position is (top-level transaction id << 16) + its index within that
-- transaction (outreach/infra/event_store.py explains why). Followers read only below
-- (pg_snapshot_xmin(pg_current_snapshot()) << 16): every transaction below that line has ended,
-- so no event can later appear behind a position a follower has already passed.

CREATE TABLE events (
    position       bigint      PRIMARY KEY,
    event_id       uuid        NOT NULL UNIQUE,
    stream         text        NOT NULL,
    version        bigint      NOT NULL CHECK (version > 0),
    type           text        NOT NULL,
    schema_version integer     NOT NULL CHECK (schema_version > 0),
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL DEFAULT '{}',
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_stream_version UNIQUE (stream, version)
);

COMMENT ON TABLE events IS
    'Append-only domain timeline; written only by outreach_append (outreach/infra/event_store.py)';
COMMENT ON COLUMN events.stream IS
    'HMAC-SHA256 (hex) of the household id: never the id itself';
COMMENT ON COLUMN events.data IS
    'Event data; the top-level "personal" member is AES-GCM ciphertext under the stream''s key';

-- Append-only: history is never edited. Personal data is removed by deleting the household's
-- key (crypto-shredding), not by touching events.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- One data key per household stream, wrapped (AES-GCM) with the master key from settings.
-- Deleting a row crypto-shreds that household's personal fields.
CREATE TABLE household_keys (
    stream      text        PRIMARY KEY,
    key_id      uuid        NOT NULL UNIQUE,
    wrapped_key bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Where each follower (subscription, projection) has got to in the global order.
CREATE TABLE checkpoints (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Transactional outbox: written in the same transaction as the events that caused it, published
-- by `outreach relay` in position order (same numbering scheme as events).
CREATE TABLE outbox (
    position   bigint      PRIMARY KEY,
    message_id text        NOT NULL,
    topic      text        NOT NULL,
    key        text,
    payload    jsonb       NOT NULL,
    headers    jsonb       NOT NULL DEFAULT '{}',
    stream     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);

CREATE INDEX outbox_unsent ON outbox (position) WHERE sent_at IS NULL;

-- Append a batch to one stream in one statement (one round trip).
--
-- Returns one row per event with outcome 'appended'; or, when the batch's ids are stored already,
-- the stored rows with outcome 'duplicate' and nothing written; else a single row 'conflict'
-- (version = the stream's current version) when p_expected is not null and differs from it, or
-- 'key_missing' when p_key_id (the data key the caller encrypted with) no longer exists.
-- Idempotency wins over the version check: a retried append whose first attempt committed
-- reports 'duplicate', not 'conflict'. Raises unique_violation with constraint
-- events_partial_duplicate when only some ids are stored (a caller bug), and a unique violation
-- on events_stream_version when a concurrent append to the same stream won the race.
CREATE FUNCTION outreach_append(
    p_stream          text,
    p_expected        bigint,
    p_key_id          uuid,
    p_ids             uuid[],
    p_types           text[],
    p_schema_versions integer[],
    p_data            jsonb[],
    p_metadata        jsonb[],
    p_occurred_at     timestamptz[],
    p_ob_ids          text[],
    p_ob_topics       text[],
    p_ob_keys         text[],
    p_ob_payloads     jsonb[],
    p_ob_headers      jsonb[]
) RETURNS TABLE (outcome text, event_id uuid, version bigint, "position" bigint)
LANGUAGE plpgsql
-- Every statement here is an index probe or an insert. A session caches these plans the first
-- time it runs them, possibly while the table is still tiny and a sequential scan looks
-- cheaper; without this setting such a plan would stay (a full scan per append) until the next
-- ANALYZE invalidated it.
SET enable_seqscan = off
AS $$
DECLARE
    v_current bigint;
    v_key_ok  boolean;
    v_base    bigint;
    v_rows    bigint;
BEGIN
    -- The usual case in two statements: check, then insert (stored ids are skipped by the
    -- insert itself and looked up below only when that happened).
    SELECT coalesce((SELECT e.version FROM events e WHERE e.stream = p_stream
                     ORDER BY e.version DESC LIMIT 1), 0),
           p_key_id IS NULL
           OR (SELECT k.key_id FROM household_keys k WHERE k.key_id = p_key_id) IS NOT NULL
    INTO v_current, v_key_ok;

    IF v_key_ok AND (p_expected IS NULL OR p_expected = v_current) THEN
        -- Positions: this transaction's id in the high bits, a running index in the low 16
        -- (the store allows 65,536 per append; more in one transaction would run into the next
        -- transaction id's range and fail on the primary key, never misorder).
        v_base := pg_current_xact_id()::text::bigint << 16;
        RETURN QUERY
        INSERT INTO events AS e (position, event_id, stream, version, type, schema_version, data,
                                 metadata, occurred_at)
        SELECT n.next + t.ord - 1, t.id, p_stream, v_current + t.ord, t.type, t.sv, t.data,
               t.meta, t.occurred
        FROM (SELECT coalesce((SELECT x.position + 1 FROM events x
                               WHERE x.position >= v_base AND x.position < v_base + 65536
                               ORDER BY x.position DESC LIMIT 1), v_base) AS next) n,
             unnest(p_ids, p_types, p_schema_versions, p_data, p_metadata, p_occurred_at)
             WITH ORDINALITY AS t(id, type, sv, data, meta, occurred, ord)
        ON CONFLICT ON CONSTRAINT events_event_id_key DO NOTHING
        RETURNING 'appended'::text, e.event_id, e.version, e.position;
        GET DIAGNOSTICS v_rows = ROW_COUNT;

        IF v_rows = cardinality(p_ids) THEN
            IF cardinality(p_ob_ids) > 0 THEN
                INSERT INTO outbox (position, message_id, topic, key, payload, headers, stream)
                SELECT n.next + t.ord - 1, t.id, t.topic, t.key, t.payload, t.headers, p_stream
                FROM (SELECT coalesce((SELECT o.position + 1 FROM outbox o
                                       WHERE o.position >= v_base AND o.position < v_base + 65536
                                       ORDER BY o.position DESC LIMIT 1), v_base) AS next) n,
                     unnest(p_ob_ids, p_ob_topics, p_ob_keys, p_ob_payloads, p_ob_headers)
                     WITH ORDINALITY AS t(id, topic, key, payload, headers, ord);
            END IF;
            RETURN;
        END IF;
        IF v_rows > 0 THEN
            RAISE EXCEPTION 'some of the batch''s event ids are stored already, some not'
                USING ERRCODE = 'unique_violation', CONSTRAINT = 'events_partial_duplicate';
        END IF;
    END IF;

    RETURN QUERY
        SELECT 'duplicate'::text, e.event_id, e.version, e.position
        FROM events e WHERE e.event_id = ANY (p_ids) ORDER BY e.position;
    IF FOUND THEN
        RETURN;
    END IF;
    IF NOT v_key_ok THEN
        RETURN QUERY SELECT 'key_missing'::text, NULL::uuid, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    RETURN QUERY SELECT 'conflict'::text, NULL::uuid, v_current, NULL::bigint;
END $$;
