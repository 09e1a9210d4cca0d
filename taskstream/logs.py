"""Logging for every Taskstream process: JSON lines for machines, a readable format for people."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from taskstream.settings import Settings

# Attributes every LogRecord has; anything else on a record came from `extra={...}`.
_RESERVED = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)

# Third-party loggers that are chatty at INFO and say nothing an operator needs.
_NOISY = ("faust", "mode", "aiokafka", "kafka", "asyncio", "uvicorn.access", "httpx", "httpcore")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


def _iso(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, service, logger, msg, extras, exc_info."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        """Render `record` as one JSON line."""
        doc: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            doc.setdefault(key, value)
        if record.exc_info:
            doc["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack_info"] = self.formatStack(record.stack_info)
        # default=str: an extra that JSON cannot encode is still logged, as its str().
        return json.dumps(doc, default=str, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    """`HH:MM:SS.mmm LEVEL service logger: msg key=value ...` for a terminal."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        """Render `record` as one readable line (plus the traceback, if any)."""
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        extras = " ".join(f"{k}={v!r}" for k, v in _extras(record).items())
        line = f"{ts} {record.levelname:<7} {self._service} {record.name}: {record.getMessage()}"
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes (a CLI's live progress bar
    puts its own stream there, which prints records above the bar)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # `StreamHandler.__init__` sets it


def configure_logging(service: str, settings: Settings) -> None:
    """Send every log record to stderr, as JSON lines when `settings.log_json`."""
    handler = _Stderr()
    formatter = JsonFormatter(service) if settings.log_json else HumanFormatter(service)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # At DEBUG the client libraries' detail is what one is usually after, so leave it on.
    if root.level > logging.DEBUG:
        for name in _NOISY:
            logging.getLogger(name).setLevel(logging.WARNING)
