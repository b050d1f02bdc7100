"""The audit log in the gateway core (`QueryApi`, a real store): the rows of writes and admin
actions, refused ones included, paging and filters, and who may read it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests.gateway.support import DAY, T0, RecordingProvider, running_gateway
from timebase.audit import AuditAction, AuditFilter, AuditLog, build_filter
from timebase.auth import Caller, Scope
from timebase.gateway.bar_request import build_request
from timebase.gateway.query import QueryApi
from timebase.sdk.errors import InvalidRequestError, PermissionDenied
from timebase.sdk.intervals import Interval
from timebase.store import AuditRecord

pytestmark = pytest.mark.asyncio

READER = Caller(Scope.READ, "rest", "10.0.0.7", "dashboard", "tb_r3ad")
WRITER = Caller(Scope.WRITE, "flight", "10.0.0.8", "loader", "tb_wr1t")
ADMIN = Caller(Scope.ADMIN, "grpc", "10.0.0.9", "ops", "tb_adm1")


def bars(symbol: str, provider: str, days: int, start: datetime = T0) -> pa.Table:
    stamps = [start + i * DAY for i in range(days)]
    return pa.table(
        {
            "symbol": [symbol] * days,
            "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "interval": ["1d"] * days,
            "provider": [provider] * days,
            "open": [10.0] * days,
            "high": [11.0] * days,
            "low": [9.0] * days,
            "close": [10.0] * days,
            "volume": [1000.0] * days,
        }
    )


async def newest(api: QueryApi, **filters: object) -> AuditRecord:
    page = await api.audit.page(AuditFilter(limit=1, **filters))  # type: ignore[arg-type]
    return page.records[0]


def fields(record: AuditRecord) -> dict[str, object]:
    """The row without its id and time (checked separately)."""
    out = {k: getattr(record, k) for k in record.__dataclass_fields__}
    out.pop("id")
    out.pop("at")
    return out


async def test_ingest_rows_ok_repeated_and_refused(fresh_database_url: str) -> None:
    async with running_gateway(fresh_database_url) as gw:
        api = QueryApi(gw.history)
        before = datetime.now(UTC)
        assert await api.ingest(bars("vend", "my-dump", 5), caller=WRITER) == 5
        first = await newest(api)
        assert fields(first) == {
            "door": "flight",
            "action": "ingest",
            "outcome": "ok",
            "key_name": "loader",
            "key_prefix": "tb_wr1t",
            "address": "10.0.0.8",
            "symbol": "VEND",
            "provider": "my-dump",
            "interval": "1d",
            "range_start": T0,
            "range_end": T0 + 4 * DAY,
            "rows": 5,
            "detail": {"rows_received": 5},
        }
        assert before <= first.at <= datetime.now(UTC)

        # Idempotent: the same put writes nothing and is audited again with 0 rows.
        assert await api.ingest(bars("vend", "my-dump", 5), caller=WRITER) == 0
        again = await newest(api)
        assert (again.rows, again.outcome) == (0, "ok")
        assert (again.id or 0) > (first.id or 0) > 0
        assert (await gw.store.read_table("VEND", "1d", T0, T0 + 9 * DAY)).num_rows == 5

        # A read key may not write: refused, audited with its code and the message.
        with pytest.raises(PermissionDenied):
            await api.ingest(bars("vend", "my-dump", 2), caller=READER)
        refused = await newest(api)
        assert (refused.action, refused.outcome, refused.key_name, refused.door) == (
            "ingest",
            "PERMISSION_DENIED",
            "dashboard",
            "rest",
        )
        assert refused.rows is None
        assert refused.detail == {
            "rows_received": 2,
            "error": "writing bars needs the 'write' scope; key 'dashboard' has 'read'",
        }

        # Invalid data: audited as INVALID_DATA, nothing written.
        bad = bars("vend", "my-dump", 3).set_column(5, "high", pa.array([1.0, 1.0, 1.0]))
        with pytest.raises(InvalidRequestError):
            await api.ingest(bad, caller=WRITER)
        invalid = await newest(api)
        assert (invalid.outcome, invalid.rows) == ("INVALID_DATA", None)
        assert invalid.detail["error"].startswith("row 0, column 'high'")


async def test_a_batch_of_several_symbols_lists_them(fresh_database_url: str) -> None:
    async with running_gateway(fresh_database_url) as gw:
        api = QueryApi(gw.history)
        table = pa.concat_tables([bars("bbb", "imp", 2), bars("aaa", "imp", 3)])
        assert await api.ingest(table, caller=WRITER) == 5
        row = await newest(api)
        assert (row.symbol, row.provider, row.rows) == (None, "imp", 5)
        assert row.detail == {"rows_received": 5, "symbols": ["AAA", "BBB"]}
        # The symbol filter finds a batch by any of its symbols.
        assert [r.id for r in (await api.audit.page(AuditFilter(symbol="BBB"))).records] == [row.id]


async def test_invalidate_and_refresh_rows(fresh_database_url: str) -> None:
    alpha = RecordingProvider("alpha")
    async with running_gateway(fresh_database_url, alpha) as gw:
        api = QueryApi(gw.history)
        request = build_request(
            symbol="SYN:ACME", interval="1d", start=T0, end=T0 + 5 * DAY, refresh=True
        )
        answer = await api.bars(request, caller=WRITER)
        assert answer.table.num_rows == 5
        assert fields(await newest(api)) == {
            "door": "flight",
            "action": "refresh",
            "outcome": "ok",
            "key_name": "loader",
            "key_prefix": "tb_wr1t",
            "address": "10.0.0.8",
            "symbol": "SYN:ACME",
            "provider": None,
            "interval": "1d",
            "range_start": T0,
            "range_end": T0 + 5 * DAY,
            "rows": 5,
            "detail": {},
        }
        # A refresh needs the write scope; a plain read is not audited.
        with pytest.raises(PermissionDenied, match="refreshing bars needs the 'write' scope"):
            await api.bars(request, caller=READER)
        assert (await newest(api)).outcome == "PERMISSION_DENIED"
        count = len((await api.audit.page(AuditFilter())).records)
        plain = build_request(symbol="SYN:ACME", interval="1d", start=T0, end=T0 + 5 * DAY)
        await api.bars(plain, caller=READER)
        assert len((await api.audit.page(AuditFilter())).records) == count

        done = await api.invalidate("syn:acme", Interval.D1, T0, T0 + 3 * DAY, caller=ADMIN)
        assert (done.deleted, done.providers, done.kept) == (3, ("alpha",), ())
        assert fields(await newest(api)) == {
            "door": "grpc",
            "action": "invalidate",
            "outcome": "ok",
            "key_name": "ops",
            "key_prefix": "tb_adm1",
            "address": "10.0.0.9",
            "symbol": "SYN:ACME",
            "provider": None,
            "interval": "1d",
            "range_start": T0,
            "range_end": T0 + 3 * DAY,
            "rows": 3,
            "detail": {"providers": ["alpha"], "kept": []},
        }
        with pytest.raises(PermissionDenied):
            await api.invalidate("SYN:ACME", Interval.D1, T0 + 3 * DAY, T0 + 5 * DAY, caller=READER)
        refused = await newest(api)
        assert (refused.action, refused.outcome, refused.rows) == (
            "invalidate",
            "PERMISSION_DENIED",
            None,
        )
        # Refused: nothing deleted (the two bars the first invalidation left are there).
        assert (await gw.store.read_table("SYN:ACME", "1d", T0, T0 + 5 * DAY)).num_rows == 2


async def test_reading_the_log_needs_the_admin_scope(fresh_database_url: str) -> None:
    async with running_gateway(fresh_database_url) as gw:
        api = QueryApi(gw.history)
        for caller in (READER, WRITER):
            with pytest.raises(PermissionDenied) as caught:
                await api.audit_log(AuditFilter(), caller=caller)
            assert caught.value.message == (
                f"reading the audit log needs the 'admin' scope; key '{caller.key_name}' "
                f"has '{caller.scope}'"
            )
            assert caught.value.details["required_scope"] == "admin"
        assert (await api.audit_log(AuditFilter(), caller=ADMIN)).records == []
        local = Caller.local("rest", "127.0.0.1")  # auth off: every scope
        assert (await api.audit_log(AuditFilter(), caller=local)).next_cursor is None


async def test_pages_newest_first_and_filters(fresh_database_url: str) -> None:
    async with running_gateway(fresh_database_url) as gw:
        api = QueryApi(gw.history)
        clock_values = iter(
            [datetime(2024, 5, 1, 9, minute, tzinfo=UTC) for minute in range(0, 50, 10)]
        )
        api.audit = AuditLog(gw.store, clock=lambda: next(clock_values))
        await api.ingest(bars("aaa", "imp", 1), caller=WRITER)  # 09:00
        await api.ingest(bars("bbb", "imp", 1), caller=ADMIN)  # 09:10
        with pytest.raises(PermissionDenied):
            await api.ingest(bars("ccc", "imp", 1), caller=READER)  # 09:20
        await api.invalidate("AAA", Interval.D1, T0, T0 + DAY, caller=WRITER)  # 09:30
        await api.invalidate("BBB", Interval.D1, T0, T0 + DAY, "imp", caller=ADMIN)  # 09:40

        async def page(**kw: object) -> tuple[list[str | None], str | None]:
            got = await api.audit_log(build_filter(**kw), caller=ADMIN)  # type: ignore[arg-type]
            return [r.symbol for r in got.records], got.next_cursor

        symbols, cursor = await page(limit=2)
        assert symbols == ["BBB", "AAA"]
        assert cursor is not None
        symbols, cursor = await page(limit=2, cursor=cursor)
        assert symbols == ["CCC", "BBB"]
        symbols, last = await page(limit=2, cursor=cursor)
        assert (symbols, last) == (["AAA"], None)
        assert await page(limit=5) == (["BBB", "AAA", "CCC", "BBB", "AAA"], None)

        assert await page(action="ingest") == (["CCC", "BBB", "AAA"], None)
        assert await page(key_name="ops") == (["BBB", "BBB"], None)
        assert await page(door="flight") == (["AAA", "AAA"], None)
        assert await page(symbol="aaa") == (["AAA", "AAA"], None)
        assert await page(provider="imp", action="invalidate") == (["BBB"], None)
        assert await page(outcome="PERMISSION_DENIED") == (["CCC"], None)
        since, until = (
            datetime(2024, 5, 1, 9, 10, tzinfo=UTC),
            datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        )
        assert await page(since=since, until=until) == (["CCC", "BBB"], None)
        assert await page(action="refresh") == ([], None)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"limit": 0}, "limit: expected 1 to 1000, got 0"),
        ({"limit": 1001}, "limit: expected 1 to 1000, got 1001"),
        (
            {"cursor": "abc"},
            "cursor: not a cursor of this log ('abc'); pass the next_cursor of the previous page",
        ),
        (
            {"cursor": "-3"},
            "cursor: not a cursor of this log ('-3'); pass the next_cursor of the previous page",
        ),
        (
            {"action": "delete"},
            "action: unknown action 'delete'; one of ingest, invalidate, refresh, "
            "install_provider, remove_provider, key_create, key_revoke, refresh_symbols, update_provider, enable_provider, disable_provider, refresh_provider",
        ),
        ({"door": "x" * 201}, "door: too long or not text (at most 200 characters)"),
        (
            {"since": T0 + DAY, "until": T0},
            "since: 2024-01-02T00:00:00+00:00 is not before until 2024-01-01T00:00:00+00:00",
        ),
    ],
)
async def test_bad_filters_name_the_field(kw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        build_filter(**kw)  # type: ignore[arg-type]
    assert caught.value.message == message


async def test_one_structured_log_line_per_action(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_gateway(fresh_database_url) as gw:
        api = QueryApi(gw.history)
        with caplog.at_level(logging.INFO, logger="timebase.audit"):
            await api.ingest(bars("aaa", "imp", 2), caller=WRITER)
            with pytest.raises(PermissionDenied):
                await api.invalidate("AAA", Interval.D1, T0, T0 + DAY, caller=READER)
        lines = [r for r in caplog.records if r.name == "timebase.audit"]
        assert [(r.levelname, r.getMessage()) for r in lines] == [
            ("INFO", "audit: ingest ok via flight"),
            ("WARNING", "audit: invalidate PERMISSION_DENIED via rest"),
        ]
        first = lines[0].__dict__
        assert {k: first[k] for k in ("action", "outcome", "key_name", "key_prefix", "rows")} == {
            "action": "ingest",
            "outcome": "ok",
            "key_name": "loader",
            "key_prefix": "tb_wr1t",
            "rows": 2,
        }
        assert lines[1].__dict__["symbol"] == "AAA"


async def test_a_row_that_cannot_be_stored_keeps_the_action_and_the_log_line(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_gateway(fresh_database_url) as gw:
        api = QueryApi(gw.history)
        # The audit table gone (a broken database): the put still succeeds, the line stays.
        await gw.store.pool.run(lambda c: c.cursor().execute("DROP TABLE audit"))
        with caplog.at_level(logging.INFO, logger="timebase.audit"):
            assert await api.ingest(bars("aaa", "imp", 2), caller=WRITER) == 2
        messages = [r.getMessage() for r in caplog.records if r.name == "timebase.audit"]
        assert messages[0] == "audit: ingest ok via flight"
        assert messages[1].startswith("audit: the row of ingest could not be stored: ")
        assert (await gw.store.read_table("AAA", "1d", T0, T0 + 5 * DAY)).num_rows == 2


async def test_a_cancelled_action_is_audited_as_cancelled(fresh_database_url: str) -> None:
    async with running_gateway(fresh_database_url) as gw:
        log = AuditLog(gw.store)
        started = asyncio.Event()

        async def slow() -> None:
            async with log.track(WRITER, AuditAction.INGEST, symbol="AAA"):
                started.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await log.drain()
        (row,) = (await log.page(AuditFilter())).records
        assert (row.action, row.outcome, row.symbol, row.detail) == (
            "ingest",
            "CANCELLED",
            "AAA",
            {},
        )


async def test_record_for_other_components(fresh_database_url: str) -> None:
    """`AuditLog.record`: what the `timebase keys` commands call for key create / revoke."""
    async with running_gateway(fresh_database_url) as gw:
        log = AuditLog(gw.store)
        cli = Caller.local("cli")
        stored = await log.record(
            cli, AuditAction.KEY_CREATE, detail={"name": "ci", "scope": "write"}
        )
        assert stored.id is not None
        (row,) = (await log.page(AuditFilter(action="key_create"))).records
        assert fields(row) == {
            "door": "cli",
            "action": "key_create",
            "outcome": "ok",
            "key_name": None,
            "key_prefix": None,
            "address": "",
            "symbol": None,
            "provider": None,
            "interval": None,
            "range_start": None,
            "range_end": None,
            "rows": None,
            "detail": {"name": "ci", "scope": "write"},
        }
