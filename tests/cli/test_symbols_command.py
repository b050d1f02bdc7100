"""`timebase symbols search QUERY` and `timebase symbols refresh` as a user runs them (real
subprocesses against the gateway's gRPC door on a real port), and the Python client's calls."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.cli.test_client_commands import cli
from tests.gateway.test_symbols import providers


async def test_refresh_then_search_with_exact_output(database_url: str, tmp_path: Path) -> None:
    async with cli(database_url, tmp_path, *providers()) as run:
        result = await run("symbols", "refresh")
        assert (result.code, result.err) == (0, "")
        assert result.out == "alpha: 3 symbols\nbeta: 2 symbols\n"

        result = await run("symbols", "search", "acm", "--limit", "2")
        assert (result.code, result.err) == (0, "")
        assert result.out == (
            "symbol  name              type    providers  intervals\n"
            "ACME    Acme Corporation  equity  alpha      1d\n"
            "ACMX    Acme Mining       equity  alpha\n"
            "2 of 3; next page: --offset 2\n"
        )

        result = await run("symbols", "search", "acme", "--provider", "beta")
        assert result.out == (
            "symbol    name       type    providers  intervals\nCOINACME  Acme Coin  crypto  beta\n"
        )
        result = await run("symbols", "search", "", "--type", "crypto")
        assert (result.code, result.err) == (0, "")
        assert result.out == (
            "symbol    name       type    providers  intervals\nCOINACME  Acme Coin  crypto  beta\n"
        )
        result = await run("symbols", "search", "holdings")
        assert result.out == (
            "symbol  name             type  providers   intervals\n"
            "BOTH    Shared Holdings  etf   alpha,beta  1h,1d\n"
        )
        result = await run("symbols", "search", "nothing-like-it")
        assert (result.code, result.out) == (0, "no symbol matches 'nothing-like-it'\n")

        # the ranking form is unchanged
        result = await run("symbols", "ACME")
        assert result.code == 0, result.err
        assert result.out.splitlines()[0] == "ACME 1d:"

        # the Python client: the same answers
        def client_calls() -> tuple[object, object]:
            with run.client() as client:
                return client.search_symbols("holdings"), client.refresh_symbols("beta")

        page, counts = await asyncio.to_thread(client_calls)
        assert page == {
            "symbols": [
                {
                    "symbol": "BOTH",
                    "name": "Shared Holdings",
                    "type": "etf",
                    "providers": ["alpha", "beta"],
                    "intervals": ["1h", "1d"],
                }
            ],
            "total": 1,
            "next_offset": 0,
        }
        assert counts == {"beta": 2}


async def test_usage_errors_exit_2(database_url: str, tmp_path: Path) -> None:
    async with cli(database_url, tmp_path) as run:
        result = await run("symbols", "search")
        assert (result.code, result.out) == (2, "")
        assert result.err == (
            "timebase: symbols search: expected one QUERY (quote it if it has spaces)\n"
        )
        result = await run("symbols", "search", "a", "--limit", "5000")
        assert result.code == 2
        assert result.err == "timebase: limit: must be 1 to 1000 (got 5000)\n"
