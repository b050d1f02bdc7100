"""The REST routes, one module per area (each an aiohttp `RouteTableDef`)."""

from aiohttp import web

from timebase.rest.routes import audit, bars, events, probes, providers, service, stream, summary

#: Every route table of the REST door.
ROUTES: tuple[web.RouteTableDef, ...] = (
    audit.routes,
    bars.routes,
    events.routes,
    summary.routes,
    probes.routes,
    providers.routes,
    service.routes,
    stream.routes,
)

__all__ = ["ROUTES"]
