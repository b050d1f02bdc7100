"""What this TimeBase is: its version and the commit it was built from.

The version is the installed `timebase` distribution's (semantic versioning, CHANGELOG.md). The
commit comes from `TIMEBASE_COMMIT` (the images set it from their `TIMEBASE_COMMIT` build
argument), else from git when running from a source checkout, else `unknown`. Both are read once,
at import, so nothing blocks later: `timebase --version` prints them and `/metrics` serves them as
`timebase_build_info{version, commit}`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from timebase.sdk.conventions import VERSION

__all__ = ["COMMIT", "VERSION", "describe"]

_SOURCE_ROOT = Path(__file__).resolve().parents[3]


def _commit(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    given = environ.get("TIMEBASE_COMMIT", "").strip()
    if given:
        return given
    git = shutil.which("git")
    if git is None or not (_SOURCE_ROOT / ".git").exists():
        return "unknown"
    try:
        done = subprocess.run(
            [git, "-C", str(_SOURCE_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    head = done.stdout.strip()
    return head if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{7,40}", head) else "unknown"


#: The commit this TimeBase was built from (`unknown` when nothing says).
COMMIT = _commit()


def describe() -> str:
    """`timebase <version> (commit <commit>)`, as `timebase --version` prints it."""
    return f"timebase {VERSION} (commit {COMMIT})"
