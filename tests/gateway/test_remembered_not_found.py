"""A remembered NOT_FOUND is still a 404, with the same message as the first answer, at every door.

A symbol-centric request whose providers all answer NOT_FOUND remembers it (negative cache); the
repeat, and a provider-aware request to one of those providers, answer SYMBOL_NOT_FOUND from that
memory without asking again, never PROVIDER_UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import pyarrow as pa
import pytest
from pyarrow import flight

from tests.flight.conftest import running_flight
from tests.gateway.support import DAY, T0, RecordingProvider, request, running_gateway
from tests.rest.conftest import running_rest
from timebase.client.errors import flight_error_info
from timebase.sdk.errors import SymbolNotFound

RANGE = "interval=1d&start=2024-01-01&end=2024-01-05"
BOTH = (
    "symbol 'SYN:NOPE' was not found "
    "(alpha: NOT_FOUND: unknown symbol; beta: NOT_FOUND: unknown symbol)"
)
ALPHA = "symbol 'SYN:NOPE' was not found (alpha: NOT_FOUND: unknown symbol)"


def unknown_everywhere() -> tuple[RecordingProvider, RecordingProvider]:
    alpha, beta = RecordingProvider("alpha"), RecordingProvider("beta")
    alpha.fail = SymbolNotFound("unknown symbol")
    beta.fail = SymbolNotFound("unknown symbol")
    return alpha, beta


def error(body: Any) -> tuple[str, str, Any]:
    assert body["success"] is False
    return body["error"]["code"], body["error"]["message"], body["error"].get("details")


async def test_rest_remembered_not_found_is_404_on_both_routes(fresh_database_url: str) -> None:
    alpha, beta = unknown_everywhere()
    async with running_rest(fresh_database_url, alpha, beta) as rest:
        first = await rest.get(f"/api/data/SYN:NOPE?{RANGE}")
        assert first[0] == 404
        assert error(first[1]) == (
            "SYMBOL_NOT_FOUND",
            BOTH,
            {
                "symbol": "SYN:NOPE",
                "errors": {
                    "alpha": "NOT_FOUND: unknown symbol",
                    "beta": "NOT_FOUND: unknown symbol",
                },
            },
        )
        asked = (len(alpha.requests), len(beta.requests))

        # The repeat answers from memory: the same 404, nobody asked again.
        again = await rest.get(f"/api/data/SYN:NOPE?{RANGE}")
        assert (again[0], again[1]["error"]) == (404, first[1]["error"])

        # A provider-aware request to a provider that said NOT_FOUND: 404, not 503.
        status, body, _ = await rest.get(f"/api/providers/alpha/data/SYN:NOPE?{RANGE}")
        assert status == 404
        assert error(body) == (
            "SYMBOL_NOT_FOUND",
            ALPHA,
            {"symbol": "SYN:NOPE", "errors": {"alpha": "NOT_FOUND: unknown symbol"}},
        )
        assert (len(alpha.requests), len(beta.requests)) == asked

        # Asked directly (nothing remembered for this symbol), the answer has the same shape.
        status, body, _ = await rest.get(f"/api/providers/beta/data/SYN:GONE?{RANGE}")
        assert status == 404
        assert error(body)[:2] == (
            "SYMBOL_NOT_FOUND",
            "symbol 'SYN:GONE' was not found (beta: NOT_FOUND: unknown symbol)",
        )


async def test_grpc_remembered_not_found_is_not_found(fresh_database_url: str) -> None:
    alpha, beta = unknown_everywhere()
    async with running_gateway(fresh_database_url, alpha, beta) as gw:
        for req in (
            request("SYN:NOPE", "1d", T0, T0 + 4 * DAY),
            request("SYN:NOPE", "1d", T0, T0 + 4 * DAY),
            request("SYN:NOPE", "1d", T0, T0 + 4 * DAY, provider="alpha"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                [c async for c in gw.data.GetHistoricalBars(req)]
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
            expected = ALPHA if req.provider else BOTH
            assert err.value.details() == expected
        assert (len(alpha.requests), len(beta.requests)) == (1, 1)


def _info_error(location: str, query: dict[str, Any]) -> Exception:
    client = flight.connect(location)
    try:
        client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(query)))
    except (flight.FlightError, pa.ArrowException) as exc:
        error: Exception = exc
        return error
    finally:
        client.close()
    raise AssertionError("no error")


async def test_flight_remembered_not_found_is_symbol_not_found(fresh_database_url: str) -> None:
    alpha, beta = unknown_everywhere()
    async with running_flight(fresh_database_url, alpha, beta) as fg:
        query = {"symbol": "SYN:NOPE", "interval": "1d", "start": "2024-01-01", "end": "2024-01-05"}
        for q, message in ((query, BOTH), (query, BOTH), ({**query, "provider": "alpha"}, ALPHA)):
            exc = await asyncio.to_thread(_info_error, fg.location, q)
            assert isinstance(exc, pa.ArrowKeyError)  # gRPC NOT_FOUND
            info = flight_error_info(exc)
            assert info is not None
            assert info["code"] == "SYMBOL_NOT_FOUND"
            assert message in str(exc)
        assert (len(alpha.requests), len(beta.requests)) == (1, 1)
