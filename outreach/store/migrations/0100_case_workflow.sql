-- The case workflow's tables (outreach/workflows/, outreach/activities/).
--
-- visit_tasks and enrolments are projections of the case's domain events (outreach/activities/
-- read_models.py), rebuilt from position 0 like the others; notifications is the default channel
-- adapter's outbox to the people it tells (written by the adapter, not derived from events).

-- Home-visit tasks, for the caseworkers' inbox (GET /api/tasks). One row per task; a task is
-- open until its result arrives or the case closes. Overdue tasks stay open (escalated).
CREATE TABLE visit_tasks (
    task_id       text        PRIMARY KEY,
    case_id       text        NOT NULL,
    household     text        NOT NULL,  -- the household's stream key (HMAC), not its id
    district      text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('visit', 'reverify')),
    attempt       integer     NOT NULL CHECK (attempt > 0),
    status        text        NOT NULL CHECK (status IN ('open', 'completed', 'cancelled')),
    overdue       boolean     NOT NULL DEFAULT false,
    found         boolean,
    created_at    timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    escalated_at  timestamptz,
    closed_at     timestamptz,
    last_position bigint      NOT NULL
);

CREATE INDEX visit_tasks_open ON visit_tasks (district, due_at) WHERE status = 'open';
CREATE INDEX visit_tasks_case ON visit_tasks (case_id);

-- Enrolments under annual review (AnnualReview, a Temporal schedule). circumstances: the
-- non-identifying figures the decision used, which the review re-checks against fresh facts.
CREATE TABLE enrolments (
    case_id        text        PRIMARY KEY,
    household      text        NOT NULL,
    district       text        NOT NULL,
    urban          boolean     NOT NULL,
    programmes     jsonb       NOT NULL,
    circumstances  jsonb       NOT NULL,
    status         text        NOT NULL CHECK (status IN ('active', 'terminated')),
    enrolled_at    timestamptz NOT NULL,
    next_review_on date        NOT NULL,
    reviewed_at    timestamptz,
    terminated_at  timestamptz,
    last_position  bigint      NOT NULL
);

CREATE INDEX enrolments_due ON enrolments (next_review_on, case_id) WHERE status = 'active';

-- What the default channel adapter "sent": one row per message, keyed by the step's id so a
-- retried activity records it once. Recipients are households (stream key) or a district's
-- supervisors; contact details are resolved by whoever delivers, never stored here.
CREATE TABLE notifications (
    notification_id uuid        PRIMARY KEY,
    case_id         text        NOT NULL,
    household       text        NOT NULL,
    district        text        NOT NULL,
    audience        text        NOT NULL CHECK (audience IN ('household', 'supervisor')),
    channel         text        NOT NULL,
    template        text        NOT NULL,
    params          jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX notifications_case ON notifications (case_id, created_at);
