"""Which subscriptions a provider refused: read from its ErrorInfo, never from its message."""

from __future__ import annotations

import pytest
from grpc.aio import AioRpcError, Metadata

from timebase.gateway.realtime.upstream import refused_keys
from timebase.sdk.errors import InvalidArgument, SymbolNotFound, UpstreamUnavailable
from timebase.sdk.status import to_rpc_status

KEYS = {("SYN:A", "1m"), ("SYN:A", "5m"), ("SYN:B", "1m")}


def _error(exc: Exception, *, with_details: bool = True) -> AioRpcError:
    status = to_rpc_status(exc)
    trailing = Metadata(*status.trailing_metadata) if with_details else Metadata()
    return AioRpcError(status.code, Metadata(), trailing, status.message, debug_error_string="")


@pytest.mark.parametrize(
    ("exc", "refused"),
    [
        (InvalidArgument("symbol: not served", symbol="SYN:A"), {("SYN:A", "1m"), ("SYN:A", "5m")}),
        (
            InvalidArgument("interval: not supported", interval="1m"),
            {("SYN:A", "1m"), ("SYN:B", "1m")},
        ),
        (SymbolNotFound("gone", symbol="syn:b", interval="1m"), {("SYN:B", "1m")}),
        # A refusal naming nothing refuses the whole call.
        (SymbolNotFound("symbol: 'SYN:B' is unknown"), KEYS),
        # Not a refusal: the call failed.
        (UpstreamUnavailable("symbol: 'SYN:A' timed out", symbol="SYN:A"), set()),
    ],
)
def test_refused_keys_come_from_error_info(exc: Exception, refused: set[tuple[str, str]]) -> None:
    assert refused_keys(KEYS, _error(exc)) == refused


def test_a_provider_without_error_info_has_the_whole_call_refused() -> None:
    # An older SDK sends no rich status: the message names SYN:A, but it is not read.
    error = _error(
        InvalidArgument("symbol: 'SYN:A' is not served", symbol="SYN:A"), with_details=False
    )
    assert refused_keys(KEYS, error) == KEYS


def test_a_stream_that_ended_without_an_error_refuses_nothing() -> None:
    assert refused_keys(KEYS, None) == set()
    assert refused_keys(KEYS, RuntimeError("symbol: 'SYN:A'")) == set()
