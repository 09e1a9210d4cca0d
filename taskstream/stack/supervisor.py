"""The embedded stack: start infrastructure then services, keep them alive, stop them in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from taskstream.stack import health, infra, postgres
from taskstream.stack.config import StackOptions
from taskstream.stack.ports import LOOPBACK, free_port, port_is_free
from taskstream.stack.process import ChildFailed, ChildSpec, SupervisedProcess
from taskstream.stack.restore import restore_from_archive
from taskstream.stack.services import Endpoints, service_env, service_spec
from taskstream.stack.state import (
    SupervisorLock,
    dev_api_key,
    reap_stale,
    remove_stack,
    write_stack,
)

log = logging.getLogger("taskstream.stack")
T = TypeVar("T")

INFRA_STOP_ORDER = ("valkey", "postgres", "broker")
_PORT_ATTEMPTS = 3


class StackError(RuntimeError):
    """The stack could not start; the message says which part and why."""


class Supervisor:
    """Runs one embedded stack in the foreground until SIGINT or SIGTERM."""

    def __init__(
        self, options: StackOptions, on_ready: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.options = options
        self.data_dir = options.data_dir
        self.log_dir = options.data_dir / "logs"
        self.children: dict[str, SupervisedProcess] = {}
        self._on_ready = on_ready
        self._endpoints: Endpoints | None = None
        self._api_key = ""
        self._started_at = ""
        self._ready = False
        self._stop = asyncio.Event()
        self._signals = 0

    async def run(self) -> None:
        """Start everything, supervise until asked to stop, then stop everything."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        lock = SupervisorLock(self.data_dir)
        lock.acquire()
        loop = asyncio.get_running_loop()
        startup = asyncio.create_task(self._start(), name="stack-start")
        stop = asyncio.create_task(self._stop.wait(), name="stack-stop")
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._on_signal, sig)
            await asyncio.wait({startup, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not startup.done():
                startup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await startup  # re-raises a start failure
            if not self._stop.is_set():
                self._ready = True
                self.write_state()
                if self._on_ready is not None:
                    self._on_ready(self.state())
                await stop
        finally:
            startup.cancel()
            stop.cancel()
            remove_stack(self.data_dir)  # at once: a stopping stack is no longer one to use
            await self._shutdown()
            remove_stack(self.data_dir)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            lock.release()

    def request_stop(self) -> None:
        """Begin a clean stop (what SIGINT and SIGTERM do)."""
        self._stop.set()

    def state(self) -> dict[str, Any]:
        """The stack.json document."""
        ep = self._endpoints
        assert ep is not None
        api_url = ep.api_url if "api" in self.children else self.options.settings.api_url
        return {
            "api_url": api_url,
            "api_key": self._api_key,
            "kafka_bootstrap": ep.kafka_bootstrap,
            "postgres_dsn": ep.postgres_dsn,
            "redis_url": ep.redis_url,
            "data_dir": str(self.data_dir),
            "log_dir": str(self.log_dir),
            "supervisor_pid": os.getpid(),
            "started_at": self._started_at,
            "services": {
                name: {
                    "pid": child.pid,
                    "log": str(child.log_path),
                    "restarts": child.restarts,
                    "kind": child.spec.kind,
                    "port": child.spec.port,
                    "cmd": child.spec.argv,
                }
                for name, child in self.children.items()
            },
        }

    def write_state(self) -> None:
        """Rewrite stack.json (only once the stack is ready: its presence means "up")."""
        if self._ready and not self._stop.is_set():
            write_stack(self.data_dir, self.state())

    # Start-up.

    async def _start(self) -> None:
        reap_stale(self.data_dir)
        self._started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._api_key = dev_api_key(self.data_dir)
        opts = self.options
        bootstrap, pg_dsn, redis_url = await _all(self._broker(), self._postgres(), self._valkey())
        self._endpoints = Endpoints(bootstrap, pg_dsn, redis_url, LOOPBACK, self._api_port())
        await self._ensure_topics()
        if opts.embedded_postgres:
            await postgres.ensure_database(self.children["postgres"].spec.port or 0)
        if opts.embedded_kafka and opts.restore_log:
            # The embedded broker starts empty: put the archived log back before any service.
            await restore_from_archive(self._service_settings(), pg_dsn)
        env = service_env(opts, self._endpoints, self._api_key)
        procs = [
            self._adopt(service_spec(name, opts, env, self._endpoints)) for name in opts.services
        ]
        await _all(*(self._start_child(p) for p in procs))

    async def _broker(self) -> str:
        opts = self.options
        if not opts.embedded_kafka:
            bootstrap = opts.settings.kafka_bootstrap
            await self._external("Kafka", bootstrap, lambda: health.kafka_ready(bootstrap))
            return bootstrap

        def make(port: int) -> ChildSpec:
            return infra.broker_spec(port, timeout=opts.start_timeout)

        return infra.kafka_bootstrap(await self._start_on_free_port(make))

    async def _postgres(self) -> str:
        opts = self.options
        if not opts.embedded_postgres:
            dsn = opts.settings.postgres_dsn
            await self._external("PostgreSQL", dsn, lambda: health.postgres_ready(dsn))
            return dsn
        layout = await asyncio.to_thread(postgres.prepare, self.data_dir, fsync=opts.postgres_fsync)

        def make(port: int) -> ChildSpec:
            return postgres.spec(
                layout,
                port,
                fsync=opts.postgres_fsync,
                timeout=opts.start_timeout,
                options=opts.postgres_options,
            )

        return postgres.dsn(await self._start_on_free_port(make))

    async def _valkey(self) -> str:
        opts = self.options
        if not opts.embedded_redis:
            url = opts.settings.redis_url
            await self._external("Redis", url, lambda: health.redis_ready(url))
            return url

        def make(port: int) -> ChildSpec:
            return infra.valkey_spec(self.data_dir, port, timeout=opts.start_timeout)

        return infra.redis_url(await self._start_on_free_port(make))

    async def _external(self, what: str, where: str, probe: Callable[[], Awaitable[bool]]) -> None:
        try:
            if await asyncio.wait_for(probe(), timeout=15):
                return
        except Exception as exc:
            raise StackError(f"cannot reach the external {what} at {where}: {exc!r}") from exc
        raise StackError(f"the external {what} at {where} does not answer")

    async def _start_on_free_port(self, make: Callable[[int], ChildSpec]) -> int:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            proc = self._adopt(make(free_port()))
            try:
                await self._start_child(proc)
            except StackError:
                # Dying at once is most likely a lost race for the port: try another.
                if proc.alive() or attempt == _PORT_ATTEMPTS:
                    raise
                log.warning("child exited while starting; trying another port",
                            extra={"child": proc.name, "port": proc.spec.port})  # fmt: skip
                continue
            assert proc.spec.port is not None
            return proc.spec.port
        raise AssertionError("unreachable")

    def _adopt(self, spec: ChildSpec) -> SupervisedProcess:
        proc = SupervisedProcess(spec, self.log_dir / f"{spec.name}.log", self._restarted)
        self.children[spec.name] = proc
        return proc

    async def _start_child(self, proc: SupervisedProcess) -> None:
        try:
            await proc.start()
        except ChildFailed as exc:
            raise StackError(
                f"{exc}\n--- last lines of {proc.log_path}:\n{proc.log_tail()}"
            ) from None
        proc.supervise()

    def _api_port(self) -> int:
        wanted = self.options.api_port
        if wanted == 0:
            return free_port()  # any free port, 8000 not even tried
        if wanted is not None:
            if "api" in self.options.services and not port_is_free(wanted):
                raise StackError(f"--api-port {wanted} is already in use on {LOOPBACK}")
            return wanted
        return free_port(preferred=self.options.settings.api_port)

    def _service_settings(self) -> Any:
        assert self._endpoints is not None
        return self.options.settings.model_copy(
            update={"kafka_bootstrap": self._endpoints.kafka_bootstrap}
        )

    async def _ensure_topics(self) -> None:
        from taskstream.topics import base_topic_names, ensure_topics

        settings = self._service_settings()
        await ensure_topics(settings, base_topic_names(settings))

    # Running.

    async def _restarted(self, proc: SupervisedProcess) -> None:
        self.write_state()
        if proc.spec.kind != "infra":
            return
        if proc.name == "broker":
            log.warning(
                "the embedded broker restarted with an empty in-memory log: every topic and "
                "record is gone; recreating the base topics"
            )
        try:
            await proc.wait_healthy()
        except ChildFailed as exc:
            log.error("restarted infrastructure is not healthy", extra={"error": str(exc)})
            return
        if proc.name == "broker":
            await self._ensure_topics()
        log.warning("infrastructure restarted and healthy", extra={"child": proc.name})

    def _on_signal(self, sig: int) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("stopping the stack (again to kill at once)", extra={"signal": sig})
            self._stop.set()
            return
        log.warning("second signal: killing every child now")
        for child in self.children.values():
            child.kill()

    # Shutdown.

    async def _shutdown(self) -> None:
        services = [c for c in self.children.values() if c.spec.kind == "service"]
        await asyncio.gather(*(c.stop() for c in services), return_exceptions=True)
        for name in INFRA_STOP_ORDER:
            child = self.children.get(name)
            if child is not None:
                await child.stop()
        log.info("stack stopped")


async def _all(*aws: Awaitable[T]) -> list[T]:
    """Like gather, but the first failure cancels the rest instead of leaving them running."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
