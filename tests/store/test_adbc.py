"""`timebase.store.adbc`: the DB-API subset on ADBC's low-level API behaves as the store needs.

Synchronous tests on a real PostgreSQL (no event loop is involved: the pool runs these calls on
its threads).
"""

from __future__ import annotations

from datetime import UTC, datetime

import adbc_driver_manager
import pyarrow as pa
import pytest

from tests.conftest import database_name
from timebase.store import adbc
from timebase.store.pool import sqlstate


def test_rows_parameters_and_rowcount(database_url: str) -> None:
    with adbc.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (k int PRIMARY KEY, name text, at timestamptz)")
        at = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        for k in range(3):
            cur.execute("INSERT INTO t VALUES ($1, $2, $3)", parameters=(k, f"n{k}", at))
        cur.execute("SELECT k, name, at FROM t ORDER BY k")
        assert cur.description is not None
        assert [d[0] for d in cur.description] == ["k", "name", "at"]
        assert cur.fetchone() == (0, "n0", at)
        assert cur.fetchall() == [(1, "n1", at), (2, "n2", at)]
        assert cur.fetchone() is None
        cur.execute("SELECT name FROM t WHERE k = $1", parameters=(2,))
        assert cur.fetchall() == [("n2",)]
        cur.execute("DELETE FROM t WHERE k >= 1")
        assert cur.rowcount == 2
        conn.rollback()
        cur.execute("SELECT to_regclass('t') IS NULL")
        assert cur.fetchall() == [(True,)]  # rolled back: not autocommit


def test_arrow_results_and_ingest(database_url: str) -> None:
    table = pa.table({"k": pa.array([1, 2, 3], pa.int64()), "v": [0.5, 1.5, 2.5]})
    with adbc.connect(database_url) as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("staged", table, mode="create") == 3
        cur.execute("SELECT k, v FROM staged ORDER BY k")
        assert cur.fetch_arrow_table().to_pydict() == {"k": [1, 2, 3], "v": [0.5, 1.5, 2.5]}
        cur.execute("SELECT k FROM staged WHERE v > 1 ORDER BY k")
        reader = cur.fetch_record_batch()
        assert isinstance(reader, pa.RecordBatchReader)
        assert reader.read_all().column("k").to_pylist() == [2, 3]
        assert cur.adbc_ingest("staged", table.slice(0, 1), mode="append") == 1
        cur.execute("SELECT count(*) FROM staged")
        assert cur.fetchall() == [(4,)]
        assert cur.adbc_ingest("scratch", table, mode="create", temporary=True) == 3
        cur.execute("SELECT sum(k)::bigint FROM scratch")
        assert cur.fetchall() == [(6,)]


def test_errors_carry_the_sqlstate_also_while_streaming(database_url: str) -> None:
    with adbc.connect(database_url, autocommit=True) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.ProgrammingError) as caught:
            cur.execute("SELECT * FROM no_such_table")
        assert sqlstate(caught.value) == "42P01"
        # Division by zero on the 3rd row: raised while the result streams.
        cur.execute("SELECT 1 / (2 - i) FROM generate_series(0, 5) i")
        with pytest.raises(adbc_driver_manager.Error) as caught_stream:
            cur.fetch_arrow_table()
        assert sqlstate(caught_stream.value) == "22012"


def test_a_clone_shares_the_database_and_outlives_the_original(database_url: str) -> None:
    first = adbc.connect(database_url, autocommit=True)
    clone = first.adbc_clone()
    first.close()
    first.close()  # closing twice is harmless
    with clone, clone.cursor() as cur:
        cur.execute("SELECT current_database() = $1", parameters=(database_name(database_url),))
        assert cur.fetchall() == [(True,)]


def test_executescript_runs_several_statements(database_url: str) -> None:
    with adbc.connect(database_url) as conn, conn.cursor() as cur:
        cur.executescript(
            "CREATE TABLE a (x int); CREATE TABLE b (y int); INSERT INTO a VALUES (7);"
        )
        conn.commit()
        cur.execute("SELECT x FROM a")
        assert cur.fetchall() == [(7,)]
        with pytest.raises(adbc_driver_manager.ProgrammingError, match="execute"):
            conn.cursor().fetchall()
