-- outreach_append, as in 0001, plus a guard: when the calling transaction already had its id
-- (it wrote something before this call), it may see a stream head appended by a transaction with a
-- larger id. Appending after that head would give a higher version a lower global position, so
-- followers would see the stream out of order. The guard reports it as a lost race (the same
-- unique violation a concurrent append to the same stream raises), and the caller retries in a new
-- transaction. append_many (0003) has the same guard.

CREATE OR REPLACE FUNCTION outreach_append(
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
    v_head    bigint;
    v_key_ok  boolean;
    v_base    bigint;
    v_rows    bigint;
BEGIN
    -- The usual case in two statements: check, then insert (stored ids are skipped by the
    -- insert itself and looked up below only when that happened).
    SELECT coalesce(h.version, 0), coalesce(h.position, 0),
           p_key_id IS NULL
           OR (SELECT k.key_id FROM household_keys k WHERE k.key_id = p_key_id) IS NOT NULL
    INTO v_current, v_head, v_key_ok
    FROM (SELECT NULL) one
    LEFT JOIN LATERAL (SELECT e.version, e.position FROM events e WHERE e.stream = p_stream
                       ORDER BY e.version DESC LIMIT 1) h ON true;

    IF v_key_ok AND (p_expected IS NULL OR p_expected = v_current) THEN
        -- Positions: this transaction's id in the high bits, a running index in the low 16
        -- (the store allows 65,536 per append; more in one transaction would run into the next
        -- transaction id's range and fail on the primary key, never misorder).
        v_base := pg_current_xact_id()::text::bigint << 16;
        -- A caller's transaction that got its id before this call may see a head written by a
        -- later transaction; appending after it would put a higher version at a lower position
        -- (per-stream order broken in the global order). Refuse as a lost race: retry anew.
        IF v_head >= v_base + 65536 THEN
            RAISE EXCEPTION 'stream % was appended to by a newer transaction: retry in a new one',
                p_stream USING ERRCODE = 'unique_violation', CONSTRAINT = 'events_stream_version';
        END IF;
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
