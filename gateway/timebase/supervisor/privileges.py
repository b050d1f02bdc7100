"""What a `process` provider runs as, and with which environment.

- **User.** When TimeBase runs as root, providers do not: they run as `providers.process_user`
  (`TIMEBASE_PROVIDERS_PROCESS_USER`); unset, the `timebase` user when the machine has one, else
  `nobody`. `root` keeps them root (a warning says so). A TimeBase that is not root cannot
  switch users: its providers run as itself. The provider reads its folder and interpreter
  (they must be readable by others; the folders leading to them get the traverse bit, o+x, as
  the embedded PostgreSQL's do) and writes only its own data folder
  (`<data_dir>/providers/<slug>`, handed to that user) and the temporary directory.
- **Environment.** A provider gets an allow-list of the gateway's environment, never all of it
  (no database URL or password, no cloud credentials): `PATH`, `LANG`, `LANGUAGE`, `LC_*`,
  `TZ`, `TMPDIR`, `PYTHONPATH`, the proxy variables and the CA bundle variables, plus the
  names listed in `providers.settings.<slug>.environment`; `HOME` is its data folder. Its
  options come in TIMEBASE_PROVIDER_OPTIONS, set by the runtime.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from timebase.core.ownership import chown_tree, make_traversable
from timebase.sdk.errors import ConfigError

log = logging.getLogger("timebase.supervisor.process")

PROCESS_USER_KEY = "providers.process_user"
#: The user providers run as when TimeBase is root and none is configured: the first that exists.
DEFAULT_USERS = ("timebase", "nobody")

#: Variables passed to a provider as they are in the gateway's environment.
PASSED = frozenset(
    {
        "PATH",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "PYTHONPATH",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    }
)
PASSED_PREFIXES = ("LC_",)


@dataclass(frozen=True)
class RunAs:
    """The unprivileged user a provider runs as."""

    name: str
    uid: int
    gid: int


def provider_user(configured: str | None, *, euid: int | None = None) -> RunAs | None:
    """The user providers run as; None to run them as this process's own user."""
    if (os.geteuid() if euid is None else euid) != 0:
        return None
    if configured is None:
        for name in DEFAULT_USERS:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)
        raise ConfigError(
            f"{PROCESS_USER_KEY}: TimeBase runs as root and neither of the users "
            f"{' nor '.join(DEFAULT_USERS)} exists; create one, or name an unprivileged user "
            "in providers.process_user (TIMEBASE_PROVIDERS_PROCESS_USER)"
        )
    try:
        entry = pwd.getpwnam(configured)
    except KeyError:
        raise ConfigError(
            f"{PROCESS_USER_KEY}: no user {configured!r} on this machine "
            "(TIMEBASE_PROVIDERS_PROCESS_USER)"
        ) from None
    if entry.pw_uid == 0:
        log.warning("%s is %r: process providers run as root", PROCESS_USER_KEY, configured)
        return None
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def provider_environment(
    source: Mapping[str, str], home: Path | None, passed: Iterable[str] = ()
) -> dict[str, str]:
    """The allow-listed part of `source` (see the module docstring); `HOME` = `home`."""
    extra = set(passed)
    env = {
        k: v
        for k, v in source.items()
        if k in PASSED or k.startswith(PASSED_PREFIXES) or k in extra
    }
    if home is not None:
        env["HOME"] = str(home)
    return env


def grant_access(run_as: RunAs, own: Path, folder: Path, python: Path) -> None:
    """Let `run_as` write `own` (its data folder, handed over), read `folder` (the provider's:
    its folders get o+x, its manifest and main.py must be readable by others) and run `python`
    (the folders leading to it get o+x too, with a warning naming them; the file itself is
    checked, not changed: ConfigError when it is not executable by others).

    Blocking (file system): call it from a worker thread.
    """
    make_traversable(own.parent)
    chown_tree(own, run_as.uid, run_as.gid)
    make_traversable(folder)
    for path in (folder / "config.yaml", folder / "src" / "main.py"):
        if path.is_file() and not _permits(path.stat(), run_as, stat.S_IROTH):
            raise ConfigError(
                f"{path} is not readable by {run_as.name!r}, the user providers run as "
                f"({PROCESS_USER_KEY}); make it readable by others (chmod o+r)"
            )
    real = python.resolve()
    opened = [*make_traversable(python.absolute().parent), *make_traversable(real.parent)]
    if opened:
        log.warning(
            "the Python that runs providers (%s) was out of reach of %r, the user they run as: "
            "gave other users the traverse bit (o+x: enter, not list) on %s",
            python,
            run_as.name,
            ", ".join(str(d) for d in opened),
        )
    if not _permits(real.stat(), run_as, stat.S_IXOTH):
        raise ConfigError(f"{real} is not executable by {run_as.name!r} ({PROCESS_USER_KEY})")


def _permits(st: os.stat_result, run_as: RunAs, other_bit: int) -> bool:
    """Whether `run_as` has the permission whose "other" bit is `other_bit` (S_IROTH, S_IXOTH)."""
    if st.st_uid == run_as.uid:
        return bool(st.st_mode & (other_bit << 6))
    if st.st_gid == run_as.gid:
        return bool(st.st_mode & (other_bit << 3))
    return bool(st.st_mode & other_bit)
