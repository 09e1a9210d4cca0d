-- Queue settings: each queue's pause flag and concurrency limit, folded from the queue
-- aggregate's events (ids `que_<queue>`; archived in task_events beside tasks and
-- schedules). A queue with no row is running, with no limit beyond its workers' capacity.

CREATE TABLE queue_settings (
    queue              text        NOT NULL,
    tenant             text        NOT NULL,
    paused             boolean     NOT NULL DEFAULT false,
    concurrency_limit  integer,
    version            integer     NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant, queue)
);
