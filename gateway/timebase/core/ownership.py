"""What the processes TimeBase starts as another user (the embedded PostgreSQL server, provider
runtimes under `run_as`) share: file-system permissions and the switch to that user."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

# Runs in a fresh interpreter started without a user change, then replaces itself with the program.
_SWITCH_USER = """\
import os, sys
uid, gid, program = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
try:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.execv(program, sys.argv[3:])
except OSError as exc:
    sys.stderr.write(f"cannot run {program} as user {uid}: {exc}\\n")
    sys.exit(127)
"""


def as_user(argv: Sequence[str], uid: int, gid: int) -> list[str]:
    """The command line that runs `argv` as `uid:gid` with no supplementary groups.

    `subprocess` changes user only through `fork()`, which runs gRPC's at-fork handlers in a
    process whose gRPC threads are live: the child can die before it runs the program (seen in
    CI: pg_ctl never ran, its stderr held only "epoll_wait error: Bad file descriptor"). Started
    without a user change, `subprocess` uses `vfork()`, which runs no handlers; a short-lived
    interpreter then switches user and executes the program in its place."""
    return [sys.executable, "-I", "-S", "-c", _SWITCH_USER, str(uid), str(gid), *argv]


def make_traversable(path: Path) -> list[Path]:
    """Let other users traverse `path` and its parents (o+x: enter, not list), so a process
    running as another user reaches it; the folders changed."""
    changed = []
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
            changed.append(directory)
    return changed


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """`root` and everything under it belong to `uid:gid` (symbolic links themselves, never
    their targets)."""
    os.chown(root, uid, gid)
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            os.chown(os.path.join(directory, name), uid, gid, follow_symlinks=False)
