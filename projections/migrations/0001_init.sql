-- The spine of the Postgres read model: current task state, the event archive, and the
-- per-partition checkpoints applied in the same transaction as the rows they cover.

CREATE TABLE tasks (
    id          text        PRIMARY KEY,
    tenant      text        NOT NULL,
    queue       text        NOT NULL,
    type        text        NOT NULL,
    status      text        NOT NULL,
    priority    smallint    NOT NULL,
    version     integer     NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    run_at      timestamptz,
    attempts    integer     NOT NULL DEFAULT 0,
    -- TaskState.as_dict(): exactly what the API shows.
    state       jsonb       NOT NULL,
    -- The rest of TaskState that `evolve` carries (dispatch, backoff overrides).
    fold        jsonb       NOT NULL DEFAULT '{}'::jsonb
);

-- Listing is newest first with keyset pagination on (created_at, id).
CREATE INDEX tasks_tenant_created ON tasks (tenant, created_at DESC, id DESC);
CREATE INDEX tasks_tenant_status_created ON tasks (tenant, status, created_at DESC, id DESC);
CREATE INDEX tasks_tenant_queue_created ON tasks (tenant, queue, created_at DESC, id DESC);
CREATE INDEX tasks_tenant_type_created ON tasks (tenant, type, created_at DESC, id DESC);

CREATE TABLE task_events (
    event_id        text        PRIMARY KEY,
    task_id         text        NOT NULL,
    version         integer     NOT NULL,
    type            text        NOT NULL,
    tenant          text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    causation_id    text,
    correlation_id  text,
    payload         jsonb       NOT NULL,
    schema_version  integer     NOT NULL,
    partition       integer     NOT NULL,
    "offset"        bigint      NOT NULL
);

-- A task's history in order; rejections share the version they were decided at.
CREATE INDEX task_events_task_version ON task_events (task_id, version, occurred_at);

CREATE TABLE projection_checkpoints (
    projection  text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, partition)
);
