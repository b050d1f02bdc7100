"""SQL literals for queries that must not carry bind parameters.

The ADBC PostgreSQL driver streams results with `COPY (query) TO STDOUT` only for queries without
parameters (a parameterised query comes back as one in-memory result), so the streamed reads render
their values as literals. Every value goes through one of these functions; nothing else is ever
spliced into SQL text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime


def text(value: str) -> str:
    """A string literal valid whatever `standard_conforming_strings` says."""
    if "\x00" in value:
        raise ValueError("a SQL string cannot contain NUL characters")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def timestamptz(value: datetime) -> str:
    """A timestamptz literal of an aware datetime (microsecond precision, UTC)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return "'" + value.astimezone(UTC).isoformat(timespec="microseconds") + "'::timestamptz"


def text_array(values: Iterable[str]) -> str:
    """A text[] literal."""
    return "ARRAY[" + ", ".join(text(v) for v in values) + "]::text[]"


def integer(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an int, got {value!r}")
    return str(value)
