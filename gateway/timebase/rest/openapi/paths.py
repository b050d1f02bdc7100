"""The OpenAPI document's paths: one operation per route of the REST door."""

from __future__ import annotations

from typing import Any

from timebase.rest.openapi.common import (
    ADMIN_NOTE,
    AUDIT_PARAMETERS,
    COMMON_HEADERS,
    bar_operation,
    errors,
    ok,
    ref,
)


def paths() -> dict[str, Any]:
    """Every route of the REST door, by path (the drift tests compare them with the app)."""
    bar_params = [
        "RequestId",
        "Symbol",
        "Interval",
        "Start",
        "End",
        "Limit",
        "Refresh",
        "Adjust",
        "Format",
    ]
    return {
        "/api/data/{symbol}": {
            "get": {
                **bar_operation(
                    "Bars of a symbol (the router picks the provider, or `?provider=`)",
                    "Symbol-centric: the gateway chooses the provider, serves stored ranges "
                    "from the provider that fetched them and fetches only what is missing. "
                    "With `?provider=SLUG` (the original TimeBase's provider-aware form) the "
                    "answer is exactly that of `/api/providers/{slug}/data/{symbol}`.",
                    [*bar_params, "ProviderQuery"],
                ),
                "operationId": "getBars",
            }
        },
        "/api/providers/{slug}/data/{symbol}": {
            "get": {
                **bar_operation(
                    "Bars of a symbol from one provider",
                    "Provider-aware: only the named provider is asked (a name with stored bars "
                    "but no running add-on is served from the store).",
                    ["Slug", *bar_params],
                ),
                "operationId": "getProviderBars",
            }
        },
        "/api/data/{symbol}/events": {
            "get": {
                "operationId": "getEvents",
                "summary": "Split and dividend events of a symbol",
                "description": "The events recorded on the symbol's stored bars of the range "
                "(fetching what is missing, like the bar routes): the ones `adjust=splits|all` "
                "uses. A dividend's value is the cash amount per share, a split's the new shares "
                "per old share; each is keyed at its ex-date's bar.",
                "tags": ["bars"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Symbol"},
                    {"$ref": "#/components/parameters/EventsInterval"},
                    {"$ref": "#/components/parameters/EventsStart"},
                    {"$ref": "#/components/parameters/End"},
                    {"$ref": "#/components/parameters/ProviderOptional"},
                ],
                "responses": {
                    "200": ok("Events", "The events, ascending by ex-date."),
                    **errors(400, 404, 429, 500, 502, 503, 504),
                },
            }
        },
        "/api/symbols/{symbol}/providers": {
            "get": {
                "operationId": "getSymbolProviders",
                "summary": "Providers for a symbol, ranked as the router would rank them",
                "tags": ["providers"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Symbol"},
                    {"$ref": "#/components/parameters/IntervalOptional"},
                ],
                "responses": {
                    "200": ok("SymbolProviders", "The ranking and the excluded providers."),
                    **errors(400, 429, 500, 503),
                },
            }
        },
        "/api/providers": {
            "get": {
                "operationId": "listProviders",
                "summary": "Every provider: status, capabilities, latency, uptime, quota",
                "tags": ["providers"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "responses": {
                    "200": ok("ProviderList", "The providers, running ones first."),
                    **errors(400, 429, 500, 503),
                },
            },
            "post": {
                "operationId": "installProvider",
                "summary": "Admin: install a provider folder or a Git repository's add-on and "
                "start it (no gateway restart)",
                "description": ADMIN_NOTE
                + " The folder (manifest, and a Dockerfile or src/main.py for the configured "
                "runtime) must lie directly inside the bundled providers folder or a "
                "`providers.directories` entry; a bare name is looked up there. A `repository` "
                "is cloned into the data directory and its `repository.yaml` read; `slug` picks "
                "the add-on. A repository that cannot be cloned, has no or an invalid listing or "
                "manifest, or lacks the add-on is 400; a slug already in use is 409; nothing is "
                "changed then. The answer comes once the provider is ready or failed (`status`, "
                "`lastError`); a failed provider stays listed until removed.",
                "tags": ["admin"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("InstallProvider")}},
                },
                "responses": {
                    "201": {
                        **ok("Provider", "Installed: the provider, ready or failed."),
                        "headers": {
                            **COMMON_HEADERS,
                            "Location": {
                                "description": "`/api/providers/{slug}` of the new provider.",
                                "schema": {"type": "string"},
                            },
                        },
                    },
                    **errors(400, 403, 409, 415, 429, 500, 501),
                },
            },
        },
        "/api/providers/{slug}": {
            "get": {
                "operationId": "getProvider",
                "summary": "One provider",
                "tags": ["providers"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Slug"},
                ],
                "responses": {
                    "200": ok("Provider", "The provider."),
                    **errors(400, 404, 429, 500, 503),
                },
            },
            "delete": {
                "operationId": "removeProvider",
                "summary": "Admin: stop a provider and forget it (a repository add-on's clone "
                "is deleted; a providers-directory folder stays on disk)",
                "description": ADMIN_NOTE
                + " Answers once the provider's process or container is gone.",
                "tags": ["admin"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Slug"},
                ],
                "responses": {
                    "200": ok("ProviderRemoved", "Removed."),
                    **errors(400, 403, 404, 429, 500, 501),
                },
            },
            "patch": {
                "operationId": "setProviderEnabled",
                "summary": "Admin: enable or disable a provider (kept across restarts)",
                "description": ADMIN_NOTE
                + " A disabled provider is stopped and listed with status `disabled` until "
                "enabled again. Idempotent.",
                "tags": ["admin"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Slug"},
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("SetProviderEnabled")}},
                },
                "responses": {
                    "200": ok("Provider", "The provider, stopped or started."),
                    **errors(400, 403, 404, 415, 429, 500, 501),
                },
            },
        },
        "/api/providers/{slug}/update": {
            "post": {
                "operationId": "updateProvider",
                "summary": "Admin: pull a repository add-on, then restart it",
                "description": ADMIN_NOTE
                + " Only for a provider installed from a repository (400 otherwise). An update "
                "whose listing or manifest is invalid is rolled back (400). The answer comes once "
                "the provider is ready or failed; `commit` is the new one.",
                "tags": ["admin"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Slug"},
                ],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": ref("EmptyBody")}},
                },
                "responses": {
                    "200": ok("Provider", "Updated: the provider, ready or failed."),
                    **errors(400, 403, 404, 415, 429, 500, 501),
                },
            },
        },
        "/api/providers/{slug}/refresh": {
            "post": {
                "operationId": "refreshProvider",
                "summary": "Admin: read a provider's manifest again (capabilities), no restart",
                "description": ADMIN_NOTE + " 400 when the manifest is now invalid.",
                "tags": ["admin"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Slug"},
                ],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": ref("EmptyBody")}},
                },
                "responses": {
                    "200": ok("Provider", "The provider with its re-read capabilities."),
                    **errors(400, 403, 404, 415, 429, 500, 501),
                },
            },
        },
        "/api/audit": {
            "get": {
                "operationId": "listAudit",
                "summary": "Admin: the audit log, newest first (paged, filtered)",
                "description": "Every write and admin action (ingest, invalidate, refresh, "
                "install_provider, remove_provider, key_create, key_revoke), refused ones "
                "included with their error code in `outcome`. Needs the `admin` scope "
                "(403 PERMISSION_DENIED otherwise). Pages: pass `nextCursor` as `cursor` until "
                "it is null.",
                "tags": ["admin"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    *({"$ref": "#/components/parameters/" + p} for p in AUDIT_PARAMETERS),
                ],
                "responses": {
                    "200": ok("AuditPage", "A page of the audit log, newest first."),
                    **errors(400, 429, 500, 503),
                },
            }
        },
        "/api/health": {
            "get": {
                "operationId": "getHealth",
                "summary": "Health of the database and the providers (not rate limited)",
                "description": "200 when the database is reachable (status healthy, or degraded "
                "when some providers are down); 503 DATABASE_ERROR when it is not.",
                "tags": ["service"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "responses": {
                    "200": ok("Health", "Healthy or degraded."),
                    **errors(400, 500, 503),
                },
            }
        },
        "/api/version": {
            "get": {
                "operationId": "getVersion",
                "summary": "TimeBase's name and version",
                "tags": ["service"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "responses": {"200": ok("Version", "The version."), **errors(400, 429, 500)},
            }
        },
        "/api/stream": {
            "get": {
                "operationId": "stream",
                "summary": "Real-time bars over a WebSocket",
                "description": "Upgrade to a WebSocket (a browser's `Origin` must be the "
                "server's own or one of `rest.cors_origins`: 403 ORIGIN_NOT_ALLOWED). Client messages are `StreamControl` "
                "JSON objects; the server sends `StreamAck`, `StreamBar`, `StreamWarning` and "
                "`StreamError` objects (field `type`). Bars in progress have `final: false`; "
                "only final bars are stored. A bad message gets an error and the stream stays "
                "open.",
                "tags": ["streaming"],
                "parameters": [
                    {"$ref": "#/components/parameters/" + name}
                    for name in (
                        "RequestId",
                        "Upgrade",
                        "Connection",
                        "WebSocketVersion",
                        "WebSocketKey",
                    )
                ],
                "responses": {
                    "101": {"description": "Switching to the WebSocket protocol."},
                    **errors(400, 403, 429, 503),
                },
                "x-websocket": {
                    "client": ref("StreamControl"),
                    "server": {
                        "oneOf": [
                            ref("StreamAck"),
                            ref("StreamBar"),
                            ref("StreamWarning"),
                            ref("StreamError"),
                        ]
                    },
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "tags": ["service"],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **errors(400),
                },
            }
        },
        "/docs": {
            "get": {
                "operationId": "getDocs",
                "summary": "This document as a self-contained HTML page (no CDN)",
                "tags": ["service"],
                "responses": {
                    "200": {
                        "description": "HTML",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    **errors(400),
                },
            }
        },
        "/": {
            "get": {
                "operationId": "getWebPage",
                "summary": "The web page: providers, symbol discovery, a candlestick chart with "
                "live updates (docs/web.md)",
                "tags": ["service"],
                "responses": {
                    "200": {
                        "description": "HTML (its script and style under /static/)",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    **errors(400),
                },
            }
        },
        "/static/{name}": {
            "get": {
                "operationId": "getStaticFile",
                "summary": "A file of the web page (script, style, the vendored chart library "
                "and its licence)",
                "tags": ["service"],
                "parameters": [{"$ref": "#/components/parameters/StaticName"}],
                "responses": {
                    "200": {
                        "description": "The file",
                        "content": {
                            "text/javascript": {"schema": {"type": "string"}},
                            "text/css": {"schema": {"type": "string"}},
                            "text/plain": {"schema": {"type": "string"}},
                        },
                    },
                    **errors(400, 404),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "getMetrics",
                "summary": "Prometheus metrics (text format)",
                "tags": ["service"],
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **errors(400),
                },
            }
        },
    }
