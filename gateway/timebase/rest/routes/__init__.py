"""The REST routes, one module per area (each an aiohttp `RouteTableDef`)."""

from aiohttp import web

from timebase.rest.routes import (
    audit,
    bars,
    calendars,
    events,
    probes,
    providers,
    service,
    stream,
    summary,
    symbols,
    watchlists,
)

#: Every route table of the REST door (`symbols` before `providers` and `bars`: its static
#: `/api/providers/symbols` must win over `/api/providers/{slug}`).
ROUTES: tuple[web.RouteTableDef, ...] = (
    symbols.routes,
    audit.routes,
    bars.routes,
    events.routes,
    summary.routes,
    calendars.routes,
    probes.routes,
    providers.routes,
    service.routes,
    stream.routes,
    watchlists.routes,
)

__all__ = ["ROUTES"]
