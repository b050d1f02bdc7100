from __future__ import annotations

import logging

from timebase.store import Store


async def test_start_logs_one_line_about_timescaledb(database_url, timescale_on, caplog):
    caplog.set_level(logging.INFO, logger="timebase.store")
    async with Store(database_url, run_retention=False) as store:
        assert store.timescale.enabled is timescale_on
        assert (store.timescale.reason is None) is store.timescale.enabled
    lines = [r.getMessage() for r in caplog.records if "TimescaleDB" in r.getMessage()]
    assert len(lines) == 1
    if timescale_on:
        assert lines[0] == (
            f"TimescaleDB {store.timescale.version}: "
            "hypertables, compression, chunk-dropping retention on"
        )
    else:
        assert "hypertables, compression, chunk-dropping retention off" in lines[0]
        assert "plain PostgreSQL tables serve the same queries" in lines[0]
