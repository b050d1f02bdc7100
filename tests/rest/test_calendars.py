"""The calendar on the REST door: `GET /api/calendars/{name}/sessions`, `meta.calendar` of bar
answers and the summary's gaps and closed time, checked against the OpenAPI document (both
database backends)."""

from __future__ import annotations

import asyncio

from tests.calendars.test_registry import LISTING_FAILED, calls, registry
from tests.gateway.support import RecordingProvider
from tests.support.calendars import shared_calendars

from .conftest import running_rest
from .openapi_check import validate

PATH = "/api/calendars/{name}/sessions"
CRYPTO = [{"symbols": "SYN:.*", "calendar": "24/7"}]
WEEKDAYS = [{"symbols": "SYN:.*", "calendar": "24/5"}]


async def test_sessions_of_an_exchange_and_a_built_in_calendar(fresh_database_url):
    async with running_rest(fresh_database_url, calendars=shared_calendars()) as rest:
        status, body, _ = await rest.get(
            "/api/calendars/XNYS/sessions?start=2024-02-16&end=2024-02-20"
        )
        assert status == 200
        validate(PATH, "get", 200, body)
        assert body["data"] == {
            "calendar": "XNYS",
            "start": "2024-02-16T00:00:00Z",
            "end": "2024-02-21T00:00:00Z",  # a date-only end includes that day
            "count": 2,  # Friday, then Tuesday: the weekend and Presidents' Day are closed
            "sessions": [
                {
                    "date": "2024-02-16",
                    "open": "2024-02-16T14:30:00Z",
                    "close": "2024-02-16T21:00:00Z",
                },
                {
                    "date": "2024-02-20",
                    "open": "2024-02-20T14:30:00Z",
                    "close": "2024-02-20T21:00:00Z",
                },
            ],
        }
        status, body, _ = await rest.get(
            "/api/calendars/24/5/sessions?start=2024-02-16&end=2024-02-19T12:00Z"
        )
        assert status == 200
        assert [s["date"] for s in body["data"]["sessions"]] == ["2024-02-16", "2024-02-19"]


async def test_sessions_with_a_lunch_break_say_when_it_is(fresh_database_url):
    async with running_rest(fresh_database_url, calendars=shared_calendars()) as rest:
        # Hong Kong: Fri 8 Mar 2024 has its lunch break; Christmas Eve is a half day without.
        status, body, _ = await rest.get(
            "/api/calendars/XHKG/sessions?start=2024-03-08&end=2024-03-08"
        )
        assert status == 200
        validate(PATH, "get", 200, body)
        assert body["data"]["sessions"] == [
            {
                "date": "2024-03-08",
                "open": "2024-03-08T01:30:00Z",
                "close": "2024-03-08T08:00:00Z",
                "breakStart": "2024-03-08T04:00:00Z",
                "breakEnd": "2024-03-08T05:00:00Z",
            }
        ]
        status, body, _ = await rest.get(
            "/api/calendars/XHKG/sessions?start=2024-12-24&end=2024-12-24"
        )
        assert status == 200
        assert body["data"]["sessions"] == [
            {"date": "2024-12-24", "open": "2024-12-24T01:30:00Z", "close": "2024-12-24T04:00:00Z"}
        ]


async def test_sessions_refuse_unknown_names_and_bad_ranges(fresh_database_url):
    async with running_rest(fresh_database_url, calendars=shared_calendars()) as rest:
        status, body, _ = await rest.get("/api/calendars/XNOPE/sessions?start=2024-01-01")
        assert status == 404
        validate(PATH, "get", 404, body)
        assert body["error"]["code"] == "CALENDAR_NOT_FOUND"
        assert body["error"]["message"].startswith("calendar: unknown calendar 'XNOPE'")
        status, body, _ = await rest.get(
            "/api/calendars/XNYS/sessions?start=2024-02-01&end=2024-01-01"
        )
        assert status == 400
        validate(PATH, "get", 400, body)
        assert body["error"]["message"] == (
            "start: must be before end (got start=2024-02-01T00:00:00+00:00, "
            "end=2024-01-02T00:00:00+00:00)"
        )
        status, body, _ = await rest.get(
            "/api/calendars/XNYS/sessions?start=1990-01-01&end=2024-01-01"
        )
        assert status == 400
        assert body["error"]["message"] == (
            "end: at most 4,000 days of sessions in one answer, got 12,419: ask for a shorter range"
        )
        status, body, _ = await rest.get("/api/calendars/XNYS/sessions?from=2024-01-01")
        assert status == 400
        assert body["error"]["message"] == "from: unknown query parameter (known: end, start)"


async def test_bars_say_which_calendar_applied(fresh_database_url):
    crypto = RecordingProvider("crypto", ["1h", "1d"], calendars=CRYPTO)
    async with running_rest(fresh_database_url, crypto, calendars=shared_calendars()) as rest:
        status, body, _ = await rest.get(
            "/api/data/SYN:BTC?interval=1d&start=2024-01-01&end=2024-01-03"
        )
        assert status == 200
        assert body["meta"]["calendar"] == "24/7"
        status, _, resp = await rest.get(
            "/api/data/SYN:BTC?interval=1d&start=2024-01-01&end=2024-01-03&format=csv"
        )
        assert status == 200
        assert resp.headers["X-TimeBase-Calendar"] == "24/7"


