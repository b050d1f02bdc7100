"""What the REST handlers get from their application (`web.AppKey`s, set by `build_app`)."""

from __future__ import annotations

from aiohttp import web

from timebase.core.config import RestConfig
from timebase.gateway.query import QueryApi
from timebase.rest.metrics import Metrics
from timebase.rest.ratelimit import ClientRateLimiter
from timebase.rest.websocket import StreamHandler

#: The gateway core, as every door asks it.
API = web.AppKey("timebase_api", QueryApi)
CONFIG = web.AppKey("timebase_rest_config", RestConfig)
METRICS = web.AppKey("timebase_metrics", Metrics)
LIMITER = web.AppKey("timebase_rate_limiter", ClientRateLimiter)
STREAMS = web.AppKey("timebase_streams", StreamHandler)
#: The OpenAPI document and the /docs page, rendered once.
SPEC_BODY = web.AppKey("timebase_openapi", bytes)
DOCS_BODY = web.AppKey("timebase_docs_page", bytes)

#: The door's name in metrics.
DOOR = "rest"
