"""Running a provider as an add-on process: `serve(MyProvider)` is the whole `main`.

`serve(MyProvider)` is the whole `main` of a provider add-on. It serves, on one `grpc.aio`
server: `timebase.provider.DataProvider` (including the columnar `GetHistoricalBars`), the standard
`grpc.health.v1.Health` service and server reflection.

Environment:
    TIMEBASE_PROVIDER_HOST     bind address (default 127.0.0.1; 0.0.0.0 in containers)
    TIMEBASE_PROVIDER_PORT     port (default 50052; 0 picks a free one)
    TIMEBASE_PROVIDER_OPTIONS  the provider's options as a JSON object
    TIMEBASE_PROVIDER_MANIFEST path of config.yaml (default: ../config.yaml beside src/)
    TIMEBASE_PROVIDER_SHUTDOWN_GRACE  seconds in-flight RPCs get at shutdown (default 5)
    TIMEBASE_PROVIDER_DATA_DIR a persistent folder of the provider's own (set by the supervisor)
    TIMEBASE_SUPERVISOR_PID    pid of the TimeBase supervisor: the provider exits when it is gone
    TIMEBASE_LOG_LEVEL         log level (default INFO)

Once listening it prints one machine-readable line on stdout, for supervisors:
``TIMEBASE_PROVIDER_LISTENING port=50052 host=127.0.0.1 slug=synthetic pid=1234``.
SIGTERM/SIGINT shut down in stages: health turns NOT_SERVING, new RPCs are refused, in-flight ones
get the grace period, then the provider's `close()` (bounded); a second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from timebase.sdk.errors import ConfigError
from timebase.sdk.logs import configure_logging
from timebase.sdk.manifest import load_manifest
from timebase.sdk.provider import Provider
from timebase.sdk.server import DEFAULT_HOST, DEFAULT_PORT, LISTENING_PREFIX, ProviderServer

log = logging.getLogger("timebase.sdk.process")


def default_manifest_path(provider_cls: type[Provider]) -> Path:
    """TIMEBASE_PROVIDER_MANIFEST, else config.yaml beside the provider's src/ folder."""
    env = os.environ.get("TIMEBASE_PROVIDER_MANIFEST")
    if env:
        return Path(env)
    here = Path(inspect.getfile(provider_cls)).resolve().parent
    for folder in (here, here.parent):
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    return here.parent / "config.yaml"


def _env_port(env: Mapping[str, str]) -> int:
    raw = env.get("TIMEBASE_PROVIDER_PORT", "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or int(raw) > 65535:
        raise ConfigError(f"TIMEBASE_PROVIDER_PORT: expected a port number (0-65535), got {raw!r}")
    return int(raw)


ORPHAN_CHECK_SECONDS = 1.0


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name}: must not be negative, got {raw!r}")
    return value


async def run_server(
    provider: Provider, *, host: str, port: int, grace: float, stop: asyncio.Event | None = None
) -> None:
    """Serve until SIGTERM/SIGINT (or `stop` is set), then shut down in stages."""
    server = ProviderServer(provider, host=host, port=port)
    await server.start()
    print(
        f"{LISTENING_PREFIX} port={server.port} host={host} slug={provider.slug} pid={os.getpid()}",
        flush=True,
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            log.info("received %s, shutting down", signal.Signals(signum).name)
            stop.set()
        else:
            log.warning("second signal: exiting now")
            os._exit(1)

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig)
    orphan_watch = asyncio.create_task(_stop_when_orphaned(stop, _supervisor_pid()))
    try:
        await stop.wait()
    finally:
        orphan_watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await orphan_watch
        started = time.monotonic()
        await server.stop(grace=grace)
        log.info("provider %s stopped in %.2f s", provider.slug, time.monotonic() - started)


def _supervisor_pid() -> int | None:
    """The pid of the TimeBase supervisor that started this process (TIMEBASE_SUPERVISOR_PID)."""
    raw = os.environ.get("TIMEBASE_SUPERVISOR_PID", "").strip()
    return int(raw) if raw.isdigit() else None


async def _stop_when_orphaned(stop: asyncio.Event, supervisor_pid: int | None) -> None:
    """Shut down when the supervisor that started us is gone (e.g. killed with SIGKILL).

    A provider started by TimeBase must not outlive it: once our parent is no longer the
    supervisor (the orphan was re-parented), stop as if SIGTERM had arrived.
    """
    if supervisor_pid is None:
        return
    while os.getppid() == supervisor_pid:
        try:
            await asyncio.wait_for(stop.wait(), ORPHAN_CHECK_SECONDS)
        except TimeoutError:
            continue
        return  # stopping for another reason
    log.warning("the TimeBase supervisor (pid %d) is gone: shutting down", supervisor_pid)
    stop.set()


def serve(
    provider_cls: type[Provider], manifest_path: str | os.PathLike[str] | None = None
) -> None:
    """Run `provider_cls` as a provider add-on process (blocks until SIGTERM/SIGINT)."""
    env = os.environ
    configure_logging(
        _log_level(env.get("TIMEBASE_LOG_LEVEL")), env.get("TIMEBASE_LOG_FORMAT", "json")
    )
    try:
        path = (
            Path(manifest_path)
            if manifest_path is not None
            else default_manifest_path(provider_cls)
        )
        manifest = load_manifest(path)
        options = manifest.load_options(env)
        host = env.get("TIMEBASE_PROVIDER_HOST", "").strip() or DEFAULT_HOST
        port = _env_port(env)
        grace = _env_float(env, "TIMEBASE_PROVIDER_SHUTDOWN_GRACE", 5.0)
        logging.getLogger("timebase.sdk").info(
            "starting provider %s %s with options %s", manifest.slug, manifest.version, options
        )
        provider = provider_cls(manifest, options)
        asyncio.run(run_server(provider, host=host, port=port, grace=grace))
    except (ConfigError, OSError) as exc:
        log.error("provider failed to start: %s", exc)
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:  # pragma: no cover - signal handlers normally catch it
        pass


def _log_level(raw: str | None) -> str:
    """The log level named by TIMEBASE_LOG_LEVEL, INFO when unset or unknown."""
    name = (raw or "INFO").strip().upper()
    return name if name in logging.getLevelNamesMapping() else "INFO"
