"""Hypothesis against the gRPC door of a running `timebase serve`: the federated
`timebase.provider.DataProvider` (GetHistoricalData, GetHistoricalBars, StreamRealTimeData) and
`timebase.v1.GatewayService.GetBars`. Only client-error statuses may come back, never INTERNAL or
UNKNOWN, and after each batch the server still answers a normal request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import grpc
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.fuzz.conftest import fuzz_settings, fuzz_timeout
from tests.fuzz.served import Served
from tests.fuzz.strategies import intervals, limits, ranges, slugs, symbols
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

#: What a request the client got wrong may be answered with.
CLIENT_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.FAILED_PRECONDITION,
}
#: Generous: a shared two-core machine; nothing fuzzed here takes long when it works.
TIMEOUT = 30.0

pytestmark = pytest.mark.timeout(fuzz_timeout())


@pytest.fixture
def channel(reader: Served) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(reader.grpc_target) as chan:
        yield chan


@st.composite
def bar_requests(draw: st.DrawFn, message: Any) -> Any:
    interval = draw(intervals)
    request = message(
        symbol=draw(symbols),
        interval=interval,
        provider=draw(slugs),
        refresh=draw(st.booleans()),
    )
    start, end = draw(ranges(interval))
    if start is not None:
        request.start_time.FromDatetime(start)
    if end is not None:
        request.end_time.FromDatetime(end)
    if draw(st.integers(0, 7)) == 7:  # a Timestamp no datetime can hold (nanos out of range;
        # only invalid ones: setting nanos on an absent field would make a range from 1970)
        stamp = request.start_time if draw(st.booleans()) else request.end_time
        stamp.nanos = draw(st.one_of(st.integers(-(2**31), -1), st.integers(10**9, 2**31 - 1)))
    limit = draw(limits)
    if limit is not None:
        request.limit = limit
    return request


metadata = st.lists(
    st.tuples(
        st.sampled_from(["x-timebase-provider", "x-timebase-refresh", "x-correlation-id"]),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
    ),
    max_size=3,
)


def _answered(call: Any, also: frozenset[grpc.StatusCode] = frozenset()) -> None:
    """Read a server-streaming call to its end; its error (if any) must be a client error (or
    one of `also`)."""
    code = grpc.StatusCode.OK
    details = ""
    try:
        for _ in call:
            pass
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""
    event(code.name)
    assert code in CLIENT_ERRORS | also | {grpc.StatusCode.OK}, f"{code.name}: {details}"


def serves_normally(channel: grpc.Channel) -> None:
    """A normal request still succeeds (nothing the fuzzer sent broke the server)."""
    stub: Any = v1_grpc.GatewayServiceStub(channel)
    chunks = list(stub.GetBars(v1.GetBarsRequest(symbol="SYN:ACME", interval="1d", limit=3)))
    assert sum(len(c.close) for c in chunks) == 3


def test_get_historical_data_and_bars(channel: grpc.Channel) -> None:
    stub: Any = pb_grpc.DataProviderStub(channel)

    @fuzz_settings(100)
    @given(request=bar_requests(pb.HistoricalDataRequest), md=metadata, columnar=st.booleans())
    def fuzz(request: pb.HistoricalDataRequest, md: list[tuple[str, str]], columnar: bool) -> None:
        rpc = stub.GetHistoricalBars if columnar else stub.GetHistoricalData
        _answered(rpc(request, metadata=md, timeout=TIMEOUT))

    fuzz()
    serves_normally(channel)


def test_get_bars(channel: grpc.Channel) -> None:
    stub: Any = v1_grpc.GatewayServiceStub(channel)

    @fuzz_settings(100)
    @given(request=bar_requests(v1.GetBarsRequest), md=metadata)
    def fuzz(request: v1.GetBarsRequest, md: list[tuple[str, str]]) -> None:
        _answered(stub.GetBars(request, metadata=md, timeout=TIMEOUT))

    fuzz()
    serves_normally(channel)


controls = st.builds(
    pb.StreamControl,
    action=st.one_of(st.sampled_from([0, 1, 2, 3]), st.integers(-5, 50)),
    symbol=symbols,
    interval=intervals,
    options=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=2),
)


def test_stream_control_sequences(channel: grpc.Channel) -> None:
    """A sequence of controls, then the stream is read for a moment: it either keeps going (our
    own deadline ends it) or ends with a client error for a bad control."""
    stub: Any = pb_grpc.DataProviderStub(channel)

    @fuzz_settings(30)
    @given(sequence=st.lists(controls, min_size=1, max_size=6))
    def fuzz(sequence: list[pb.StreamControl]) -> None:
        call = stub.StreamRealTimeData(iter(sequence), timeout=0.5)
        _answered(call, also=frozenset({grpc.StatusCode.DEADLINE_EXCEEDED}))

    fuzz()
    serves_normally(channel)


def test_a_normal_request_is_answered(channel: grpc.Channel) -> None:
    """The baseline `serves_normally` compares with (the fuzzers' one normal request)."""
    serves_normally(channel)
    stub: Any = pb_grpc.DataProviderStub(channel)
    request = pb.HistoricalDataRequest(symbol="SYN:ACME", interval="1d")
    request.start_time.FromDatetime(datetime(2024, 1, 1))
    request.end_time.FromDatetime(datetime(2024, 1, 8))
    assert len(list(stub.GetHistoricalData(request, timeout=TIMEOUT))) >= 5
