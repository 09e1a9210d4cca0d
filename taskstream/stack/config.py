"""What the embedded stack runs: settings (`TASKSTREAM_*`) overridden by `taskstream dev` flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from taskstream.settings import Settings

SERVICES = ("api", "scheduler", "worker", "projector")


class StackSettings(BaseSettings):
    """Settings that only the embedded stack supervisor reads."""

    model_config = SettingsConfigDict(env_prefix="TASKSTREAM_", extra="ignore")

    embedded_kafka: bool = Field(True, description="Run the Tansu broker (else kafka_bootstrap).")
    embedded_postgres: bool = Field(True, description="Run PostgreSQL (else postgres_dsn).")
    embedded_redis: bool = Field(True, description="Run Valkey (else redis_url).")
    stack_services: str = Field(
        ",".join(SERVICES), description="Taskstream services the stack runs ('' or none: none)."
    )
    worker_queues: str = Field("default", description="Queues the stack's worker consumes.")
    worker_tasks: str = Field("", description="Comma-separated task modules the worker imports.")
    # A development database: losing the last transactions in a machine crash costs nothing
    # (the log is the source of truth), and skipping fsync makes tests several times faster.
    embedded_postgres_fsync: bool = Field(False, description="Durable writes in embedded PG.")
    embedded_postgres_options: str = Field(
        "",
        description="Extra server parameters of the embedded PostgreSQL, comma-separated "
        "`name=value` pairs (`shared_buffers=1GB,work_mem=64MB`), passed as `-c` options after "
        "the stack's own, so they override them.",
    )
    embedded_restore_log: bool = Field(
        True,
        description="On start, write the Postgres archive (events, log lines) back to the "
        "empty embedded broker, so a restarted stack keeps every task.",
    )
    stack_start_timeout: float = Field(
        90.0, gt=0, description="Seconds a child gets to be healthy."
    )


def parse_services(spec: str) -> tuple[str, ...]:
    """`"api,worker"` -> `("api", "worker")`; `""`/`"none"` -> `()`; unknown names raise."""
    names = [n.strip() for n in spec.split(",") if n.strip() and n.strip().lower() != "none"]
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise ValueError(
            f"unknown service(s) {', '.join(unknown)}; choose from {', '.join(SERVICES)}"
        )
    return tuple(n for n in SERVICES if n in names)


def parse_pg_options(spec: str) -> tuple[str, ...]:
    """`"shared_buffers=1GB, work_mem=64MB"` -> `("shared_buffers=1GB", "work_mem=64MB")`;
    a pair without `=` or without a name raises, naming it."""
    out = []
    for pair in split_csv(spec):
        name, eq, value = pair.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise ValueError(
                f"TASKSTREAM_EMBEDDED_POSTGRES_OPTIONS: {pair!r} is not name=value "
                "(write e.g. shared_buffers=1GB,work_mem=64MB)"
            )
        out.append(f"{name.strip()}={value.strip()}")
    return tuple(out)


def split_csv(spec: str) -> tuple[str, ...]:
    """`"a, b,,c"` -> `("a", "b", "c")`."""
    return tuple(p.strip() for p in spec.split(",") if p.strip())


@dataclass(frozen=True, slots=True)
class StackOptions:
    """Everything one supervisor run needs to know."""

    settings: Settings
    data_dir: Path
    embedded_kafka: bool = True
    embedded_postgres: bool = True
    embedded_redis: bool = True
    services: tuple[str, ...] = SERVICES
    api_port: int | None = None  # None: settings.api_port when free, else any free port
    worker_concurrency: int = 32
    worker_queues: tuple[str, ...] = ("default",)
    worker_tasks: tuple[str, ...] = ()
    postgres_fsync: bool = False
    postgres_options: tuple[str, ...] = ()
    start_timeout: float = 90.0
    restore_log: bool = True

    @classmethod
    def from_settings(
        cls, settings: Settings, stack: StackSettings | None = None, **overrides: object
    ) -> StackOptions:
        """Options from settings, with non-None `overrides` (the CLI flags) taking precedence."""
        stack = stack or StackSettings()
        values: dict[str, object] = {
            "settings": settings,
            "data_dir": settings.data_dir,
            "embedded_kafka": stack.embedded_kafka,
            "embedded_postgres": stack.embedded_postgres,
            "embedded_redis": stack.embedded_redis,
            "services": parse_services(stack.stack_services),
            "worker_concurrency": settings.worker_concurrency,
            "worker_queues": split_csv(stack.worker_queues) or ("default",),
            "worker_tasks": split_csv(stack.worker_tasks),
            "postgres_fsync": stack.embedded_postgres_fsync,
            "postgres_options": parse_pg_options(stack.embedded_postgres_options),
            "start_timeout": stack.stack_start_timeout,
            "restore_log": stack.embedded_restore_log,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = Path(str(values["data_dir"])).expanduser().resolve()
        return cls(**values)  # type: ignore[arg-type]
