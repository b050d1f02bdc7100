"""The audit log: every write and admin action, refused ones included, as one structured log line
(logger `timebase.audit`) and one row of the `audit` table.

    audit = AuditLog(store)
    async with audit.track(caller, AuditAction.INVALIDATE, symbol="AAPL") as entry:
        caller.require(Scope.WRITE, "invalidating a range")     # refused: audited with its code
        entry.rows = await do_it()
    await audit.record(caller, AuditAction.KEY_CREATE, detail={"key": "ci", "scope": "write"})
    page = await audit.page(AuditFilter(action="ingest", limit=50))

The gateway core (`QueryApi`) records its actions once for every door; other components (the
`timebase keys` commands) call `record` with their own caller.
"""

from timebase.audit.log import AuditAction, AuditEntry, AuditLog, AuditPage, outcome_of
from timebase.audit.query import build_filter
from timebase.store.audit import AuditFilter, AuditRecord

__all__ = [
    "AuditAction",
    "AuditEntry",
    "AuditFilter",
    "AuditLog",
    "AuditPage",
    "AuditRecord",
    "build_filter",
    "outcome_of",
]
