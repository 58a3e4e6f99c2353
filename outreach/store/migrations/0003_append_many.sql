-- Set-based append to many streams in one statement (EventStore.append_many).
--
-- Same rules as outreach_append (0001), applied per stream, all in the caller's transaction:
-- every argument array has one element per event, in append order; a stream's events are the
-- elements with that stream, and its expected version and data key id are taken from its first
-- event (the caller repeats them). Positions follow the scheme of 0001 (transaction id << 16
-- plus a running index); versions continue each stream's sequence in append order.
--
-- Returns, in this order of precedence (nothing is written unless the outcome is 'appended'):
--   * 'key_missing' (one row, stream set): a data key id no longer exists (shredded meanwhile);
--   * 'conflict' (one row, stream and its current version): a stream with a non-null expected
--     version is not at it;
--   * otherwise one row per event: 'appended' for streams written now, 'duplicate' (stored
--     version and position) for streams whose events were all stored already.
-- A stream with some but not all of its ids stored raises unique_violation with constraint
-- events_partial_duplicate (a caller bug); a concurrent append to one of the streams raises a
-- unique violation on events_stream_version (or events_event_id_key), like outreach_append.
-- Idempotency wins over the version and key checks, as in outreach_append.
CREATE FUNCTION outreach_append_many(
    p_streams         text[],
    p_expected        bigint[],
    p_key_ids         uuid[],
    p_ids             uuid[],
    p_types           text[],
    p_schema_versions integer[],
    p_data            jsonb[],
    p_metadata        jsonb[],
    p_occurred_at     timestamptz[]
) RETURNS TABLE (outcome text, stream text, event_id uuid, version bigint, "position" bigint)
LANGUAGE plpgsql
SET enable_seqscan = off  -- index probes and inserts only (see outreach_append)
AS $$
DECLARE
    v_dup_streams text[] := '{}';
    v_bad         text;
    v_streams     text[];
    v_versions    bigint[];
    v_head        bigint;
    v_base        bigint;
    v_rows        bigint;
    v_wanted      bigint;
BEGIN
    -- Idempotency: streams whose ids are stored already (all of them: duplicate; some: error).
    IF EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY (p_ids)) THEN
        SELECT coalesce(array_agg(s.stream) FILTER (WHERE s.stored = s.total), '{}'),
               min(s.stream) FILTER (WHERE s.stored > 0 AND s.stored < s.total)
        INTO v_dup_streams, v_bad
        FROM (SELECT t.stream, count(*) AS total, count(x.event_id) AS stored
              FROM unnest(p_streams, p_ids) AS t(stream, id)
              LEFT JOIN events x ON x.event_id = t.id
              GROUP BY t.stream) s;
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION 'some of stream %''s event ids are stored already, some not', v_bad
                USING ERRCODE = 'unique_violation', CONSTRAINT = 'events_partial_duplicate';
        END IF;
    END IF;

    -- Data keys the caller encrypted with must still exist.
    SELECT t.stream INTO v_bad
    FROM unnest(p_streams, p_key_ids) AS t(stream, key_id)
    WHERE t.key_id IS NOT NULL AND NOT (t.stream = ANY (v_dup_streams))
      AND NOT EXISTS (SELECT 1 FROM household_keys k WHERE k.key_id = t.key_id)
    LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RETURN QUERY SELECT 'key_missing'::text, v_bad, NULL::uuid, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;

    -- Each stream's head, read BEFORE this transaction draws its id (when it has none yet):
    -- anything visible now committed before that, so it has a smaller transaction id and a
    -- smaller position than the events appended below (versions and positions agree).
    SELECT coalesce(array_agg(h.stream), '{}'), coalesce(array_agg(h.version), '{}'),
           max(h.head), min(h.stream) FILTER (WHERE h.expected <> h.version)
    INTO v_streams, v_versions, v_head, v_bad
    FROM (SELECT t.stream, t.expected, coalesce(l.version, 0) AS version, l.position AS head
          FROM (SELECT DISTINCT ON (u.stream) u.stream, u.expected
                FROM unnest(p_streams, p_expected) WITH ORDINALITY AS u(stream, expected, ord)
                WHERE NOT (u.stream = ANY (v_dup_streams))
                ORDER BY u.stream, u.ord) t
          LEFT JOIN LATERAL (SELECT e.version, e.position FROM events e
                             WHERE e.stream = t.stream
                             ORDER BY e.version DESC LIMIT 1) l ON true) h;
    IF v_bad IS NOT NULL THEN
        RETURN QUERY SELECT 'conflict'::text, v_bad, NULL::uuid,
                            v_versions[array_position(v_streams, v_bad)], NULL::bigint;
        RETURN;
    END IF;
    IF cardinality(v_streams) > 0 THEN
        v_base := pg_current_xact_id()::text::bigint << 16;
        -- A caller's transaction that had an id already may see a head written by a later
        -- transaction; appending after it would put a higher version at a lower position.
        IF v_head >= v_base + 65536 THEN
            RAISE EXCEPTION 'a stream was appended to by a newer transaction: retry in a new one'
                USING ERRCODE = 'unique_violation', CONSTRAINT = 'events_stream_version';
        END IF;
        RETURN QUERY
        WITH input AS (
            SELECT t.*, row_number() OVER (ORDER BY t.ord) AS idx,
                   row_number() OVER (PARTITION BY t.stream ORDER BY t.ord) AS nth
            FROM unnest(p_streams, p_ids, p_types, p_schema_versions, p_data, p_metadata,
                        p_occurred_at)
                 WITH ORDINALITY AS t(stream, id, type, sv, data, meta, occurred, ord)
            WHERE NOT (t.stream = ANY (v_dup_streams))
        ), heads AS (
            SELECT * FROM unnest(v_streams, v_versions) AS h(stream, current)
        ), next AS (
            SELECT coalesce((SELECT x.position + 1 FROM events x
                             WHERE x.position >= v_base AND x.position < v_base + 65536
                             ORDER BY x.position DESC LIMIT 1), v_base) AS first
        ), inserted AS (
            INSERT INTO events AS e (position, event_id, stream, version, type, schema_version,
                                     data, metadata, occurred_at)
            SELECT n.first + i.idx - 1, i.id, i.stream, h.current + i.nth, i.type, i.sv, i.data,
                   i.meta, i.occurred
            FROM input i JOIN heads h ON h.stream = i.stream CROSS JOIN next n
            ORDER BY i.idx
            RETURNING e.stream, e.event_id, e.version, e.position
        )
        SELECT 'appended'::text, r.stream, r.event_id, r.version, r.position
        FROM inserted r ORDER BY r.position;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        SELECT count(*) INTO v_wanted
        FROM unnest(p_streams) AS t(stream) WHERE NOT (t.stream = ANY (v_dup_streams));
        IF v_rows <> v_wanted THEN  -- cannot happen: a conflict raises; kept as a guard
            RAISE EXCEPTION 'append_many wrote % of % events', v_rows, v_wanted;
        END IF;
    END IF;

    IF cardinality(v_dup_streams) > 0 THEN
        RETURN QUERY
        SELECT 'duplicate'::text, t.stream, e.event_id, e.version, e.position
        FROM unnest(p_streams, p_ids) AS t(stream, id) JOIN events e ON e.event_id = t.id
        WHERE t.stream = ANY (v_dup_streams)
        ORDER BY e.position;
    END IF;
END $$;
