"""TimeBase's database: bars, coverage and retention on PostgreSQL or TimescaleDB, through ADBC.

Most code needs only `Store`; the rest is for tests and tools. The embedded PostgreSQL server
(`timebase.store.embedded`) is separate: it provides a URL, the store uses any URL.
"""

from timebase.store.audit import AuditFilter, AuditRecord
from timebase.store.bars import BarQuery, Dataset, SeriesKey
from timebase.store.coverage import TimeRange, gaps
from timebase.store.migrations import discover as discover_migrations
from timebase.store.migrations import migrate
from timebase.store.pool import ConnectionPool, redact_url
from timebase.store.retention import RetentionConfig, RetentionJob, RetentionResult
from timebase.store.schema import BAR_SCHEMA
from timebase.store.store import BarStream, Store, WriteResult, series_key
from timebase.store.timescale import TimescaleStatus
from timebase.store.validation import CleanBatch, clean_provider_batch, validate_user_batch

__all__ = [
    "BAR_SCHEMA",
    "AuditFilter",
    "AuditRecord",
    "BarQuery",
    "BarStream",
    "CleanBatch",
    "ConnectionPool",
    "Dataset",
    "RetentionConfig",
    "RetentionJob",
    "RetentionResult",
    "SeriesKey",
    "Store",
    "TimeRange",
    "TimescaleStatus",
    "WriteResult",
    "clean_provider_batch",
    "discover_migrations",
    "gaps",
    "migrate",
    "redact_url",
    "series_key",
    "validate_user_batch",
]
