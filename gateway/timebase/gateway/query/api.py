"""`QueryApi`: what every door asks the gateway core, in one place.

    api = QueryApi(history, supervisor=supervisor)      # supervisor None: admin → NOT_IMPLEMENTED
    answer = await api.bars(request)                     # BarAnswer (table, warnings, plan)
    events = await api.events(request)                   # split and dividend events (a table)
    planned = await api.plan_bars(requests)              # Flight: plans to stream from the store
    await api.providers(); await api.provider("yahoo-finance")
    await api.symbol_providers("AAPL", Interval.D1)
    await api.summary("AAPL")                            # what is stored, per series
    await api.health()
    await api.install_provider("tiny", caller=caller); await api.remove_provider("tiny", caller=caller)
    await api.install_provider("", repository=url, slug="acme", caller=caller)   # from Git
    await api.update_provider("acme", caller=caller); await api.refresh_provider("acme", caller=caller)
    await api.set_provider_enabled("acme", False, caller=caller)                  # persisted
    await api.invalidate("AAPL", Interval.D1, start, end, provider=None, caller=caller)
    await api.ingest(table, caller=caller, override_provider=False)
    page = await api.audit_log(AuditFilter(limit=50), caller=caller)     # admins only
    page = await api.search_symbols(check_search("AC")); await api.refresh_symbols(caller=caller)
    await api.provider_symbols("synthetic"); await api.federated_symbols()
    api.watchlist_states()                               # watchlists: progress and last run

Writes and admin actions take the `Caller` the door authenticated (`timebase.auth`); the core
checks its scope here, once for every door, and audits each of them, refused ones included
(`timebase.audit`: a log line and a row of the `audit` table). A bar request with `refresh`
is a write: it needs the `write` scope and is audited when the door passes its caller.
Data ownership (`timebase.gateway.ownership`): a put may not write under a configured
provider's name without an admin's explicit override.

Answers are plain dataclasses (`timebase.gateway.query.models`, `BarAnswer`, `PlannedBars`);
errors are `TimeBaseError`s. A door parses its protocol into these calls and renders what comes
back; it holds no gateway logic of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import pyarrow as pa

from timebase.audit import AuditAction, AuditFilter, AuditLog, AuditPage
from timebase.auth import Caller, Scope
from timebase.calendars.model import Calendar
from timebase.calendars.registry import check_calendar_name
from timebase.gateway.adjust_intervals import adjust_from_daily
from timebase.gateway.adjustments import Adjust, adjust_bars, corporate_events
from timebase.gateway.admin import ProviderAdmin, ProviderInstaller
from timebase.gateway.bar_request import BarRequest, check_symbol
from timebase.gateway.catalogue import SymbolCatalogue
from timebase.gateway.database_probe import DatabaseProbe
from timebase.gateway.deferred_stores import waiting_for_stores
from timebase.gateway.fetch_limits import client_key, fetch_client
from timebase.gateway.history import BarAnswer, HistoricalBars
from timebase.gateway.ownership import MAX_LISTED, check_put, summarize
from timebase.gateway.providers import ProviderView, configured_providers
from timebase.gateway.query import adjusted_intervals as _adjusted_intervals
from timebase.gateway.query import bars as _bars
from timebase.gateway.query import providers as _providers
from timebase.gateway.query.bars import PlannedBars, StoredDataset
from timebase.gateway.query.calendars import CalendarSessions, calendar_sessions
from timebase.gateway.query.health import ProbeCache, check_health
from timebase.gateway.query.models import Health, Invalidated, ProviderInfo, SymbolProviders
from timebase.gateway.query.summary import SymbolSummary, symbol_summary
from timebase.gateway.watchlists import WatchlistRunner, WatchlistState
from timebase.repos.git import shown_url
from timebase.sdk.errors import InvalidRequestError
from timebase.sdk.intervals import Interval
from timebase.store import Store
from timebase.store.symbols import CatalogEntry, CatalogSymbol, SymbolPage, SymbolSearch
from timebase.store.validation import check_unique_columns


class QueryApi:
    """The gateway core as the doors see it; see the module docstring."""

    def __init__(
        self,
        history: HistoricalBars,
        *,
        supervisor: ProviderInstaller | None = None,
        probe: DatabaseProbe | None = None,
        audit: AuditLog | None = None,
        catalogue: SymbolCatalogue | None = None,
        watchlists: WatchlistRunner | None = None,
    ) -> None:
        self.history = history
        #: The symbol catalogue (`timebase.gateway.catalogue`); the app starts its watcher.
        self.catalogue = catalogue or SymbolCatalogue(history)
        #: Watchlists kept fresh in the background (`timebase.gateway.watchlists`); the app
        #: starts them.
        self.watchlists = watchlists or WatchlistRunner(history, ())
        self.admin = ProviderAdmin(supervisor, history)
        #: Every write and admin action is recorded here (`timebase.audit`).
        self.audit = audit or AuditLog(history.store)
        #: Health probes the database through this (a periodic probe may share it).
        self.probe = probe or DatabaseProbe(history.store, timeout=2.0)
        #: ... at most once a second, however many clients ask.
        self.health_probe = ProbeCache(self.probe)

    @property
    def store(self) -> Store:
        return self.history.store

    def provider_views(self) -> Sequence[ProviderView]:
        """The supervised providers as last seen (for doors that aggregate them)."""
        return self.history.providers()

    def declared_adjustments(self) -> dict[str, frozenset[str]]:
        """What each provider's prices already include (manifests' `prices_adjusted_for`)."""
        return {
            view.slug: view.manifest.prices_adjusted_for
            for view in self.history.providers()
            if view.manifest is not None
        }

    # -- bars -------------------------------------------------------------------------------

    async def bars(
        self,
        request: BarRequest,
        *,
        time_limit: float | None = None,
        caller: Caller | None = None,
    ) -> BarAnswer:
        """The bars of `request` (from the store, fetching only what is missing; the provider
        fetches count against `caller`'s share, `gateway.max_fetches_per_client`). A `refresh`
        request by a door's `caller` needs the write scope and is audited. The answer's prices
        are adjusted as `request.adjust` asks, after the stored bars are read."""
        with contextlib.ExitStack() as stack:
            # Adjusting reads the stored daily bars back, and a refresh is audited with what
            # was stored: both wait for their stores (`deferred_stores`).
            if request.adjust is not Adjust.NONE or request.refresh:
                stack.enter_context(waiting_for_stores())
            if request.adjust is Adjust.NONE:
                return await self._bars(request, time_limit=time_limit, caller=caller)
            return await self._adjusted_bars(request, time_limit=time_limit, caller=caller)

    async def _adjusted_bars(
        self, request: BarRequest, *, time_limit: float | None, caller: Caller | None
    ) -> BarAnswer:
        answer = await self._bars(request, time_limit=time_limit, caller=caller)
        declared = self.declared_adjustments()
        if request.interval is Interval.D1:
            table = await _adjusted(answer.table, request.adjust, declared)
        else:  # from the events of the daily bars (`adjust_intervals`)
            await _adjusted_intervals.store_daily(self.history, [request], caller)
            daily = await _adjusted_intervals.daily_bars(self.store, request, answer.table)
            table = await _adjusted_from_daily(
                answer.table, request.adjust, declared, daily, request.interval
            )
        return replace(answer, table=table)

    async def events(
        self,
        request: BarRequest,
        *,
        time_limit: float | None = None,
        caller: Caller | None = None,
    ) -> tuple[pa.Table, BarAnswer]:
        """The split and dividend events recorded on the bars of `request` (EVENT_SCHEMA), and
        the answer they come from (its warnings)."""
        answer = await self._bars(request, time_limit=time_limit, caller=caller)
        return corporate_events(answer.table), answer

    async def _bars(
        self,
        request: BarRequest,
        *,
        time_limit: float | None = None,
        caller: Caller | None = None,
    ) -> BarAnswer:
        with fetch_client(client_key(caller) if caller is not None else None):
            if not request.refresh or caller is None:
                return await self.history.get(request, time_limit=time_limit)
            async with self.audit.track(
                caller,
                AuditAction.REFRESH,
                symbol=request.symbol,
                provider=request.provider,
                interval=request.interval.value,
                start=request.start,
                end=request.end,
            ) as entry:
                caller.require(Scope.WRITE, "refreshing bars")
                answer = await self.history.get(request, time_limit=time_limit)
                entry.rows = answer.table.num_rows
                return answer

    async def plan_bars(
        self,
        requests: Sequence[BarRequest],
        *,
        stored_only: bool = False,
        caller: Caller | None = None,
    ) -> PlannedBars:
        """Plans to stream `requests` from the store (`timebase.gateway.query.bars`)."""
        if not stored_only:
            await _adjusted_intervals.store_daily(self.history, requests, caller)
        with fetch_client(client_key(caller) if caller is not None else None):
            planned = await _bars.plan_bars(self.history, requests, stored_only=stored_only)
        # Each plan carries its request's adjustment (applied when it is read, `read_plan`).
        modes = {r.symbol: r.adjust for r in requests}
        plans = tuple(replace(p, adjust=modes.get(p.symbol, Adjust.NONE)) for p in planned.plans)
        return replace(planned, plans=plans)

    async def datasets(self, symbol: str | None = None) -> list[StoredDataset]:
        """Every stored series (of `symbol`) and the plan that reads it."""
        return await _bars.stored_datasets(self.store, symbol)

    async def summary(self, symbol: str) -> SymbolSummary:
        """What is stored for `symbol`, per interval and provider (`query.summary`), each
        series' gaps told from closed time by its calendar."""
        checked = check_symbol(symbol)
        views = self.history.providers()

        def calendar_of(provider: str) -> Awaitable[Calendar | None]:
            return self.history.calendar_rules.for_symbol(checked, views, provider=provider)

        return await symbol_summary(self.store, checked, calendar_of)

    async def calendar(self, name: str) -> Calendar:
        """The calendar `name` (CalendarNotFound when unknown)."""
        return await self.history.calendar_rules.calendars.get(name)

    async def calendar_sessions(
        self, name: str, start: datetime, end: datetime
    ) -> CalendarSessions:
        """The sessions of calendar `name` in [start, end) (`query.calendars`)."""
        return await calendar_sessions(self.history.calendar_rules.calendars, name, start, end)

    async def ingest(
        self,
        table: pa.Table,
        *,
        caller: Caller,
        override_provider: bool = False,
        calendar: str | None = None,
    ) -> int:
        """A user's batch of bars, validated whole, then upserted; rows written. Refused (nothing
        written) under a configured provider's name unless an admin sets `override_provider`.
        `calendar` names the trading calendar of the data sets written (checked first)."""
        check_unique_columns(table.column_names)
        summary = await asyncio.to_thread(summarize, table)
        detail: dict[str, object] = {"rows_received": table.num_rows}
        if override_provider:
            detail["override_provider"] = True
        if calendar is not None:
            detail["calendar"] = calendar
        for name, values in (("symbols", summary.symbols), ("providers", summary.providers)):
            if len(values) > 1:
                detail[name] = list(values[:MAX_LISTED])
        async with self.audit.track(
            caller,
            AuditAction.INGEST,
            symbol=_only(summary.symbols),
            provider=_only(summary.providers),
            interval=_only(summary.intervals),
            start=summary.first,
            end=summary.last,
            detail=detail,
        ) as entry:
            caller.require(Scope.WRITE, "writing bars")
            check_put(
                summary.providers,
                configured_providers(self.history.source),
                caller,
                override=override_provider,
            )
            if calendar is not None:  # an unknown name refuses the batch before any write
                await self.history.calendar_rules.calendars.get(check_calendar_name(calendar))
            entry.rows = await self.store.ingest(table)
            if calendar is not None and summary.providers:
                await self.history.calendar_rules.set_dataset_calendar(summary.providers, calendar)
            return entry.rows

    # -- providers --------------------------------------------------------------------------

    async def providers(self) -> list[ProviderInfo]:
        return await _providers.list_providers(self.history)

    async def provider(self, slug: str, field: str = "slug") -> ProviderInfo:
        return await _providers.get_provider(self.history, slug, field)

    async def symbol_providers(self, symbol: str, interval: Interval) -> SymbolProviders:
        return await _providers.symbol_providers(self.history, symbol, interval)

    # -- symbols ----------------------------------------------------------------------------

    async def search_symbols(self, query: SymbolSearch) -> SymbolPage:
        """A page of the catalogue's symbols matching `query` (checked by `check_search`)."""
        return await self.catalogue.search(query)

    async def provider_symbols(self, slug: str) -> list[CatalogEntry]:
        """What provider `slug` lists (GetSymbols); ProviderNotFound for an unknown slug."""
        return await self.catalogue.provider_symbols(slug)

    async def federated_symbols(self) -> list[CatalogSymbol]:
        """The gateway's own catalogue: every symbol with its providers."""
        return await self.catalogue.federated()

    async def listed_symbols(self) -> dict[str, list[CatalogEntry]]:
        """What each provider listed at its last refresh, by slug (nobody is asked now)."""
        return await self.catalogue.listings()

    async def refresh_symbols(
        self, provider: str | None = None, *, caller: Caller
    ) -> dict[str, int]:
        """Ask every provider (or one) for its symbols now; {slug: symbols stored}."""
        async with self.audit.track(
            caller, AuditAction.REFRESH_SYMBOLS, provider=(provider or "")[:200] or None
        ) as entry:
            caller.require(Scope.WRITE, "refreshing the symbol catalogue")
            counts = await self.catalogue.refresh(provider)
            entry.rows = sum(counts.values())
            entry.detail["providers"] = sorted(counts)
            return counts

    # -- health -----------------------------------------------------------------------------

    def watchlist_states(self) -> list[WatchlistState]:
        """Each configured watchlist's progress and last run (`timebase watchlists status`)."""
        return self.watchlists.states()

    async def health(self) -> Health:
        return await check_health(self.history, self.health_probe)

    # -- admin ------------------------------------------------------------------------------

    async def install_provider(
        self, folder: str, *, caller: Caller, repository: str = "", slug: str = ""
    ) -> ProviderInfo:
        """Start the provider in `folder` (a providers directory entry), or the add-on `slug` of
        the Git `repository`; it as now listed."""
        detail = (
            {"repository": shown_url(repository[:1024]), "slug": slug[:200]}
            if repository
            else {"folder": folder[:1024]}
        )
        async with self.audit.track(caller, AuditAction.INSTALL_PROVIDER, detail=detail) as entry:
            caller.require(Scope.ADMIN, "installing a provider")
            if repository and folder:
                raise InvalidRequestError(
                    "folder: give a folder or a repository, not both", field="folder"
                )
            if repository:
                state = await self.admin.install_repository(repository, slug)
            else:
                state = await self.admin.install(folder)
            entry.provider = state.slug
            entry.detail["status"] = state.status.value
            if state.commit:
                entry.detail["commit"] = state.commit
            return _providers.current_info(self.history, state.slug, state)

    async def update_provider(self, slug: str, *, caller: Caller) -> ProviderInfo:
        """Pull the repository `slug` was installed from, then restart it."""
        async with self.audit.track(
            caller, AuditAction.UPDATE_PROVIDER, provider=slug[:200] or None
        ) as entry:
            caller.require(Scope.ADMIN, "updating a provider")
            state = await self.admin.update(slug)
            entry.detail["status"] = state.status.value
            entry.detail["commit"] = state.commit
            return _providers.current_info(self.history, state.slug, state)

    async def set_provider_enabled(
        self, slug: str, enabled: bool, *, caller: Caller
    ) -> ProviderInfo:
        """Enable or disable `slug`; persisted across restarts."""
        action = AuditAction.ENABLE_PROVIDER if enabled else AuditAction.DISABLE_PROVIDER
        async with self.audit.track(caller, action, provider=slug[:200] or None) as entry:
            caller.require(Scope.ADMIN, "enabling or disabling a provider")
            state = await self.admin.set_enabled(slug, enabled)
            entry.detail["status"] = state.status.value
            return _providers.current_info(self.history, state.slug, state)

    async def refresh_provider(self, slug: str, *, caller: Caller) -> ProviderInfo:
        """Read the manifest of `slug` again (its capabilities) without restarting it."""
        async with self.audit.track(
            caller, AuditAction.REFRESH_PROVIDER, provider=slug[:200] or None
        ):
            caller.require(Scope.ADMIN, "refreshing a provider")
            state = await self.admin.refresh(slug)
            return _providers.current_info(self.history, state.slug, state)

    async def remove_provider(self, slug: str, *, caller: Caller) -> None:
        async with self.audit.track(
            caller, AuditAction.REMOVE_PROVIDER, provider=slug[:200] or None
        ):
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
        """Forget the stored bars and coverage of [start, end) (checked by the door). With no
        provider named, imported data sets are kept (and listed in the answer)."""
        async with self.audit.track(
            caller,
            AuditAction.INVALIDATE,
            symbol=symbol[:200],
            provider=provider,
            interval=interval.value,
            start=start,
            end=end,
        ) as entry:
            caller.require(Scope.WRITE, "invalidating a range")
            checked = check_symbol(symbol)
            entry.symbol = checked
            deleted, providers, kept = await self.history.invalidate(
                checked, interval, start, end, provider
            )
            entry.rows = deleted
            if provider is None:
                entry.detail.update(providers=providers, kept=kept)
            return Invalidated(deleted, tuple(providers), tuple(kept))

    # -- audit ------------------------------------------------------------------------------

    async def refused(
        self, caller: Caller, action: AuditAction, error: BaseException, **fields: Any
    ) -> None:
        """Audit an action a door refused before asking the core (its request did not parse)."""
        await self.audit.record(caller, action, error=error, **fields)

    async def audit_log(self, query: AuditFilter, *, caller: Caller) -> AuditPage:
        """A page of the audit log, newest first (admins only)."""
        caller.require(Scope.ADMIN, "reading the audit log")
        return await self.audit.page(query)


#: Fewer rows than this are adjusted on the event loop (microseconds); more on a thread.
_INLINE_ADJUST_ROWS = 20_000


async def _adjusted(table: pa.Table, mode: Adjust, declared: dict[str, frozenset[str]]) -> pa.Table:
    if table.num_rows <= _INLINE_ADJUST_ROWS:
        return adjust_bars(table, mode, declared)
    return await asyncio.to_thread(adjust_bars, table, mode, declared)


async def _adjusted_from_daily(
    table: pa.Table,
    mode: Adjust,
    declared: dict[str, frozenset[str]],
    daily: pa.Table,
    interval: Interval,
) -> pa.Table:
    if table.num_rows <= _INLINE_ADJUST_ROWS:
        return adjust_from_daily(table, mode, declared, daily, interval)
    return await asyncio.to_thread(adjust_from_daily, table, mode, declared, daily, interval)


def _only(values: tuple[str, ...]) -> str | None:
    """The one value of a batch column, or None when it has none or several (listed in the
    audit row's detail)."""
    return values[0] if len(values) == 1 else None
