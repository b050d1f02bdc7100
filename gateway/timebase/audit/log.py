"""`AuditLog`: records audited actions (a log line, then a row) and reads them back in pages.

The row is written in a transaction of its own, after the action settled (its outcome known),
never in the action's transaction: a refused action has no transaction, install/remove touch no
table, and an audit write that fails must neither undo nor repeat the action. An action repeated
(an idempotent put) is audited again, with the rows it changed (0), so the data stays idempotent
while the log shows every attempt. When the row cannot be written the failure is logged with the
entry: the log line is always written first, so it is the record of last resort.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from timebase.auth import Caller
from timebase.sdk.errors import TimeBaseError
from timebase.store import Store
from timebase.store.audit import AuditFilter, AuditRecord

_log = logging.getLogger("timebase.audit")

#: The outcome of an action that succeeded; otherwise its error code.
OK = "ok"


class AuditAction(enum.StrEnum):
    """What was done (the `action` column)."""

    INGEST = "ingest"
    INVALIDATE = "invalidate"
    REFRESH = "refresh"
    INSTALL_PROVIDER = "install_provider"
    REMOVE_PROVIDER = "remove_provider"
    KEY_CREATE = "key_create"
    KEY_REVOKE = "key_revoke"
    REFRESH_SYMBOLS = "refresh_symbols"
    UPDATE_PROVIDER = "update_provider"
    ENABLE_PROVIDER = "enable_provider"
    DISABLE_PROVIDER = "disable_provider"
    REFRESH_PROVIDER = "refresh_provider"


def outcome_of(error: BaseException | None) -> str:
    """'ok', or the error's code (a TimeBaseError's; CANCELLED; INTERNAL_ERROR otherwise)."""
    if error is None:
        return OK
    if isinstance(error, TimeBaseError):
        return error.code
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    return "INTERNAL_ERROR"


@dataclass
class AuditEntry:
    """The fields of an action being tracked; the code doing it fills in what it learns."""

    symbol: str | None = None
    provider: str | None = None
    interval: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    rows: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditPage:
    """Audit rows, newest first, and the cursor of the next (older) page (None: the last)."""

    records: list[AuditRecord]
    next_cursor: str | None


class AuditLog:
    """Records audited actions into `store` (see the module docstring)."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        self._pending: set[asyncio.Task[Any]] = set()

    async def record(
        self,
        caller: Caller,
        action: str,
        *,
        error: BaseException | None = None,
        symbol: str | None = None,
        provider: str | None = None,
        interval: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        rows: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """Log and store one action by `caller` (`error`: the error that refused or failed it).

        Never raises: a row that cannot be stored is logged as an error (the line stays)."""
        return await self._store(
            self._build(
                caller,
                action,
                error,
                AuditEntry(symbol, provider, interval, start, end, rows, dict(detail or {})),
            )
        )

    @contextlib.asynccontextmanager
    async def track(self, caller: Caller, action: str, **fields: Any) -> AsyncIterator[AuditEntry]:
        """Audit the block as `action`: its outcome is 'ok' or the code of the error it raised
        (re-raised). The block fills in the yielded `AuditEntry` (rows, symbol, detail…)."""
        entry = AuditEntry(**fields)
        try:
            yield entry
        except asyncio.CancelledError as exc:
            # No awaiting in a cancelled task: the row is written by a task of its own.
            record = self._build(caller, action, exc, entry)
            task = asyncio.get_running_loop().create_task(self._store(record))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            raise
        except BaseException as exc:
            await self._store(self._build(caller, action, exc, entry))
            raise
        await self._store(self._build(caller, action, None, entry))

    async def page(self, query: AuditFilter) -> AuditPage:
        """The rows matching `query` (newest first) and the cursor of the next page."""
        wanted = query.limit
        records = await self.store.audit_records(dataclasses.replace(query, limit=wanted + 1))
        more = len(records) > wanted
        records = records[:wanted]
        cursor = str(records[-1].id) if more and records else None
        return AuditPage(records, cursor)

    async def drain(self) -> None:
        """Wait for rows still being written (of cancelled actions)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # -- internals ----------------------------------------------------------------------------

    def _build(
        self, caller: Caller, action: str, error: BaseException | None, entry: AuditEntry
    ) -> AuditRecord:
        detail = dict(entry.detail)
        if isinstance(error, TimeBaseError):
            detail["error"] = error.message
        elif error is not None and not isinstance(error, asyncio.CancelledError):
            detail["error"] = type(error).__name__
        return AuditRecord(
            at=self.clock(),
            door=caller.door,
            action=str(action),
            outcome=outcome_of(error),
            key_name=caller.key_name,
            key_prefix=caller.key_prefix,
            address=caller.address,
            symbol=entry.symbol,
            provider=entry.provider,
            interval=entry.interval,
            range_start=entry.start,
            range_end=entry.end,
            rows=entry.rows,
            detail=detail,
        )

    async def _store(self, record: AuditRecord) -> AuditRecord:
        fields = _log_fields(record)
        level = logging.INFO if record.outcome == OK else logging.WARNING
        _log.log(
            level, "audit: %s %s via %s", record.action, record.outcome, record.door, extra=fields
        )
        try:
            record_id = await self.store.record_audit(record)
        except Exception as exc:
            _log.error(
                "audit: the row of %s could not be stored: %s",
                record.action,
                exc.message if isinstance(exc, TimeBaseError) else type(exc).__name__,
                extra=fields,
            )
            return record
        return dataclasses.replace(record, id=record_id)


def _log_fields(record: AuditRecord) -> dict[str, Any]:
    """The record as log extras (JSON keys of the line)."""
    return {
        "action": record.action,
        "outcome": record.outcome,
        "door": record.door,
        "key_name": record.key_name,
        "key_prefix": record.key_prefix,
        "address": record.address,
        "symbol": record.symbol,
        "provider": record.provider,
        "interval": record.interval,
        "range_start": record.range_start.isoformat() if record.range_start else None,
        "range_end": record.range_end.isoformat() if record.range_end else None,
        "rows": record.rows,
        "detail": record.detail,
    }
