"""Start `timebase serve` as a user would: a real subprocess, read until it says it is ready."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

TIMEBASE = [sys.executable, "-m", "timebase.cli.main"]


def start_serve(
    env: Mapping[str, str], cwd: Path, timeout: float = 60.0
) -> tuple[subprocess.Popen[str], list[str]]:
    """`timebase serve` and the lines it printed up to "Press Ctrl-C to stop." (or EOF)."""
    proc = subprocess.Popen(
        [*TIMEBASE, "serve"],
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C"):
            break
    return proc, lines