async def test_bars_without_a_calendar_say_nothing(fresh_database_url):
    async with running_rest(fresh_database_url, RecordingProvider("alpha")) as rest:
        status, body, resp = await rest.get(
            "/api/data/SYN:A?interval=1d&start=2024-01-01&end=2024-01-03"
        )
        assert status == 200
        assert "calendar" not in body["meta"]
        assert "X-TimeBase-Calendar" not in resp.headers


async def test_summary_splits_holes_into_gaps_and_closed_time(fresh_database_url):
    forex = RecordingProvider("forex", ["1h", "1d"], calendars=WEEKDAYS)
    async with running_rest(fresh_database_url, forex, calendars=shared_calendars()) as rest:
        # Fri 2024-01-05 and Wed 2024-01-10 are fetched: between them a weekend (closed) and
        # Monday to Tuesday (open: a true gap).
        for query in ("start=2024-01-05&end=2024-01-05", "start=2024-01-10&end=2024-01-10"):
            status, _, _ = await rest.get(f"/api/data/SYN:EUR?interval=1d&{query}")
            assert status == 200
        status, body, _ = await rest.get("/api/data/SYN:EUR/summary")
        assert status == 200
        validate("/api/data/{symbol}/summary", "get", 200, body)
        (series,) = body["data"]["series"]
        assert series["calendar"] == "24/5"
        assert series["gaps"] == [{"start": "2024-01-08T00:00:00Z", "end": "2024-01-10T00:00:00Z"}]
        assert series["closed"] == [
            {"start": "2024-01-06T00:00:00Z", "end": "2024-01-08T00:00:00Z"}
        ]


async def test_summary_lists_the_first_gaps_and_says_more_follow(fresh_database_url):
    forex = RecordingProvider("forex", ["1h", "1d"], calendars=WEEKDAYS)
    async with running_rest(fresh_database_url, forex, calendars=shared_calendars()) as rest:
        # A year between two fetched days: 52 working weeks (gaps) and their weekends (closed).
        for query in ("start=2024-01-05&end=2024-01-05", "start=2025-01-10&end=2025-01-10"):
            status, _, _ = await rest.get(f"/api/data/SYN:EUR?interval=1d&{query}")
            assert status == 200
        status, body, _ = await rest.get("/api/data/SYN:EUR/summary")
        assert status == 200
        validate("/api/data/{symbol}/summary", "get", 200, body)
        (series,) = body["data"]["series"]
        assert (len(series["gaps"]), series["gapsTruncated"]) == (20, True)
        assert (len(series["closed"]), series["closedTruncated"]) == (20, True)
        assert series["gaps"][0] == {"start": "2024-01-08T00:00:00Z", "end": "2024-01-13T00:00:00Z"}
        assert series["gaps"][19] == {
            "start": "2024-05-20T00:00:00Z",
            "end": "2024-05-25T00:00:00Z",
        }
        assert series["closed"][19] == {
            "start": "2024-05-18T00:00:00Z",
            "end": "2024-05-20T00:00:00Z",
        }


async def test_a_corrupt_cached_names_file_is_listed_again_not_a_500(fresh_database_url, tmp_path):
    cals = await registry(tmp_path, {})
    await asyncio.to_thread((tmp_path / "names.json").write_text, '["XNYS", ')
    async with running_rest(fresh_database_url, calendars=cals) as rest:
        status, body, _ = await rest.get("/api/calendars/XNOPE/sessions?start=2024-01-02")
        assert status == 404
        assert body["error"]["code"] == "CALENDAR_NOT_FOUND"
        assert body["error"]["message"].startswith("calendar: unknown calendar 'XNOPE'")
        status, body, _ = await rest.get("/api/calendars/XNYS/sessions?start=2100-01-04")
        assert status == 200
        assert [s["date"] for s in body["data"]["sessions"]] == ["2100-01-04"]
    assert await asyncio.to_thread(calls, tmp_path) == ["--names", "XNYS"]


async def test_without_exchange_calendars_one_listing_answers_for_a_while(
    fresh_database_url, tmp_path
):
    cals = await registry(tmp_path, {"--names": "fail"})
    async with running_rest(fresh_database_url, calendars=cals) as rest:
        for name in ("XNYS", "XLON", "XNYS"):
            status, body, _ = await rest.get(f"/api/calendars/{name}/sessions?start=2024-01-02")
            assert status == 404
            assert body["error"]["message"] == LISTING_FAILED
        status, _, _ = await rest.get("/api/calendars/24/7/sessions?start=2024-01-02")
        assert status == 200
    assert await asyncio.to_thread(calls, tmp_path) == ["--names"]
