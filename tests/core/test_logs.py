"""Structured JSON logging with a correlation id carried through a request."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncGenerator

from timebase.sdk.logs import configure_logging, correlation_id, correlation_scope


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_json_lines_carry_correlation_id_into_tasks_and_threads() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    log = logging.getLogger("timebase.test")
    try:
        log.info("outside")
        with correlation_scope("req-42") as cid:
            assert cid == "req-42"
            log.info("fetching", extra={"symbol": "AAPL", "bars": 252})

            async def in_a_task() -> None:
                log.info("in a task")

            await asyncio.create_task(in_a_task())
            await asyncio.to_thread(log.warning, "in a thread")
        log.debug("not at INFO")
        assert correlation_id() is None
    finally:
        logging.getLogger().handlers.clear()

    lines = _lines(stream)
    assert [line["message"] for line in lines] == [
        "outside",
        "fetching",
        "in a task",
        "in a thread",
    ]
    assert "correlation_id" not in lines[0]
    assert {line["correlation_id"] for line in lines[1:]} == {"req-42"}
    assert lines[1]["symbol"] == "AAPL"
    assert lines[1]["bars"] == 252
    assert lines[1]["level"] == "INFO"
    assert lines[1]["logger"] == "timebase.test"
    assert lines[3]["level"] == "WARNING"
    assert str(lines[0]["ts"]).endswith("+00:00")


def test_exceptions_are_one_json_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("timebase.test").exception("failed")
    finally:
        logging.getLogger().handlers.clear()
    (line,) = _lines(stream)
    assert line["message"] == "failed"
    assert "ValueError: boom" in str(line["exc_info"])


def test_generated_correlation_ids_are_unique() -> None:
    with correlation_scope() as first, correlation_scope() as second:
        assert first != second
        assert correlation_id() == second
    assert len(first) == 32


async def test_a_stream_closed_from_another_context_ends_cleanly() -> None:
    async def stream() -> AsyncGenerator[str | None, None]:
        with correlation_scope("req-stream"):
            yield correlation_id()
            yield correlation_id()

    opened = stream()
    assert await opened.__anext__() == "req-stream"
    # gRPC finalises a cancelled stream's generator in another task, hence another Context.
    await asyncio.create_task(opened.aclose())  # raised ValueError (a different Context)
