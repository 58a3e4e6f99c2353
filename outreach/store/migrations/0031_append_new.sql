-- outreach_append_new: append the events whose ids are not stored yet, to many streams, in the
-- caller's transaction; report the ids that were skipped because they are stored already
-- (EventStore.append_new, used by ingest for every Kafka batch).
--
-- append_many (0003) is idempotent per stream: a stream whose events are all stored is reported
-- as a duplicate, one with some stored and some not is a caller error. That makes a batch
-- re-read after a crash (an old event and a new one for the same household) need a lookup
-- first. Here idempotency is per event, which is what an agency feed needs, and the common case
-- (nothing stored yet) costs one statement with no result rows: positions and versions are not
-- returned (the caller does not need them).
--
-- Arguments: one element per event, in append order; a stream's events are the elements with that
-- stream; an event's data key id (null: no personal fields) is the one its personal fields were
-- encrypted with. Expected version: any. Positions follow 0001 (transaction id << 16 plus a
-- running index within the transaction), versions continue each stream in append order, with
-- the same guard as 0004 against appending after a head written by a newer transaction.
--
-- Returns:
--   * 'key_missing' (one row, stream set, nothing written): a data key no longer exists
--     (shredded meanwhile: the caller re-encrypts with a new key and calls again);
--   * otherwise one 'stored' row per skipped event (its id), and nothing for appended events.
-- A concurrent append to one of the streams (or of one of the events) raises a unique violation
-- on events_stream_version (or events_event_id_key), as outreach_append does: retry the
-- transaction.
CREATE FUNCTION outreach_append_new(
    p_streams         text[],
    p_key_ids         uuid[],
    p_ids             uuid[],
    p_types           text[],
    p_schema_versions integer[],
    p_data            jsonb[],
    p_metadata        jsonb[],
    p_occurred_at     timestamptz[]
) RETURNS TABLE (outcome text, stream text, event_id uuid)
LANGUAGE plpgsql
SET enable_seqscan = off  -- index probes and inserts only (see outreach_append)
AS $$
DECLARE
    v_bad      text;
    v_base     bigint;
    v_first    bigint;
    v_head     bigint;
    v_stored   uuid[];
    v_streams  text[];
    v_versions bigint[];
BEGIN
    -- Data keys the caller encrypted with must still exist (one probe per distinct key).
    SELECT k.stream INTO v_bad
    FROM (SELECT DISTINCT t.stream, t.key_id
          FROM unnest(p_streams, p_key_ids) AS t(stream, key_id)
          WHERE t.key_id IS NOT NULL) k
    WHERE NOT EXISTS (SELECT 1 FROM household_keys h WHERE h.key_id = k.key_id)
    LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RETURN QUERY SELECT 'key_missing'::text, v_bad, NULL::uuid;
        RETURN;
    END IF;

    -- Events stored already are skipped (one index probe each) and reported.
    SELECT coalesce(array_agg(e.event_id), '{}') INTO v_stored
    FROM events e WHERE e.event_id = ANY (p_ids);

    -- Each stream's head, read BEFORE this transaction draws its id when it has none yet (see
    -- append_many in 0003: then every visible head has a smaller position than ours).
    SELECT coalesce(array_agg(t.stream), '{}'), coalesce(array_agg(coalesce(l.version, 0)), '{}'),
           max(l.position)
    INTO v_streams, v_versions, v_head
    FROM (SELECT DISTINCT u.stream FROM unnest(p_streams, p_ids) AS u(stream, id)
          WHERE NOT (u.id = ANY (v_stored))) t
    LEFT JOIN LATERAL (SELECT e.version, e.position FROM events e
                       WHERE e.stream = t.stream
                       ORDER BY e.version DESC LIMIT 1) l ON true;

    IF cardinality(v_streams) > 0 THEN
        v_base := pg_current_xact_id()::text::bigint << 16;
        IF v_head >= v_base + 65536 THEN  -- the guard of 0004
            RAISE EXCEPTION 'a stream was appended to by a newer transaction: retry in a new one'
                USING ERRCODE = 'unique_violation', CONSTRAINT = 'events_stream_version';
        END IF;
        SELECT coalesce(max(x.position) + 1, v_base) INTO v_first
        FROM events x WHERE x.position >= v_base AND x.position < v_base + 65536;

        -- Only the narrow columns are numbered (sorted); the bodies join back by ordinal.
        INSERT INTO events AS e (position, event_id, stream, version, type, schema_version,
                                 data, metadata, occurred_at)
        SELECT v_first + n.idx - 1, w.id, n.stream, h.current + n.nth, w.type, w.sv, w.data,
               w.meta, w.occurred
        FROM (SELECT u.ord, u.stream,
                     row_number() OVER (ORDER BY u.ord) AS idx,
                     row_number() OVER (PARTITION BY u.stream ORDER BY u.ord) AS nth
              FROM unnest(p_streams, p_ids) WITH ORDINALITY AS u(stream, id, ord)
              WHERE NOT (u.id = ANY (v_stored))) n
        JOIN unnest(p_ids, p_types, p_schema_versions, p_data, p_metadata, p_occurred_at)
             WITH ORDINALITY AS w(id, type, sv, data, meta, occurred, ord) ON w.ord = n.ord
        JOIN unnest(v_streams, v_versions) AS h(stream, current) ON h.stream = n.stream;
    END IF;

    RETURN QUERY SELECT 'stored'::text, NULL::text, s.id FROM unnest(v_stored) AS s(id);
END $$;
