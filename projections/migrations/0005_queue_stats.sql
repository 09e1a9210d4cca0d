-- Queues as the read model knows them: every (tenant, queue) a task was ever submitted to,
-- and per-minute statistics of each, both folded by the projector in its batch
-- transaction (see projections/queue_stats.py for what each column counts).

CREATE TABLE queues (
    tenant         text        NOT NULL,
    queue          text        NOT NULL,
    first_seen_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant, queue)
);

CREATE TABLE queue_stats (
    tenant         text             NOT NULL,
    queue          text             NOT NULL,
    bucket         timestamptz      NOT NULL,  -- the minute of the events' occurred_at
    submitted      integer          NOT NULL DEFAULT 0,
    started        integer          NOT NULL DEFAULT 0,
    succeeded      integer          NOT NULL DEFAULT 0,
    failed         integer          NOT NULL DEFAULT 0,
    retried        integer          NOT NULL DEFAULT 0,
    dead_lettered  integer          NOT NULL DEFAULT 0,
    cancelled      integer          NOT NULL DEFAULT 0,
    redriven       integer          NOT NULL DEFAULT 0,
    run_sum        numeric          NOT NULL DEFAULT 0,  -- seconds, exact: same in any order
    run_count      integer          NOT NULL DEFAULT 0,
    run_hist       integer[]        NOT NULL DEFAULT '{}',
    wait_sum       numeric          NOT NULL DEFAULT 0,
    wait_count     integer          NOT NULL DEFAULT 0,
    wait_hist      integer[]        NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant, queue, bucket)
);

-- The counters' statuses only: what the Redis counters are rebuilt from, and what the
-- API counts when Redis does not answer.
CREATE INDEX tasks_counted ON tasks (tenant, queue, priority, status)
    WHERE status IN ('pending', 'scheduled', 'running', 'dead');
