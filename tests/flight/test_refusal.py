"""`timebase.flight.refusal`: each client error is the Python exception pyarrow sends with its gRPC
code, and `traceback.format_exception` (which Arrow uses for the status detail) formats it as its
JSON only, while every other exception keeps its full traceback."""

from __future__ import annotations

import json
import traceback

import pytest

from timebase.flight.errors import to_flight_error
from timebase.flight.refusal import InvalidArgument, NotFound, Unimplemented
from timebase.sdk.errors import (
    InvalidRequestError,
    NotImplementedByServer,
    ProviderNotFound,
    TimeBaseError,
)


@pytest.mark.parametrize(
    ("error", "cls", "builtin"),
    [
        (InvalidRequestError("symbol: bad", field="symbol"), InvalidArgument, ValueError),
        (ProviderNotFound("provider: unknown 'x'"), NotFound, KeyError),
        (NotImplementedByServer("DoExchange is not served"), Unimplemented, NotImplementedError),
    ],
)
def test_client_errors_are_the_exceptions_pyarrow_sends_with_their_code(
    error: TimeBaseError, cls: type[Exception], builtin: type[Exception]
) -> None:
    refusal = to_flight_error(error, "testing")
    assert type(refusal) is cls
    assert isinstance(refusal, builtin)
    assert str(refusal) == error.message  # the status message: KeyError's quotes left out
    with pytest.raises(cls) as caught:
        raise refusal
    raised = caught.value
    formatted = traceback.format_exception(type(raised), raised, raised.__traceback__)
    details = dict(error.details)
    wire = {"code": error.code, "message": error.message, "details": details}
    assert formatted == [json.dumps(wire, separators=(",", ":"))]
    assert traceback.format_exception(raised) == formatted  # the one-argument form too


def test_other_exceptions_keep_their_traceback() -> None:
    with pytest.raises(RuntimeError) as caught:
        raise RuntimeError("boom")
    text = "".join(traceback.format_exception(caught.value))
    assert text.startswith("Traceback (most recent call last):\n")
    assert 'test_refusal.py", line ' in text
    assert text.endswith("RuntimeError: boom\n")
