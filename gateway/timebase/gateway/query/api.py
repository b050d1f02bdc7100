"""`QueryApi`: what every door asks the gateway core, in one place.

    api = QueryApi(history, supervisor=supervisor)      # supervisor None: admin → NOT_IMPLEMENTED
    answer = await api.bars(request)                     # BarAnswer (table, warnings, plan)
    planned = await api.plan_bars(requests)              # Flight: plans to stream from the store
    await api.providers(); await api.provider("yahoo-finance")
    await api.symbol_providers("AAPL", Interval.D1)
    await api.health()
    await api.install_provider("tiny", caller=caller); await api.remove_provider("tiny", caller=caller)
    await api.invalidate("AAPL", Interval.D1, start, end, provider=None, caller=caller)
    await api.ingest(table, caller=caller)

Writes and admin actions take the `Caller` the door authenticated (`timebase.auth`); the core
checks its scope here, once for every door.

Answers are plain dataclasses (`timebase.gateway.query.models`, `BarAnswer`, `PlannedBars`);
errors are `TimeBaseError`s. A door parses its protocol into these calls and renders what comes
back; it holds no gateway logic of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from timebase.auth import Caller, Scope
from timebase.gateway.admin import ProviderAdmin, ProviderInstaller
from timebase.gateway.bar_request import BarRequest, check_symbol
from timebase.gateway.database_probe import DatabaseProbe
from timebase.gateway.history import BarAnswer, HistoricalBars
from timebase.gateway.providers import ProviderView
from timebase.gateway.query import bars as _bars
from timebase.gateway.query import providers as _providers
from timebase.gateway.query.bars import PlannedBars, StoredDataset
from timebase.gateway.query.health import check_health
from timebase.gateway.query.models import Health, Invalidated, ProviderInfo, SymbolProviders
from timebase.sdk.intervals import Interval
from timebase.store import Store


class QueryApi:
    """The gateway core as the doors see it; see the module docstring."""

    def __init__(
        self,
        history: HistoricalBars,
        *,
        supervisor: ProviderInstaller | None = None,
        probe: DatabaseProbe | None = None,
    ) -> None:
        self.history = history
        self.admin = ProviderAdmin(supervisor, history)
        #: Health probes the database through this (a periodic probe may share it).
        self.probe = probe or DatabaseProbe(history.store, timeout=2.0)

    @property
    def store(self) -> Store:
        return self.history.store

    def provider_views(self) -> Sequence[ProviderView]:
        """The supervised providers as last seen (for doors that aggregate them)."""
        return self.history.providers()

    # -- bars -------------------------------------------------------------------------------

    async def bars(
        self, request: BarRequest, *, time_limit: float | None = None, caller: Caller | None = None
    ) -> BarAnswer:
        """The bars of `request` (from the store, fetching only what is missing). Refreshing
        (fetching again what is stored) rewrites stored bars: it needs the `write` scope."""
        if request.refresh and caller is not None:
            caller.require(Scope.WRITE, "refreshing bars")
        return await self.history.get(request, time_limit=time_limit)

    async def plan_bars(
        self, requests: Sequence[BarRequest], *, stored_only: bool = False
    ) -> PlannedBars:
        """Plans to stream `requests` from the store (`timebase.gateway.query.bars`)."""
        return await _bars.plan_bars(self.history, requests, stored_only=stored_only)

    async def datasets(self, symbol: str | None = None) -> list[StoredDataset]:
        """Every stored series (of `symbol`) and the plan that reads it."""
        return await _bars.stored_datasets(self.store, symbol)

    async def ingest(self, table: pa.Table, *, caller: Caller) -> int:
        """A user's batch of bars, validated whole, then upserted; rows written."""
        caller.require(Scope.WRITE, "writing bars")
        return await self.store.ingest(table)

    # -- providers --------------------------------------------------------------------------

    async def providers(self) -> list[ProviderInfo]:
        return await _providers.list_providers(self.history)

    async def provider(self, slug: str, field: str = "slug") -> ProviderInfo:
        return await _providers.get_provider(self.history, slug, field)

    async def symbol_providers(self, symbol: str, interval: Interval) -> SymbolProviders:
        return await _providers.symbol_providers(self.history, symbol, interval)

    # -- health -----------------------------------------------------------------------------

    async def health(self) -> Health:
        return await check_health(self.history, self.probe)

    # -- admin ------------------------------------------------------------------------------

    async def install_provider(self, folder: str, *, caller: Caller) -> ProviderInfo:
        """Start the provider in `folder` (a providers directory entry); it as now listed."""
        caller.require(Scope.ADMIN, "installing a provider")
        state = await self.admin.install(folder)
        return _providers.current_info(self.history, state.slug, state)

    async def remove_provider(self, slug: str, *, caller: Caller) -> None:
        caller.require(Scope.ADMIN, "removing a provider")
        await self.admin.remove(slug)

    async def invalidate(
        self,
        symbol: str,
        interval: Interval,
        start: datetime,
        end: datetime,
        provider: str | None = None,
        *,
        caller: Caller,
    ) -> Invalidated:
        """Forget the stored bars and coverage of [start, end) (checked by the door)."""
        caller.require(Scope.WRITE, "invalidating a range")
        checked = check_symbol(symbol)
        deleted, providers = await self.history.invalidate(checked, interval, start, end, provider)
        return Invalidated(deleted, tuple(providers))
