"""The `Store`'s small tables: the audit log, the symbol catalogue, data sets' calendars."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from timebase.store import audit, calendars, symbols
from timebase.store.audit import AuditFilter, AuditRecord
from timebase.store.pool import ConnectionPool
from timebase.store.symbols import CatalogEntry, SymbolPage, SymbolSearch


class StoreCatalog:
    """Audit, symbols and calendars (mixed into `Store`)."""

    pool: ConnectionPool

    async def record_audit(self, record: AuditRecord) -> int:
        """Store one audit row in a transaction of its own; return its id."""
        return await self.pool.run(
            functools.partial(audit.insert, record=record), doing="writing the audit log"
        )

    async def audit_records(self, query: AuditFilter) -> list[AuditRecord]:
        """Audit rows matching `query`, newest first."""
        return await self.pool.run(
            functools.partial(audit.select, query=query), doing="reading the audit log"
        )

    async def replace_listed_symbols(self, provider: str, entries: list[CatalogEntry]) -> int:
        """`provider`'s catalogue is `entries` now (its GetSymbols answer); return their count."""
        return await self.pool.run(
            functools.partial(symbols.replace_listed, provider=provider, entries=entries),
            doing="storing the symbol catalogue",
        )

    async def set_dataset_calendar(self, providers: Iterable[str], calendar: str) -> None:
        """The imported data sets `providers` trade on `calendar` (docs/calendars.md)."""
        await self.pool.run(
            functools.partial(
                calendars.set_dataset_calendar, providers=list(providers), calendar=calendar
            ),
            doing="recording a data set's calendar",
        )

    async def dataset_calendars(self, providers: Iterable[str]) -> dict[str, str]:
        """The calendars the data sets among `providers` named."""
        return await self.pool.run(
            functools.partial(calendars.dataset_calendars, providers=list(providers)),
            doing="reading data sets' calendars",
        )

    async def search_symbols(self, query: SymbolSearch) -> SymbolPage:
        return await self.pool.run(
            functools.partial(symbols.search, query=query), doing="searching symbols"
        )

    async def listed_symbols(self, provider: str) -> list[CatalogEntry]:
        return await self.pool.run(
            functools.partial(symbols.listed_by, provider=provider), doing="reading symbols"
        )
