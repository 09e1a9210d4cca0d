-- Cron schedules: current state of each schedule, folded from its events like tasks.
-- Their events are archived in task_events beside the tasks' (the id is `sch_…`), so a
-- schedule's fires are read from there.

CREATE TABLE schedules (
    id             text        PRIMARY KEY,
    tenant         text        NOT NULL,
    cron           text        NOT NULL,
    timezone       text        NOT NULL,
    template       jsonb       NOT NULL,
    misfire        text        NOT NULL,
    jitter         double precision NOT NULL,
    paused         boolean     NOT NULL,
    deleted        boolean     NOT NULL,
    next_due_at    timestamptz,
    last_fired_at  timestamptz,
    fired_count    integer     NOT NULL,
    version        integer     NOT NULL,
    created_at     timestamptz NOT NULL,
    -- ScheduleState.as_dict(): exactly what the API shows, and what the fold resumes from.
    state          jsonb       NOT NULL
);

-- Listing is newest first with keyset pagination on (created_at, id).
CREATE INDEX schedules_tenant_created ON schedules (tenant, created_at DESC, id DESC);
-- A schedule's fires, newest first.
CREATE INDEX task_events_schedule_fires ON task_events (task_id, occurred_at DESC)
    WHERE type = 'schedule.fired';
