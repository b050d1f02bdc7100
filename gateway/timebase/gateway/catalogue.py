"""The symbol catalogue: providers' `GetSymbols` answers, stored and searchable.

    catalogue = SymbolCatalogue(history, refresh_interval=86_400)
    await catalogue.start()          # watches providers: each one is asked when it becomes ready
    counts = await catalogue.refresh()                   # on demand: {slug: symbols stored}
    page = await catalogue.search(SymbolSearch(query="AC"))
    listing = await catalogue.provider_symbols("synthetic")     # the original's route
    listings = await catalogue.listings()                       # {slug: entries}, as stored
    union = await catalogue.federated()                         # the gateway's own GetSymbols

A provider is asked when it first becomes ready (at start, after a restart at a new address,
after an install), every `refresh_interval` seconds (0: never on a schedule), and on demand. A
provider answering UNIMPLEMENTED has no catalogue: nothing is stored for it, and what it listed
before is kept. Symbols served but never listed join the catalogue when their bars are stored
(`timebase.store.symbols.note_stored`).
"""

from __future__ import annotations

import asyncio
import logging
import time

from timebase.gateway.history import HistoricalBars
from timebase.gateway.provider_client import ProviderCallError
from timebase.gateway.providers import ProviderView
from timebase.provider import provider_pb2 as pb
from timebase.sdk.errors import InvalidRequestError, ProviderNotFound, ProviderUnavailable
from timebase.sdk.tasks import cancel_and_wait
from timebase.store.symbols import CatalogEntry, CatalogSymbol, SymbolPage, SymbolSearch

_log = logging.getLogger(__name__)

#: How often the watcher looks for providers that became ready (seconds).
WATCH_SECONDS = 1.0
#: A provider whose GetSymbols failed is asked again after this many seconds.
RETRY_SECONDS = 60.0
#: Most symbols the gateway's own GetSymbols answers (a 4 MiB message holds about this many).
MAX_FEDERATED = 50_000
MAX_PAGE = 1000
DEFAULT_PAGE = 100


def entries_of(symbols: list[pb.SymbolInfo]) -> list[CatalogEntry]:
    return [
        CatalogEntry(
            symbol=s.symbol.strip().upper(),
            name=s.name,
            type=s.type,
            intervals=tuple(s.intervals),
            metadata=dict(s.metadata),
        )
        for s in symbols
        if s.symbol.strip()
    ]


def check_search(
    query: str = "", type_: str = "", provider: str = "", limit: int = 0, offset: int = 0
) -> SymbolSearch:
    """A search as a door received it, checked (InvalidRequestError naming the field)."""
    if limit < 0 or limit > MAX_PAGE:
        raise InvalidRequestError(f"limit: must be 1 to {MAX_PAGE} (got {limit})", field="limit")
    if offset < 0:
        raise InvalidRequestError(f"offset: must be >= 0 (got {offset})", field="offset")
    for name, value in (("q", query), ("type", type_), ("provider", provider)):
        if len(value) > 200:
            raise InvalidRequestError(f"{name}: at most 200 characters", field=name)
        if "\x00" in value:
            raise InvalidRequestError(f"{name}: must not contain NUL characters", field=name)
    return SymbolSearch(
        query.strip(), type_.strip(), provider.strip(), limit or DEFAULT_PAGE, offset
    )


class SymbolCatalogue:
    """See the module docstring. Lifecycle: sync __init__, async start()/stop()."""

    def __init__(
        self,
        history: HistoricalBars,
        *,
        refresh_interval: float = 86_400,
        rpc_timeout: float = 30.0,
    ) -> None:
        self.history = history
        self.refresh_interval = refresh_interval
        self.rpc_timeout = rpc_timeout
        #: slug -> the address its catalogue was last asked at.
        self._asked: dict[str, str] = {}
        #: slug -> when to ask again after a failed GetSymbols (monotonic seconds).
        self._retry_at: dict[str, float] = {}
        self._last_full = 0.0
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._last_full = time.monotonic()
        self._task = asyncio.create_task(self._watch(), name="symbol catalogue")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _watch(self) -> None:
        while True:
            try:
                due = self.refresh_interval > 0 and (
                    time.monotonic() - self._last_full >= self.refresh_interval
                )
                if due:
                    self._last_full = time.monotonic()
                    await self.refresh()
                else:
                    now = time.monotonic()
                    for view in self._ready():
                        retry = self._retry_at.get(view.slug)
                        if self._asked.get(view.slug) != view.address or (
                            retry is not None and now >= retry
                        ):
                            await self._refresh_one(view)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("refreshing the symbol catalogue failed")
            await asyncio.sleep(WATCH_SECONDS)

    def _ready(self) -> list[ProviderView]:
        return [v for v in self.history.providers() if v.ready and v.address is not None]

    async def _refresh_one(self, view: ProviderView) -> int | None:
        """Ask one provider; store what it lists. None: it has no catalogue or failed."""
        assert view.address is not None
        self._asked[view.slug] = view.address
        client = await self.history.clients.get(view.slug, view.address)
        try:
            listed = await client.symbols(self.rpc_timeout)
        except ProviderCallError as exc:
            _log.warning("GetSymbols of %s failed: %s", view.slug, exc.describe())
            self._retry_at[view.slug] = time.monotonic() + RETRY_SECONDS
            return None
        self._retry_at.pop(view.slug, None)
        if listed is None:
            return None
        async with self._lock:
            count = await self.history.store.replace_listed_symbols(view.slug, entries_of(listed))
        _log.info("symbol catalogue of %s: %d symbols", view.slug, count)
        return count

    async def refresh(self, provider: str | None = None) -> dict[str, int]:
        """Ask every ready provider (or `provider`) now; {slug: symbols stored} of those that
        list symbols. ProviderNotFound for an unknown slug, ProviderUnavailable when it is not
        ready."""
        views = self._ready()
        if provider:
            known = {v.slug: v for v in self.history.providers()}
            if provider not in known:
                raise ProviderNotFound(f"provider: no provider {provider!r}", provider=provider)
            views = [v for v in views if v.slug == provider]
            if not views:
                raise ProviderUnavailable(f"provider {provider!r} is not ready", provider=provider)
        counts = await asyncio.gather(*(self._refresh_one(v) for v in views))
        return {v.slug: n for v, n in zip(views, counts, strict=True) if n is not None}

    async def search(self, query: SymbolSearch) -> SymbolPage:
        return await self.history.store.search_symbols(query)

    async def provider_symbols(self, slug: str) -> list[CatalogEntry]:
        """What `slug` lists: asked now when it is ready (and stored), else as last stored.
        ProviderNotFound for an unknown slug."""
        view = next((v for v in self.history.providers() if v.slug == slug), None)
        if view is None:
            raise ProviderNotFound(f"provider: no provider {slug!r}", provider=slug)
        if view.ready and view.address is not None:
            await self._refresh_one(view)
        return await self.history.store.listed_symbols(slug)

    async def listings(self) -> dict[str, list[CatalogEntry]]:
        """What each known provider listed at its last refresh (as stored; none is asked), by
        slug, sorted; a provider without a catalogue lists nothing."""
        slugs = sorted({v.slug for v in self.history.providers()})
        return {slug: await self.history.store.listed_symbols(slug) for slug in slugs}

    async def federated(self) -> list[CatalogSymbol]:
        """Every symbol of the catalogue (at most MAX_FEDERATED), with its providers."""
        page = await self.search(SymbolSearch(limit=MAX_FEDERATED))
        return page.symbols
