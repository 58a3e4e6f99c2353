-- household_facts keeps no personal field: fact.detail is personal (free text such as an address
-- or a plate number, encrypted in the event store), so the projection now keeps only the
-- programme a `benefit` fact names, as {"programme": ...}, and `fact` without `detail`.
-- Rows written before this change are brought in line here (a rebuild gives the same rows).
WITH named AS (
    SELECT household, kind,
           lower(btrim(coalesce(detail ->> 'programme', detail #>> '{}'))) AS programme
    FROM household_facts
)
UPDATE household_facts f SET
    fact = f.fact - 'detail',
    detail = CASE
        WHEN f.kind = 'benefit' AND n.programme IN (
            'dibao', 'tekun', 'temporary_assistance', 'disability_living_subsidy',
            'disability_nursing_subsidy'
        ) THEN jsonb_build_object('programme', n.programme)
    END
FROM named n
WHERE n.household = f.household AND n.kind = f.kind;

COMMENT ON COLUMN household_facts.detail IS
    'benefit facts: {"programme": name} when fact.detail names a programme; otherwise null';
COMMENT ON COLUMN household_facts.fact IS 'the fact as reported, without its personal detail';
