-- Attempts and log lines of tasks. Attempts are folded from the events with the task row
-- (same transaction); log lines come from the logs topic under their own checkpoints.

CREATE TABLE task_attempts (
    task_id      text        NOT NULL,
    number       integer     NOT NULL,
    tenant       text        NOT NULL,
    worker       text        NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    outcome      text        NOT NULL,
    error        text,
    traceback    text,
    -- The task version that last wrote the row: older writes never overwrite newer ones.
    version      integer     NOT NULL,
    PRIMARY KEY (task_id, number)
);

-- Tasks projected before this table existed: their attempts, from the stored state.
INSERT INTO task_attempts (task_id, number, tenant, worker, started_at, finished_at, outcome,
                           error, traceback, version)
SELECT t.id, (a->>'number')::int, t.tenant, a->>'worker', (a->>'started_at')::timestamptz,
       (a->>'finished_at')::timestamptz, coalesce(a->>'outcome', 'running'), a->>'error',
       a->>'traceback', t.version
FROM tasks t, jsonb_array_elements(t.state->'attempts') AS a
ON CONFLICT DO NOTHING;

CREATE TABLE task_logs (
    task_id     text        NOT NULL,
    attempt     integer     NOT NULL,
    seq         integer     NOT NULL,
    at          timestamptz NOT NULL,
    level       text        NOT NULL,
    message     text        NOT NULL,
    tenant      text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    PRIMARY KEY (task_id, attempt, seq)
);
