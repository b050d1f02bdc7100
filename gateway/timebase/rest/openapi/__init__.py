"""The OpenAPI 3.1 description of the REST door (`GET /openapi.json`), as a Python dict.

Its parts: `common` (references, responses, headers, parameters), `schemas` (the components)
and `paths` (one operation per route). A test checks that every route the aiohttp application
registers is described here and that every path described here is registered, so the spec
stays true. docs/rest.md is checked against it as well.
"""

from __future__ import annotations

from typing import Any

from timebase.rest.errors import ERROR_CODES
from timebase.rest.openapi import calendars, routes_extra
from timebase.rest.openapi.common import AUDIT_PARAMETERS, PARAMETERS
from timebase.rest.openapi.paths import paths
from timebase.rest.openapi.schemas import schemas
from timebase.rest.openapi.security import SCHEME, SECURITY_SCHEMES, secure
from timebase.rest.openapi.symbols import SYMBOL_PARAMETERS, symbol_paths, symbol_schemas
from timebase.rest.openapi.watchlists import watchlist_paths, watchlist_schemas


def build_spec(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the REST door."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TimeBase REST API",
            "version": version,
            "description": "OHLCV bars from many providers through one API. Every JSON response "
            "uses the envelope `{success, data | error, meta}`; errors carry a stable `code`. "
            "Every route checks the `Host` header (400 HOST_NOT_ALLOWED unless it is the bind "
            "address, a loopback name or one of `rest.allowed_hosts`); CORS is off unless "
            "`rest.cors_origins` lists origins.",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "bars", "description": "Historical bars"},
            {"name": "providers", "description": "Data providers and routing"},
            {
                "name": "admin",
                "description": "Providers installed and removed at run time; the audit log",
            },
            {"name": "symbols", "description": "The symbol catalogue: search and refresh"},
            {"name": "streaming", "description": "Real-time bars"},
            {"name": "service", "description": "Health, version, metrics, documentation"},
        ],
        "paths": secure(
            {
                **paths(),
                **routes_extra.paths(),
                **symbol_paths(),
                **watchlist_paths(),
                **calendars.paths(),
            }
        ),
        "security": [{SCHEME: []}],
        "components": {
            "schemas": {
                **schemas(),
                **routes_extra.schemas(),
                **symbol_schemas(),
                **watchlist_schemas(),
                **calendars.schemas(),
            },
            "parameters": {
                **PARAMETERS,
                **AUDIT_PARAMETERS,
                **SYMBOL_PARAMETERS,
                **calendars.PARAMETERS,
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
        "x-error-codes": dict(sorted(ERROR_CODES.items())),
    }
