"""Schemathesis against the REST door's OpenAPI document, on a running `timebase serve`.

Every operation is a test of its own (`test_rest_read_routes[GET /api/data/{symbol}]`), run with
schemathesis's phases (examples, coverage, fuzzing) in positive and negative mode and these
checks: no 5xx, status codes / content types / bodies / headers as documented, schema-violating
requests refused, schema-valid requests accepted, undeclared methods answered 405 with `Allow`.

The document is the one the server serves at `/openapi.json` (`test_the_fuzzed_document_is_served`
checks that they are equal). It is loaded at collection so that each operation is a pytest item
(schemathesis's `from_fixture` needs pytest < 9.2).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.openapi.checks import RejectedPositiveData

from tests.fuzz.conftest import examples, fuzz_timeout
from tests.fuzz.served import Served
from tests.fuzz.strategies import FIRST, LAST
from timebase.core.user_time import parse_user_time
from timebase.gateway.bar_request import MAX_BARS_PER_REQUEST
from timebase.rest.openapi import build_spec
from timebase.sdk.conventions import VERSION
from timebase.sdk.errors import InvalidTimeRangeError
from timebase.sdk.intervals import Interval

pytestmark = pytest.mark.timeout(fuzz_timeout())

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "unsupported_method",
    "missing_required_header",
]

#: Examples per operation in the fuzzing phase (the examples and coverage phases add their own).
EXAMPLES = 50

# The accepted date range (a 400 outside it, which the schema's `format` cannot state):
# schema-valid dates are generated inside it, a day or so from each end (time-zone offsets).
FIRST_DAY = FIRST.replace(tzinfo=None)
LAST_DAY = LAST.replace(tzinfo=None)
_offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
schemathesis.openapi.format(
    "date", st.dates(FIRST_DAY.date(), LAST_DAY.date()).map(lambda d: d.isoformat())
)
schemathesis.openapi.format(
    "date-time",
    st.builds(
        lambda naive, tz, z: (
            naive.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
            if z
            else naive.replace(tzinfo=tz).isoformat()
        ),
        st.datetimes(FIRST_DAY, LAST_DAY),
        _offsets,
        st.booleans(),
    ),
)


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": 1,
            "suppress-health-check": ["too_slow"],
            "generation": {
                "mode": "all",
                "max-examples": examples(EXAMPLES),
                "deterministic": True,
                "database": "none",
            },
            "checks": {
                **{name: {"enabled": True} for name in CHECKS},
                "ignored_auth": {"enabled": True},
                # 101: the WebSocket of /api/stream accepted (schemathesis counts only 2xx-4xx).
                "not_a_server_error": {"expected-statuses": ["101", "2xx", "3xx", "4xx"]},
                "positive_data_acceptance": {
                    "expected-statuses": ["101", "2xx", "3xx", "401", "403", "404", "409", "429"]
                },
            },
        }
    )


#: The server fixture is shared by every example of a test, on purpose.
FIXTURE_SHARED = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

SPEC = build_spec(VERSION)
#: The read routes (the `reader` server) and the admin routes (the `admin` server).


def without_keys(spec: dict[str, Any]) -> dict[str, Any]:
    """The document as a server with auth off serves it: no bearer requirement (the reader runs
    on loopback with auth off; the admin server has keys on and is fuzzed with the whole one)."""
    plain = copy.deepcopy(spec)
    plain.pop("security", None)
    for item in plain["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    return plain


read_routes = schemathesis.openapi.from_dict(without_keys(SPEC), config=_config()).exclude(
    tag="admin"
)
admin_routes = schemathesis.openapi.from_dict(SPEC, config=_config()).exclude(method="GET")

#: Bars a generated range may span (ranges stay modest: the fuzzer looks for wrong answers, not
#: for slow ones; over-limit refusals before work are tested in tests/rest/test_limits.py).
WINDOW_BARS = 300
MAX_LIMIT = 300


def within_documented_rules(case: schemathesis.Case[Any]) -> None:
    """Hold a bars query to the rules its document states in words, not in its schema (OpenAPI
    has no cross-parameter constraints): `start` or `limit` is required, `end` is after `start`;
    and keep it modest (see WINDOW_BARS). Values a negative case made invalid are left as they are.
    """
    if case.path.endswith("/sessions"):  # calendars: start < end, at most 4,000 days
        _sessions_range(case)
        return
    if not case.path.endswith(("/data/{symbol}", "/data/{symbol}/events")):
        return
    if case.query is None:
        case.query = {}
    query: dict[str, Any] = case.query
    if "start" not in query and "limit" not in query and case.path.endswith("/{symbol}"):
        query["limit"] = 5
    limit = query.get("limit")
    if isinstance(limit, str) and limit.isdigit():  # the coverage phase sends query strings
        limit = int(limit)
    if isinstance(limit, int) and 1 <= limit <= MAX_BARS_PER_REQUEST:
        query["limit"] = min(limit, MAX_LIMIT)
    try:
        interval = Interval(str(query.get("interval")))
    except ValueError:
        interval = Interval.D1
    start, end = _when(query, "start"), _when(query, "end", is_end=True)
    window = interval.nominal * WINDOW_BARS
    # An `end` a negative case made unparsable stays; a missing, early or far one is moved.
    unparsable_end = "end" in query and end is None
    if start is not None and not unparsable_end and not (end and start < end <= start + window):
        query["end"] = (start + window).isoformat()


def _sessions_range(case: schemathesis.Case[Any]) -> None:
    query: dict[str, Any] = case.query if case.query is not None else {}
    case.query = query
    start, end = _when(query, "start"), _when(query, "end", is_end=True)
    if start is None or end is None or start < end <= start + timedelta(days=4_000):
        return
    query["end"] = (start + timedelta(days=30)).isoformat()


def _when(query: dict[str, Any], name: str, *, is_end: bool = False) -> datetime | None:
    value = query.get(name)
    if not isinstance(value, str):
        return None
    try:
        return parse_user_time(value, field=name, is_end=is_end)
    except InvalidTimeRangeError:
        return None


#: Schema-valid requests the server rightly refuses because of its state, which no schema can
#: know: (operationId, error code, field or None). A provider-aware request for a symbol or an
#: interval the named provider does not serve is a 400 (its patterns and intervals are in the
#: provider's manifest, GET /api/providers); whether a folder can be installed depends on the
#: server's disk (a 400 naming where providers are looked for); whether a repository can be
#: cloned and lists the add-on depends on the network and that repository, and only a provider
#: installed from one can be updated.
STATE_DEPENDENT_REFUSALS = {
    ("getProviderBars", "PROVIDER_CAPABILITY_MISSING", "provider"),
    ("installProvider", "INVALID_REQUEST", "folder"),
    ("installProvider", "INVALID_REQUEST", "repository"),
    ("installProvider", "INVALID_REQUEST", "slug"),
    ("updateProvider", "INVALID_REQUEST", "slug"),
}


def filter_failure(ctx: Any, failure: Any, case: schemathesis.Case[Any], response: Any) -> bool:
    """Keep every failure but a state-dependent refusal of a schema-valid request (above)."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return True
    try:
        error = orjson.loads(response.content)["error"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return True
    operation_id = case.operation.definition.raw.get("operationId")
    field = error.get("details", {}).get("field")
    return (operation_id, error.get("code"), field) not in STATE_DEPENDENT_REFUSALS


read_routes.hook(filter_failure)
admin_routes.hook(filter_failure)


def test_the_fuzzed_document_is_served(reader: Served) -> None:
    response = requests.get(f"{reader.rest_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    assert orjson.loads(response.content) == orjson.loads(orjson.dumps(SPEC))


@read_routes.parametrize()
@FIXTURE_SHARED
def test_rest_read_routes(case: schemathesis.Case[Any], reader: Served) -> None:
    within_documented_rules(case)
    case.call_and_validate(base_url=reader.rest_url, headers=reader.headers)


@admin_routes.parametrize()
@FIXTURE_SHARED
def test_rest_admin_routes(case: schemathesis.Case[Any], admin: Served) -> None:
    """Install and remove, on a server of their own (nothing the other fuzzers use is removed)."""
    case.call_and_validate(base_url=admin.rest_url, headers=admin.headers)


def test_admin_routes_are_fuzzed_with_the_admin_key(admin: Served) -> None:
    """The admin server has keys on: without its key a route is 401; with it, the audit log
    (an admin route) answers, so the fuzzed requests above reached the routes themselves."""
    url = f"{admin.rest_url}/api/audit?limit=1"
    anonymous = requests.get(url, timeout=30)
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "UNAUTHENTICATED")
    keyed = requests.get(url, headers=admin.headers, timeout=30)
    assert keyed.status_code == 200, keyed.text
