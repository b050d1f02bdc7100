"""The REST door of TimeBase (aiohttp): JSON/CSV/Arrow bars, providers, health, OpenAPI, metrics
and real-time bars over a WebSocket. See docs/rest.md.

    rest = RestServer(api, host=config.host, port=config.http_port,
                      config=config.rest, realtime=hub)      # api: the app's QueryApi
    await rest.start()
    ...
    await rest.stop()
"""

from timebase.rest.app import RestServer, build_app
from timebase.rest.errors import ERROR_CODES, http_error
from timebase.rest.metrics import Metrics
from timebase.rest.openapi import build_spec
from timebase.rest.params import parse_bar_query

__all__ = [
    "ERROR_CODES",
    "Metrics",
    "RestServer",
    "build_app",
    "build_spec",
    "http_error",
    "parse_bar_query",
]
