"""Checking what a door asks of the audit log (`GET /api/audit`, `ListAuditEntries`) into an
`AuditFilter`, with errors naming the field (the same rules for every door)."""

from __future__ import annotations

from datetime import datetime

from timebase.audit.log import AuditAction
from timebase.sdk.errors import InvalidRequestError
from timebase.store.audit import AuditFilter

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: Longest filter value accepted (names, symbols and codes are far shorter).
MAX_VALUE_CHARS = 200


def build_filter(
    *,
    limit: int | None = None,
    cursor: str | None = None,
    action: str | None = None,
    key_name: str | None = None,
    door: str | None = None,
    symbol: str | None = None,
    provider: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditFilter:
    """An `AuditFilter` from a door's parameters (None or empty: not given)."""
    if limit is None:
        limit = DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequestError(
            f"limit: expected 1 to {MAX_LIMIT}, got {limit}", field="limit", max=MAX_LIMIT
        )
    before = None
    if cursor:
        text = cursor.strip()
        if not text.isdigit() or len(text) > 19 or int(text) <= 0:
            raise InvalidRequestError(
                f"cursor: not a cursor of this log ({cursor[:40]!r}); pass the next_cursor of "
                "the previous page",
                field="cursor",
            )
        before = int(text)
    if action:
        known = [a.value for a in AuditAction]
        if action not in known:
            raise InvalidRequestError(
                f"action: unknown action {action[:40]!r}; one of {', '.join(known)}",
                field="action",
            )
    values = {
        "key_name": key_name,
        "door": door,
        "symbol": symbol.upper() if symbol else symbol,
        "provider": provider,
        "outcome": outcome,
    }
    for name, value in values.items():
        if value and (len(value) > MAX_VALUE_CHARS or "\x00" in value):
            raise InvalidRequestError(
                f"{name}: too long or not text (at most {MAX_VALUE_CHARS} characters)",
                field=name,
            )
    if since is not None and until is not None and since >= until:
        raise InvalidRequestError(
            f"since: {since.isoformat()} is not before until {until.isoformat()}", field="since"
        )
    return AuditFilter(
        limit=limit,
        before=before,
        action=action or None,
        since=since,
        until=until,
        **{name: value or None for name, value in values.items()},
    )
