"""The supervised embedded PostgreSQL: a killed server is restarted, its leftovers cleared,
the pool recovers, committed rows survive, and the restarts are bounded."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.support.eventually import eventually
from timebase.sdk.errors import DatabaseError
from timebase.store.embedded import EmbeddedPostgres
from timebase.store.embedded_crash import PID_FILE, process_alive, server_processes
from timebase.store.embedded_supervisor import EmbeddedSupervisor, RestartPolicy
from timebase.store.pool import Connection, ConnectionPool

FAST = RestartPolicy(max_restarts=3, window=60.0, check_interval=0.1, backoff_base=0.1)


def _execute(sql: str) -> Callable[[Connection], object]:
    def run(conn: Connection) -> object:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None

    return run


@pytest.fixture
async def server(data_dir: Path) -> AsyncIterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(data_dir, timescaledb="off")
    await pg.start()
    try:
        yield pg
    finally:
        await pg.stop()


@pytest.fixture
async def pool(server: EmbeddedPostgres) -> AsyncIterator[ConnectionPool]:
    pool = ConnectionPool(server.url, size=3)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()


async def _backend_pids(server: EmbeddedPostgres) -> list[int]:
    pids = await asyncio.to_thread(server_processes, server.pgdata)
    return [pid for pid in pids if pid != server.postmaster_pid]


async def test_durability_settings_are_on(pool: ConnectionPool) -> None:
    settings = await pool.run(
        _execute(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit'), "
            "current_setting('full_page_writes')"
        )
    )
    assert settings == [("on", "on", "on")]


async def test_a_killed_server_is_restarted_despite_a_stuck_backend_and_a_stale_pid_file(
    server: EmbeddedPostgres, pool: ConnectionPool
) -> None:
    await pool.run(_execute("CREATE TABLE kept (id int PRIMARY KEY)"))
    await pool.run(_execute("INSERT INTO kept SELECT generate_series(1, 1000)"))
    supervisor = EmbeddedSupervisor(server, pool, FAST)
    await supervisor.start()
    # Not PostgreSQL, though in its data directory (an operator's shell, say): left alone.
    unrelated = await asyncio.to_thread(subprocess.Popen, ["sleep", "60"], cwd=server.pgdata)
    try:
        old_pid = server.postmaster_pid
        assert old_pid is not None
        # A backend that cannot notice its postmaster died keeps the old shared memory in use.
        stuck = await _backend_pids(server)
        assert stuck
        for pid in stuck:
            os.kill(pid, signal.SIGSTOP)
        os.kill(old_pid, signal.SIGKILL)
        # postmaster.pid names a running process that is not PostgreSQL (as a zombie, or a
        # reused pid, would): PostgreSQL alone would refuse to start.
        pid_file = server.pgdata / PID_FILE
        text = await asyncio.to_thread(pid_file.read_text)
        rest = text.split("\n", 1)[1]
        await asyncio.to_thread(pid_file.write_text, f"{unrelated.pid}\n{rest}")
        killed = time.monotonic()
        # During the gap: a clear error saying when to retry, at once.
        await eventually(lambda: pool.suspended is not None, within=5, what="pool suspended")
        with pytest.raises(DatabaseError) as gap:
            await pool.run(_execute("SELECT 1"))
        assert "restarted" in gap.value.message
        assert gap.value.retry_after is not None
        assert gap.value.retry_after >= 1
        await eventually(lambda: supervisor.restarts == 1, within=10, what="a restart")
        took = time.monotonic() - killed
        assert took < 10
        assert server.postmaster_pid not in (None, old_pid)
        assert await server.alive()
        assert [pid for pid in stuck if await asyncio.to_thread(process_alive, pid)] == []
        assert await asyncio.to_thread(process_alive, unrelated.pid)  # left alone
        # The pool serves again (fresh connections), with every committed row.
        assert await pool.run(_execute("SELECT count(*) FROM kept")) == [(1000,)]
        assert pool.suspended is None
        assert len(supervisor.recovery_seconds) == 1
    finally:
        await supervisor.stop()
        unrelated.kill()
        await asyncio.to_thread(unrelated.wait)
    assert not supervisor.running


async def test_restarts_are_bounded_then_it_gives_up_with_the_reason(
    server: EmbeddedPostgres, pool: ConnectionPool
) -> None:
    reasons: list[str] = []
    policy = RestartPolicy(max_restarts=1, window=60.0, check_interval=0.1, backoff_base=0.1)
    supervisor = EmbeddedSupervisor(server, pool, policy, on_exhausted=reasons.append)
    await supervisor.start()
    try:
        first = server.postmaster_pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: supervisor.restarts == 1, within=10, what="a restart")
        assert await pool.run(_execute("SELECT 1")) == [(1,)]
        second = server.postmaster_pid
        assert second is not None
        assert second != first
        os.kill(second, signal.SIGKILL)
        await eventually(lambda: bool(reasons), within=10, what="giving up")
    finally:
        await supervisor.stop()
    assert reasons == [supervisor.gave_up]
    assert reasons[0].startswith(
        f"the embedded PostgreSQL (pid {second}) stopped unexpectedly and was not restarted: "
        "1 restarts within 60 s already (database.embedded_restarts is 1)"
    )
    assert supervisor.restarts == 1
    with pytest.raises(DatabaseError) as refused:
        await pool.run(_execute("SELECT 1"))
    assert refused.value.message == reasons[0]
    assert refused.value.retry_after is None
    assert not await server.alive()


async def test_a_pool_drops_connections_to_a_server_that_went_away(
    server: EmbeddedPostgres, pool: ConnectionPool
) -> None:
    """Without a supervisor (an external server restarted): one request fails, the next ones
    get fresh connections."""

    async def hold() -> None:
        async with pool.connection() as conn:
            await conn.run(_execute("SELECT 1"))
            await asyncio.sleep(0.2)

    await asyncio.gather(hold(), hold(), hold())  # three idle connections now
    old_pid = server.postmaster_pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    await eventually(
        lambda: asyncio.to_thread(lambda: not process_alive(old_pid)),
        within=5,
        what="the postmaster to die",
    )
    await server.restart()
    with pytest.raises(DatabaseError) as lost:
        await pool.run(_execute("SELECT 1"), doing="probing")
    assert lost.value.message.startswith("probing: the connection to the database was lost (")
    assert lost.value.message.endswith("); try again shortly")
    assert lost.value.retry_after == 2.0
    # Every idle connection went to the old server: none of them is tried again.
    assert [await pool.run(_execute("SELECT 1")) for _ in range(3)] == [[(1,)]] * 3
