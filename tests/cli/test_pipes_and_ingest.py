"""Papercuts found following the README, against a real `timebase serve`: the CLI ends quietly
on a closed pipe, and `ingest` of a frame read with `history()` stores it under the given names."""

from __future__ import annotations

import subprocess

from tests.cli.serve_support import TIMEBASE
from tests.cli.test_serve_clients import Served, served, served_backends  # noqa: F401
from timebase.cli.main import EXIT_BROKEN_PIPE


def test_a_closed_pipe_ends_the_cli_quietly(served: Served) -> None:  # noqa: F811
    # `timebase get … | head -n 1`: the reader goes away after one line of ~2,200.
    proc = subprocess.Popen(
        [*TIMEBASE, "get", "SYN:PIPE", "-i", "1h", "--start", "2024-01-01", "--end", "2024-03-31"],
        env=served.env,
        cwd=served.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(120) == EXIT_BROKEN_PIPE == 141
    assert first.split()[:1] == ["symbol"]
    assert stderr == ""


def test_ingest_of_a_history_frame_takes_the_given_names(served: Served) -> None:  # noqa: F811
    with served.client() as tb:
        bars = tb.history(["SYN:ACME", "SYN:BETA"], "1d", "2024-01-01", "2024-01-10")
        assert set(bars["provider"].to_pylist()) == {"synthetic"}
        df = bars.to_pandas()
        # The README's example: the frame's provider/interval columns give way to the names.
        assert tb.ingest(df, provider="my-vendor-dump", interval="1d") == 20
        assert tb.ingest(df, provider="my-vendor-dump", interval="1d") == 0  # idempotent
        mine = tb.history(
            ["SYN:ACME", "SYN:BETA"], "1d", "2024-01-01", "2024-01-10", provider="my-vendor-dump"
        )
        assert set(mine["provider"].to_pylist()) == {"my-vendor-dump"}
        assert mine["close"].to_pylist() == bars["close"].to_pylist()
        # Stored as weekly bars when told so, whatever the frame's interval column says.
        assert tb.ingest(df.head(2), provider="my-weekly", interval="1wk") == 2
        weekly = tb.history("SYN:ACME", "1wk", "2024-01-01", "2024-01-10", provider="my-weekly")
        assert set(weekly["interval"].to_pylist()) == {"1wk"}
