"""`timebase --version`: the version and the commit, from a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from timebase.core.build import COMMIT, VERSION


def _version(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "timebase.cli.main", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


def test_version_shows_version_and_commit() -> None:
    done = _version()
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"timebase {VERSION} (commit {COMMIT})\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    # Run from this git checkout: the commit is git's HEAD.
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if head:
        assert head == COMMIT


def test_an_image_names_its_commit_through_the_environment() -> None:
    done = _version(TIMEBASE_COMMIT="0123456789ab")
    assert done.stdout == f"timebase {VERSION} (commit 0123456789ab)\n"
