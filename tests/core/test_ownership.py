"""The switch to another user for the processes TimeBase starts (embedded PostgreSQL, providers)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from timebase.core.ownership import as_user

NOBODY = 65534

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")


@needs_root
def test_the_program_runs_as_the_user_with_no_supplementary_groups() -> None:
    result = subprocess.run(
        as_user(["/usr/bin/id"], NOBODY, NOBODY), capture_output=True, text=True, check=True
    )
    ids = dict(part.split("=", 1) for part in result.stdout.split())
    assert ids["uid"].startswith(f"{NOBODY}(")
    assert ids["gid"].startswith(f"{NOBODY}(")
    assert ids["groups"] == ids["gid"]


@needs_root
def test_the_program_keeps_its_arguments_environment_and_working_directory(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    result = subprocess.run(
        as_user(
            ["/bin/sh", "-c", 'echo "$0|$1|$TB_X|$(pwd)"', "first arg", "two words"], NOBODY, NOBODY
        ),
        capture_output=True,
        text=True,
        check=True,
        env={"TB_X": "kept", "PATH": os.environ["PATH"]},
        cwd=tmp_path,
    )
    assert result.stdout.strip() == f"first arg|two words|kept|{tmp_path}"


def test_a_program_that_cannot_run_exits_127_naming_it() -> None:
    result = subprocess.run(
        as_user(["/nonexistent/pg_ctl", "start"], os.geteuid(), os.getegid()),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 127
    assert result.stderr.startswith("cannot run /nonexistent/pg_ctl as user ")
    assert "No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr
