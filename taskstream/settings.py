"""Settings for every Taskstream process, read from `TASKSTREAM_*` environment variables.

Every endpoint and every limit is a setting with a documented default (docs/settings.md).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All settings; one instance is built per process at its composition root."""

    model_config = SettingsConfigDict(env_prefix="TASKSTREAM_", extra="ignore")

    # Endpoints.
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers.")
    postgres_dsn: str = Field(
        "postgresql://postgres@127.0.0.1:5432/taskstream", description="Read-model database."
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Counter cache.")
    api_url: str = Field("http://127.0.0.1:8000", description="Where clients reach the API.")
    api_host: str = Field("127.0.0.1", description="API bind address.")
    api_port: int = Field(8000, description="API bind port.")
    data_dir: Path = Field(Path(".taskstream"), description="Embedded stack data directory.")

    # Log layout.
    topic_prefix: str = Field("taskstream", description="Prefix of every topic name.")
    partitions: int = Field(8, ge=1, le=1024, description="Partitions of every topic.")
    producer_idempotence: bool = Field(
        False, description="Idempotent producer: on for Apache Kafka, off for the embedded broker."
    )
    producer_linger_ms: int = Field(5, ge=0, description="Producer linger before a batch goes.")
    # Short group timeouts: the embedded broker makes the first join wait 30 s with defaults.
    group_session_timeout_ms: int = Field(
        6000, ge=1000, description="Consumer-group session timeout."
    )
    group_heartbeat_ms: int = Field(1000, ge=100, description="Consumer-group heartbeat interval.")
    group_rebalance_timeout_ms: int = Field(
        5000, ge=1000, description="Time members get to rejoin during a rebalance."
    )
    fetch_max_wait_ms: int = Field(
        10,
        ge=1,
        description="Fetch long-poll of the consumers on the task path (the scheduler's "
        "commands, the workers' dispatch). The embedded broker answers at once when records "
        "are there, but a consumer at the head waits for new ones longer the longer this "
        "is (see `bench.fetch_wait`), at each hop.",
    )
    fetch_observer_wait_ms: int = Field(
        50,
        ge=1,
        description="Fetch long-poll of the consumers that follow the events for readers "
        "(the Postgres projector, the API's live tails while a client watches; unwatched, "
        "they take `fetch_background_wait_ms`): they add to how stale a read or a tail is, "
        "not to how late a task runs. Against Apache Kafka, which answers as soon as "
        "records arrive, it only bounds idle polling.",
    )
    fetch_background_wait_ms: int = Field(
        200,
        ge=1,
        description="Fetch long-poll of the consumers off the task path (worker heartbeats, "
        "queue settings, cancel notices, log lines): each idle consumer asks the broker "
        "1000/this times a second, and the broker's CPU goes with it.",
    )
    fetch_idle_wait_ms: int = Field(
        50,
        ge=0,
        le=10_000,
        description="A service's consumer whose Fetches found nothing for "
        "`fetch_idle_after_ms` waits this long per Fetch until records come again (a "
        "longer wait of its own stays): an idle stack polls the broker less. 0 turns it "
        "off.",
    )
    fetch_idle_after_ms: int = Field(
        1000,
        ge=0,
        description="Quiet time after which a consumer takes `fetch_idle_wait_ms`.",
    )

    # Auth.
    api_keys: str = Field(
        "",
        description="Comma-separated static API keys for development bootstrap: tenant "
        "`default`, every scope (`tasks:read`, `tasks:write`, `admin`).",
    )
    api_key_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long an API process caches a Postgres key lookup: a revoked key "
        "is refused within this time.",
    )
    api_key_last_used_flush_seconds: float = Field(
        10.0, gt=0, description="Interval at which key uses are written to `last_used_at`."
    )
    rate_limit_per_second: float = Field(
        500.0, ge=0, description="Sustained requests per second per API key (0: no limit)."
    )
    rate_limit_burst: int = Field(
        1000, ge=1, description="Requests one API key may make at once before the rate applies."
    )
    rate_limit_redis_timeout_seconds: float = Field(
        0.25,
        gt=0,
        description="Wait for the rate limiter's Redis; past it the request passes (fail open).",
    )

    # API limits.
    max_payload_bytes: int = Field(1_048_576, ge=1, description="Largest task payload (bytes).")
    max_body_bytes: int = Field(2_097_152, ge=1, description="Largest request body (bytes).")
    page_size_default: int = Field(50, ge=1, description="Page size when none is asked for.")
    page_size_max: int = Field(500, ge=1, description="Largest page size a client may ask for.")
    batch_max_tasks: int = Field(
        1000, ge=1, description="Most tasks one `POST /v1/tasks:batch` may submit."
    )

    # Live tails (WebSocket and SSE).
    tail_ring_max: int = Field(
        100_000,
        ge=100,
        description="Records of each tailed topic kept in memory (split evenly over its "
        "partitions); older positions are read from the broker again on resume.",
    )
    tail_client_queue_max: int = Field(
        1000, ge=1, description="Messages queued for one tail client before it is disconnected."
    )
    tail_max_streams_per_key: int = Field(
        20, ge=1, description="Open live tails (WebSocket and SSE together) per API key."
    )
    tail_task_cache_size: int = Field(
        100_000, ge=1, description="Tasks whose queue and type the tail filters keep in memory."
    )
    tail_keepalive_seconds: float = Field(
        15.0, gt=0, description="Idle interval after which an SSE tail sends a comment line."
    )

    # Task defaults.
    default_priority: int = Field(5, ge=0, le=9, description="Priority of a task that names none.")
    default_max_attempts: int = Field(3, ge=1, le=100, description="Attempts before `dead`.")
    default_timeout_seconds: float = Field(300.0, gt=0, description="Per-attempt timeout.")
    backoff_base_seconds: float = Field(1.0, ge=0, description="Retry backoff of attempt 1.")
    backoff_factor: float = Field(2.0, ge=1, description="Growth of the backoff ceiling.")
    backoff_max_seconds: float = Field(300.0, ge=0, description="Upper bound of one backoff.")

    # Scheduler.
    scheduler_tick_seconds: float = Field(0.02, gt=0, description="Timer resolution.")
    scheduler_metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Serve the scheduler's Prometheus metrics (batches, timers, dispatches, "
        "garbage-collection pauses) on this port (off when unset).",
    )
    scheduler_metrics_host: str = Field(
        "0.0.0.0", description="Bind address of the scheduler's metrics port."
    )
    timer_lead_ms: int = Field(
        150,
        ge=0,
        le=60_000,
        description="A delayed task (or a retry's backoff) is made ready and dispatched this "
        "long before its time; the worker holds the start until the time (without taking "
        "one of its slots), so the dispatch's way to a worker does not make it late. The "
        "task shows `pending` that much early and counts against its queue's in-flight "
        "budget while it waits. 0 dispatches at the time.",
    )
    scheduler_batch_size: int = Field(1000, ge=1, description="Commands taken per batch.")
    capacity_overcommit: float = Field(
        3.0,
        ge=1.0,
        description="In-flight tasks per queue as a multiple of worker capacity: room for "
        "the tasks whose reports are on their way and for those dispatched ahead of their "
        "time (the timer lead), which hold no slot. More lets more tasks wait at busy "
        "workers, where a later urgent task cannot overtake them.",
    )
    default_queue_capacity: int = Field(
        0,
        ge=0,
        description="Capacity assumed for a queue with no live worker; 0 holds its tasks "
        "in the scheduler (pending, cancellable, reordered by priority) until one appears.",
    )
    queue_limit_rotate_seconds: float = Field(
        5.0,
        gt=0,
        description="With several scheduler processes, how often the spare slots of a queue's "
        "concurrency limit (limit mod partitions) move on to the next partitions.",
    )
    dispatch_timeout_seconds: float = Field(
        30.0, gt=0, description="A dispatched task not started in this time is dispatched again."
    )
    lease_seconds: float = Field(30.0, gt=0, description="Worker lease on a running attempt.")
    worker_heartbeat_seconds: float = Field(2.0, gt=0, description="Worker liveness interval.")

    # Worker.
    worker_concurrency: int = Field(32, ge=1, description="Attempts one worker runs at once.")
    worker_shutdown_grace_seconds: float = Field(
        10.0, ge=0, description="On SIGTERM, time running attempts get to finish."
    )
    worker_cancel_grace_seconds: float = Field(
        10.0,
        ge=0,
        description="A cancelled attempt's time to stop (sync handlers: see `ctx.cancelled`) "
        "before the worker reports it cancelled anyway.",
    )
    http_allow_private: bool = Field(
        False, description="Let the `http` task type call private and loopback addresses."
    )
    http_timeout_seconds: float = Field(30.0, gt=0, description="Upper bound for `http` tasks.")

    # Projector.
    projector_batch_size: int = Field(5000, ge=1, description="Events per projector batch.")
    projector_batch_wait_ms: int = Field(50, ge=0, description="Wait to fill a batch.")
    projector_refused_max: int = Field(
        10,
        ge=0,
        description="Records of one batch Postgres may refuse (each goes to the dead-letter "
        "topic, the rest is applied); with more, the fault is taken to be elsewhere and the "
        "whole batch is retried.",
    )

    # Search (docs/search.md): Postgres full text unless an Elasticsearch URL is set.
    search_q_max_chars: int = Field(
        500, ge=1, description="Longest search text `GET /v1/search` accepts (`q`)."
    )
    search_max_text_chars: int = Field(
        32_768,
        ge=100,
        description="Characters of one task's payload text (and of its errors) that are "
        "indexed; the rest is stored but not searchable.",
    )
    elasticsearch_url: str = Field(
        "", description="Search with Elasticsearch 8 at this URL (empty: Postgres full text)."
    )
    elasticsearch_index_prefix: str = Field(
        "taskstream", min_length=1, description="Prefix of every index, alias and template."
    )
    elasticsearch_shards: int = Field(1, ge=1, description="Primary shards of each index.")
    elasticsearch_replicas: int = Field(1, ge=0, description="Replicas of each index.")
    elasticsearch_bulk_retries: int = Field(
        5, ge=0, description="Retries of a bulk request (or its 429/5xx items), with backoff."
    )
    elasticsearch_timeout_seconds: float = Field(
        10.0, gt=0, description="Timeout of one Elasticsearch request."
    )

    # Queue counters (Redis), statistics and the workers view.
    redis_timeout_seconds: float = Field(
        0.25,
        gt=0,
        description="API reads of the Redis counters; slower, and the counts come from Postgres.",
    )
    counters_redis_timeout_seconds: float = Field(
        2.0, gt=0, description="Projector writes and rebuilds of the Redis counters."
    )
    counters_queue_max: int = Field(
        10_000,
        ge=1,
        description="Batch changes waiting for Redis; beyond, they are dropped and the "
        "counters rebuilt from Postgres.",
    )
    counters_retry_seconds: float = Field(
        1.0, gt=0, description="Wait before rebuilding the counters again after Redis failed."
    )
    counters_reconcile_seconds: float = Field(
        300.0,
        ge=0,
        description="Rebuild the Redis counters from Postgres this often (0: only when needed).",
    )
    stats_max_buckets: int = Field(
        1440, ge=1, description="Most buckets one `GET /v1/queues/{queue}/stats` may return."
    )
    workers_forget_seconds: float = Field(
        3600.0, gt=0, description="A worker silent this long is dropped from `GET /v1/workers`."
    )
    workers_warmup_seconds: float = Field(
        5.0,
        ge=0,
        description="How long `GET /v1/workers` waits for the workers topic to be read to its "
        "end after the API starts, before answering 503.",
    )

    # Runtime.
    gc_threshold: int = Field(
        5_000,
        ge=0,
        description="First-generation threshold of Python's cyclic garbage collector in the "
        "services (CPython's default is 700). Each young collection walks up to this many "
        "objects while the service's loop waits: 50,000 paused the scheduler for 50-100 ms "
        "and made timers that late; 0 leaves CPython's setting.",
    )
    rebuild_gc_threshold: int = Field(
        1_000_000,
        ge=0,
        description="The same threshold in `taskstream replay rebuild` and `verify`, where "
        "throughput counts and pauses do not. Each replayed batch ends by freezing what "
        "survives it, which empties the young generation; a batch of 40,000 records leaves "
        "70,000-280,000 young objects, so at this default no collection runs inside a batch "
        "(at 50,000 they took 10% of a replay process's CPU, and found no cycles). 0 leaves "
        "CPython's setting.",
    )
    gc_pause_warn_ms: float = Field(
        50.0,
        gt=0,
        description="A garbage collection pausing a service this long is logged (every "
        "pause is in the `taskstream_gc_pause_seconds` histogram).",
    )

    # Logging.
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool = Field(True, description="Structured JSON log lines.")

    def topic(self, name: str) -> str:
        """Full topic name for a logical one (`commands`, `events`, `logs`, ...)."""
        return f"{self.topic_prefix}.{name}"

    def dispatch_topic(self, queue: str) -> str:
        """Topic that hands ready tasks of `queue` to its workers."""
        return f"{self.topic_prefix}.dispatch.{queue}"
