"""Structured logging: one JSON object per line, with the request's correlation id.

Every door sets the correlation id of the request it serves (`correlation_scope`); every log line
written while serving it carries the id in its `correlation_id` field, including lines from
tasks started inside the request (context variables are inherited by tasks and threads started
with asyncio.to_thread).

Extra fields passed as `logger.info("...", extra={"symbol": "AAPL"})` become JSON keys.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "timebase_correlation_id", default=None
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def correlation_id() -> str | None:
    """The correlation id of the request being served, if any."""
    return _correlation_id.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def correlation_scope(value: str | None = None) -> Iterator[str]:
    """Run a block with a correlation id (a new one unless given); yields the id."""
    cid = value or new_correlation_id()
    token = _correlation_id.set(cid)
    try:
        yield cid
    finally:
        # Closed from another context (a streaming handler's generator finalised by gRPC after
        # its client went away) raises ValueError: that context is not this one, nothing to undo.
        with contextlib.suppress(ValueError):
            _correlation_id.reset(token)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, logger, message, correlation_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid = _correlation_id.get()
        if cid is not None:
            entry["correlation_id"] = cid
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal; extras appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        extras = " ".join(
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRS and not key.startswith("_")
        )
        cid = _correlation_id.get()
        line = f"{ts} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if cid:
            line += f" [{cid[:8]}]"
        if extras:
            line += f" {extras}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Send all logging to `stream` (stderr by default) in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter below WARNING is not useful in TimeBase's log.
    for noisy in ("asyncio", "docker", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
