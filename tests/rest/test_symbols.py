"""The symbol catalogue over REST: `GET /api/symbols` (search, paged), `POST /api/symbols/refresh`,
and the original TimeBase's `GET /api/providers/symbols?provider=SLUG` (and its
`/api/providers/{slug}/symbols` form) and
`GET /api/data/{symbol}?provider=SLUG`, with their exact JSON."""

from __future__ import annotations

from typing import Any

from tests.gateway.test_symbols import providers
from tests.rest.conftest import Rest, running_rest
from tests.rest.openapi_check import validate


async def post(rest: Rest, path: str, body: Any = None) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    async with rest.http.post(rest.url(path), **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_search_paged_with_exact_json(database_url: str) -> None:
    async with running_rest(database_url, *providers()) as rest:
        status, body = await post(rest, "/api/symbols/refresh", {})
        assert status == 200, body
        assert body["data"] == {"providers": {"alpha": 3, "beta": 2}, "total": 5}

        status, body, _ = await rest.get("/api/symbols?q=acm&limit=2")
        assert status == 200, body
        assert body["success"] is True
        assert body["data"] == {
            "symbols": [
                {
                    "symbol": "ACME",
                    "name": "Acme Corporation",
                    "type": "equity",
                    "providers": ["alpha"],
                    "intervals": ["1d"],
                },
                {
                    "symbol": "ACMX",
                    "name": "Acme Mining",
                    "type": "equity",
                    "providers": ["alpha"],
                    "intervals": [],
                },
            ],
            "total": 3,
            "limit": 2,
            "offset": 0,
            "nextOffset": 2,
        }
        validate("/api/symbols", "get", 200, body)
        status, body, _ = await rest.get("/api/symbols?q=acm&limit=2&offset=2")
        assert [s["symbol"] for s in body["data"]["symbols"]] == ["COINACME"]
        assert body["data"]["nextOffset"] is None
        status, body, _ = await rest.get("/api/symbols?type=etf&provider=beta")
        assert [s["symbol"] for s in body["data"]["symbols"]] == ["BOTH"]
        assert body["data"]["symbols"][0]["providers"] == ["alpha", "beta"]
        # by name only, by type alone, by provider alone
        for query, found in [
            ("q=holdings", ["BOTH"]),
            ("q=MINING", ["ACMX"]),
            ("type=crypto", ["COINACME"]),
            ("type=EQUITY", ["ACME", "ACMX"]),
            ("provider=beta", ["BOTH", "COINACME"]),
            ("q=coin&provider=alpha", []),
        ]:
            status, body, _ = await rest.get(f"/api/symbols?{query}")
            assert status == 200, body
            assert [s["symbol"] for s in body["data"]["symbols"]] == found, query
            assert body["data"]["total"] == len(found), query


async def test_bad_search_and_refresh_are_400_or_404_naming_the_field(database_url: str) -> None:
    async with running_rest(database_url, *providers()) as rest:
        for path, message in [
            ("/api/symbols?limit=0", "limit: must be 1 to 1000 (got 0)"),
            ("/api/symbols?limit=x", "limit: expected a non-negative integer, got 'x'"),
            ("/api/symbols?offset=-1", "offset: expected a non-negative integer, got '-1'"),
            ("/api/symbols?symbol=A", "symbol: unknown query parameter (known: limit, offset, "
             "provider, q, type)"),
        ]:  # fmt: skip
            status, body, _ = await rest.get(path)
            assert (status, body["error"]["message"]) == (400, message), path
        status, body = await post(rest, "/api/symbols/refresh", {"provider": "nobody"})
        assert (status, body["error"]["code"]) == (404, "PROVIDER_NOT_FOUND")
        assert body["error"]["message"] == "provider: no provider 'nobody'"
        status, body = await post(rest, "/api/symbols/refresh", {"slug": "alpha"})
        assert (status, body["error"]["message"]) == (
            400,
            "slug: unknown field (known: provider)",
        )


async def test_original_provider_symbols_route(database_url: str) -> None:
    async with running_rest(database_url, *providers()) as rest:
        status, body, resp = await rest.get("/api/providers/symbols?provider=beta")
        assert status == 200, body
        assert resp.content_type == "application/json"
        # the original's shape at the top level; asked of the provider now
        beta = [
            {
                "symbol": "BOTH",
                "name": "",
                "type": "",
                "intervals": ["1d"],
                "metadata": {"providers": "beta"},
            },
            {
                "symbol": "COINACME",
                "name": "Acme Coin",
                "type": "crypto",
                "intervals": [],
                "metadata": {"providers": "beta"},
            },
        ]
        listing = {
            "provider": "beta",
            "totalSymbols": 2,
            "symbols": beta,
            "providers": [{"slug": "beta", "name": "beta", "symbols": beta}],
        }
        assert body == listing
        validate("/api/providers/symbols", "get", 200, body)
        # compact JSON, the keys in this order
        async with rest.http.get(rest.url("/api/providers/symbols?provider=beta")) as resp:
            raw = await resp.read()
        assert raw.startswith(b'{"provider":"beta","totalSymbols":2,"symbols":[{"symbol":"BOTH"')
        # the path the original's end-to-end checks use: the same answer
        status, body, resp = await rest.get("/api/providers/beta/symbols")
        assert (status, body, resp.content_type) == (200, listing, "application/json")
        validate("/api/providers/{slug}/symbols", "get", 200, body)
        # a provider without a catalogue (UNIMPLEMENTED): none
        plain = {
            "provider": "plain",
            "totalSymbols": 0,
            "symbols": [],
            "providers": [{"slug": "plain", "name": "plain", "symbols": []}],
        }
        for path in ("/api/providers/symbols?provider=plain", "/api/providers/plain/symbols"):
            status, body, _ = await rest.get(path)
            assert (status, body) == (200, plain), path
        # without ?provider=: the catalogue (as of the last refresh), each symbol's providers
        # in its metadata
        assert (await post(rest, "/api/symbols/refresh", {"provider": "alpha"}))[0] == 200
        status, body, _ = await rest.get("/api/providers/symbols")
        assert status == 200
        assert (body["provider"], body["totalSymbols"]) == (None, 4)
        both = next(s for s in body["symbols"] if s["symbol"] == "BOTH")
        assert both == {
            "symbol": "BOTH",
            "name": "Shared Holdings",
            "type": "etf",
            "intervals": ["1h", "1d"],
            "metadata": {"providers": "alpha,beta"},
        }
        # the original's per-provider lists: every provider, what it listed at its last refresh
        assert [
            (p["slug"], p["name"], [s["symbol"] for s in p["symbols"]]) for p in body["providers"]
        ] == [
            ("alpha", "alpha", ["ACME", "ACMX", "BOTH"]),
            ("beta", "beta", ["BOTH", "COINACME"]),
            ("plain", "plain", []),
        ]
        assert body["providers"][1]["symbols"] == beta
        validate("/api/providers/symbols", "get", 200, body)
        for path in ("/api/providers/symbols?provider=nobody", "/api/providers/nobody/symbols"):
            status, body, _ = await rest.get(path)
            assert (status, body["error"]["code"], body["error"]["message"]) == (
                404,
                "PROVIDER_NOT_FOUND",
                "provider: no provider 'nobody'",
            ), path
            validate(path.split("?")[0].replace("nobody", "{slug}"), "get", 404, body)
        status, body, _ = await rest.get("/api/providers/beta/symbols?provider=alpha")
        assert (status, body["error"]["message"]) == (
            400,
            "provider: unknown query parameter (known: none)",
        )
        # "symbols" is never read as a provider slug
        status, body, _ = await rest.get(
            "/api/providers/symbols/data/ACME?interval=1d&start=2024-01-01&end=2024-01-03"
        )
        assert status == 400
        assert body["error"]["message"] == (
            "provider: 'symbols' is not a provider slug (a-z, 0-9, '-', '_')"
        )


async def test_original_provider_aware_data_route(database_url: str) -> None:
    async with running_rest(database_url, *providers()) as rest:
        query = "interval=1d&start=2024-01-01&end=2024-01-04"
        status, alias, _ = await rest.get(f"/api/data/ACME?provider=beta&{query}")
        assert status == 200, alias
        status, direct, _ = await rest.get(f"/api/providers/beta/data/ACME?{query}")
        assert status == 200, direct
        strip = ("meta",)
        assert {k: v for k, v in alias.items() if k not in strip} == {
            k: v for k, v in direct.items() if k not in strip
        }
        assert alias["data"]["provider"] == "beta"
        assert [b["close"] for b in alias["data"]["data"]] == [
            b["close"] for b in direct["data"]["data"]
        ]
        assert len(alias["data"]["data"]) == 4  # a date-only end includes that day
        # the error is the direct route's too
        status, body, _ = await rest.get(f"/api/data/ACME?provider=Bad%20Slug&{query}")
        assert (status, body["error"]["message"]) == (
            400,
            "provider: 'Bad Slug' is not a provider slug (a-z, 0-9, '-', '_')",
        )
        status, body, _ = await rest.get(f"/api/data/ACME?provider=beta&provider=alpha&{query}")
        assert (status, body["error"]["message"]) == (400, "provider: given more than once")
