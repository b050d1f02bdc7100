from __future__ import annotations

import logging

from timebase.store import Store


async def test_plain_postgresql_logs_one_line_about_timescaledb(fresh_database_url, caplog):
    caplog.set_level(logging.INFO, logger="timebase.store")
    async with Store(fresh_database_url, run_retention=False) as store:
        assert not store.timescale.enabled
        assert store.timescale.reason
    lines = [r.getMessage() for r in caplog.records if "TimescaleDB" in r.getMessage()]
    assert len(lines) == 1
    assert "hypertables, compression, continuous aggregate bars_daily_agg" in lines[0]
    assert "off" in lines[0]
