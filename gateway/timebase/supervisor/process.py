"""The `process` runtime: `python src/main.py` on an ephemeral loopback port.

The provider is started in its own session (process group = its pid), so stopping it reaches its
children too: SIGTERM to the group, SIGKILL after the timeout, and SIGKILL to whatever is left of
the group once the provider itself is gone. A start that is cancelled or fails kills the group
before it returns, so no process outlives its supervisor.

The port comes from the provider's `TIMEBASE_PROVIDER_LISTENING port=NNNNN` stdout line; every
other line of stdout and stderr goes to the gateway's log (logger `timebase.provider`, field
`provider` = slug). JSON lines from the SDK's logging keep their level and message. The values
of the provider's secret options are masked in every line kept or logged.

When TimeBase is root the provider runs as an unprivileged user, and always with an allow-listed
environment (`timebase.supervisor.privileges`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from timebase.core.ownership import as_user
from timebase.sdk.errors import ConfigError
from timebase.sdk.options import mask_values
from timebase.supervisor.privileges import RunAs, grant_access, provider_environment
from timebase.supervisor.runtime import ExitInfo, Runtime, describe_exit
from timebase.supervisor.state import ProviderStartError
from timebase.supervisor.venv import provider_python

log = logging.getLogger("timebase.supervisor.process")
provider_log = logging.getLogger("timebase.provider")

LISTENING_RE = re.compile(r"TIMEBASE_PROVIDER_LISTENING\b.*?\bport=(\d+)")
LOOPBACK = "127.0.0.1"
_LINE_LIMIT = 1 << 20
_LOG_LINES = 200
_READER_DRAIN_SECONDS = 2.0


class ProcessRuntime(Runtime):
    kind = "process"

    def __init__(
        self,
        slug: str,
        folder: Path,
        *,
        data_dir: Path,
        options: Mapping[str, Any] | None = None,
        log_level: str = "INFO",
        python: str | None = None,
        interpreter: Callable[[Path, str, Path], str] = provider_python,
        env: Mapping[str, str] | None = None,
        run_as: RunAs | None = None,
        passed_env: Collection[str] = (),
        secrets: Collection[str] = (),
    ) -> None:
        """`env`: variables set for the provider (over the allow-listed ones); `run_as`: the
        user it runs as (None: this process's); `passed_env`: gateway variables it gets too;
        `secrets`: option values masked in its output."""
        super().__init__(slug)
        self.folder = folder
        self.data_dir = data_dir
        self.options = dict(options or {})
        self.log_level = log_level
        self.python = python
        self._interpreter = interpreter
        self._extra_env = dict(env or {})
        self.run_as = run_as
        self._passed_env = tuple(passed_env)
        self._secrets = frozenset(secrets)
        self._proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._lines: collections.deque[str] = collections.deque(maxlen=_LOG_LINES)
        self.provider_data_dir: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def _make_provider_data_dir(self) -> Path:
        """The provider's own persistent folder, `<data_dir>/providers/<slug>` (an add-on's /data)."""
        path = (self.data_dir / "providers" / self.slug).absolute()
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def prepare(self) -> None:
        self.provider_data_dir = await asyncio.to_thread(self._make_provider_data_dir)
        if self.python is None:
            self.python = await asyncio.to_thread(
                self._interpreter, self.folder, self.slug, self.data_dir
            )
            if self.python != sys.executable:
                log.info(
                    "provider %s runs in its own venv: %s",
                    self.slug,
                    self.python,
                    extra={"provider": self.slug},
                )
        if self.run_as is not None:
            try:
                await asyncio.to_thread(
                    grant_access,
                    self.run_as,
                    self.provider_data_dir,
                    self.folder,
                    Path(self.python),
                )
            except ConfigError as exc:
                raise ProviderStartError(
                    f"provider {self.slug}: {exc.message}", provider=self.slug
                ) from None

    def _environment(self) -> dict[str, str]:
        env = provider_environment(os.environ, self.provider_data_dir, self._passed_env)
        env.update(
            {
                "TIMEBASE_PROVIDER_HOST": LOOPBACK,
                "TIMEBASE_PROVIDER_PORT": "0",
                "TIMEBASE_PROVIDER_OPTIONS": json.dumps(self.options, default=str),
                "TIMEBASE_PROVIDER_MANIFEST": str(self.folder / "config.yaml"),
                "TIMEBASE_PROVIDER_DATA_DIR": str(self.provider_data_dir or ""),
                # The provider exits by itself if this process dies without stopping it.
                "TIMEBASE_SUPERVISOR_PID": str(os.getpid()),
                "TIMEBASE_LOG_LEVEL": self.log_level,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self._extra_env)
        return env

    async def start(self) -> str:
        if self._proc is not None and self._proc.returncode is None:
            raise ProviderStartError(f"provider {self.slug} is already running", provider=self.slug)
        await self.prepare()
        assert self.python is not None
        main = self.folder / "src" / "main.py"
        if not await asyncio.to_thread(main.is_file):
            raise ProviderStartError(
                f"provider {self.slug}: {main} does not exist", provider=self.slug
            )
        self._lines.clear()
        run_as = self.run_as
        try:
            argv = [str(self.python), str(main)]
            proc = await asyncio.create_subprocess_exec(
                *(as_user(argv, run_as.uid, run_as.gid) if run_as else argv),
                cwd=str(self.folder),
                env=self._environment(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=_LINE_LIMIT,
            )
        except OSError as exc:
            raise ProviderStartError(
                f"provider {self.slug}: cannot run {self.python}: {exc}", provider=self.slug
            ) from None
        self._proc = proc
        port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        assert proc.stdout is not None
        assert proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(proc.stdout, "stdout", port)),
            asyncio.create_task(self._read(proc.stderr, "stderr", None)),
        ]
        log.info(
            "provider %s started (pid %d%s)",
            self.slug,
            proc.pid,
            f", user {run_as.name}" if run_as else "",
            extra={"provider": self.slug},
        )
        try:
            return f"{LOOPBACK}:{await self._wait_listening(proc, port)}"
        except BaseException:
            # Failed, timed out or cancelled mid-start: nothing may outlive this call.
            self.kill_now()
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._reap(proc))
            raise

    async def _wait_listening(
        self, proc: asyncio.subprocess.Process, port: asyncio.Future[int]
    ) -> int:
        exited = asyncio.create_task(proc.wait())
        try:
            await asyncio.wait({port, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if port.done() and not port.cancelled() and port.exception() is None:
            return port.result()
        code = await proc.wait()
        last = next((line for line in reversed(self._lines) if line.strip()), "")
        detail = f"; last output: {last[-300:]}" if last else ""
        raise ProviderStartError(
            f"provider {self.slug} {describe_exit(code)} before listening{detail}",
            provider=self.slug,
        )

    async def stop(self, grace: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            _killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
            except TimeoutError:
                log.warning(
                    "provider %s did not stop within %g s after SIGTERM; killing it",
                    self.slug,
                    grace,
                    extra={"provider": self.slug},
                )
        await self._reap(proc)
        self._proc = None
        log.info(
            "provider %s stopped (%s)",
            self.slug,
            describe_exit(proc.returncode),
            extra={"provider": self.slug},
        )

    async def _reap(self, proc: asyncio.subprocess.Process) -> None:
        """Kill what is left of the process group, wait for the provider, drain its output."""
        _killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        readers, self._readers = self._readers, []
        if readers:
            _done, pending = await asyncio.wait(readers, timeout=_READER_DRAIN_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    def kill_now(self) -> None:
        if self._proc is not None:
            _killpg(self._proc.pid, signal.SIGKILL)

    async def poll(self) -> ExitInfo | None:
        proc = self._proc
        if proc is None or proc.returncode is None:
            return None
        return ExitInfo(proc.returncode, describe_exit(proc.returncode))

    async def logs(self, tail: int = 100) -> list[str]:
        return list(self._lines)[-tail:]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- output ------------------------------------------------------------------------------

    async def _read(
        self, stream: asyncio.StreamReader, name: str, port: asyncio.Future[int] | None
    ) -> None:
        try:
            while True:
                try:
                    raw = await stream.readline()
                except ValueError:  # a line longer than the limit: take it in pieces
                    raw = await stream.read(_LINE_LIMIT)
                if not raw:
                    break
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                line = mask_values(line, self._secrets)
                self._lines.append(line)
                if port is not None and not port.done():
                    match = LISTENING_RE.search(line)
                    if match:
                        port.set_result(int(match.group(1)))
                        continue
                self._log_line(line, name)
        finally:
            if port is not None and not port.done():
                port.set_exception(
                    ProviderStartError(f"provider {self.slug} closed stdout before listening")
                )
                port.exception()  # retrieved: never "exception was never retrieved"

    def _log_line(self, line: str, stream: str) -> None:
        level = logging.INFO if stream == "stdout" else logging.WARNING
        message = line
        extra: dict[str, Any] = {"provider": self.slug, "stream": stream}
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if isinstance(entry, dict) and "message" in entry:
                message = str(entry["message"])
                named = logging.getLevelName(str(entry.get("level", "INFO")).upper())
                level = named if isinstance(named, int) else logging.INFO
                if entry.get("logger"):
                    extra["provider_logger"] = str(entry["logger"])
                trace = entry.get("exc_info") or entry.get("exc")
                if trace:
                    message = f"{message}\n{trace}"
        provider_log.log(level, "%s", message, extra=extra)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
