"""File-system permissions shared by the processes TimeBase starts as another user (the embedded
PostgreSQL server, provider runtimes under `run_as`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


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
