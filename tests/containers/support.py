"""What the container tests share: the Docker API, the base image, the wheelhouse, image builds.

Every test here needs a reachable Docker API (DOCKER_HOST or the default socket) and skips with
the reason otherwise. Images are built from the repository's real Dockerfiles, with their Python
packages from the host-side wheelhouse (`make wheelhouse`) served over HTTP on 127.0.0.1 to a
build on the host network, through pip's standard settings as build args (PIP_NO_INDEX,
PIP_FIND_LINKS). The wheelhouse URL is fixed, so the engine's layer cache survives between runs.
Builds take a lock shared by the pytest workers; the second worker finds every layer cached.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import http.server
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from timebase.core.build import COMMIT
from timebase.sdk import load_manifest

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "python:3.11-slim"
#: Label of every container, network and volume a test creates itself (cleanup finds them).
TEST_LABEL = "timebase.test"
PROVIDER_SLUGS = tuple(
    sorted(load_manifest(p).slug for p in (ROOT / "providers").glob("*/config.yaml"))
)
GATEWAY_IMAGE = "timebase/gateway:latest"
POSTGRES_IMAGE = "timebase/test-postgres:latest"
PROMETHEUS_IMAGE = "timebase/test-prometheus:latest"
_WHEELHOUSE_PORT = int(os.environ.get("TIMEBASE_WHEELHOUSE_PORT", "38517"))


def cache_dir() -> Path:
    """Where `make base-image` and `make wheelhouse` keep their results (as .ci/ does)."""
    cache = os.environ.get("TIMEBASE_CACHE_DIR")
    if cache:
        return Path(cache)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "timebase-ci"


def wheelhouse_dir() -> Path:
    return cache_dir() / "wheelhouse"


def docker_client_or_skip() -> Any:
    """A docker SDK client of a reachable engine, else the test skips saying why."""
    try:
        import docker

        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:
        pytest.skip(
            "no Docker API reachable (set DOCKER_HOST or start the default socket; as root, "
            f".ci/run provides one): {exc}"
        )
    return client


def require_build_inputs(client: Any) -> None:
    """Skip unless the base image and the wheelhouse the image builds need are there."""
    import docker.errors

    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(
            f"{BASE_IMAGE} is not in the engine and no registry is assumed: run `make base-image`"
        )
    if not (wheelhouse_dir() / ".requirements.sha256").is_file():
        pytest.skip(f"no wheelhouse in {wheelhouse_dir()}: run `make wheelhouse`")


@contextlib.contextmanager
def file_lock(name: str) -> Iterator[None]:
    """An exclusive lock on `<tmp>/<name>`, across pytest workers and concurrent runs."""
    path = Path(tempfile.gettempdir()) / name
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextlib.contextmanager
def wheelhouse_server() -> Iterator[str]:
    """Serve the wheelhouse on 127.0.0.1 (a fixed port when free); yields the find-links URL."""
    handler = functools.partial(_QuietHandler, directory=str(wheelhouse_dir()))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", _WHEELHOUSE_PORT), handler)
    except OSError:  # the fixed port is taken: any port (the pip layers then rebuild)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="wheelhouse", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def build_image(
    client: Any,
    dockerfile: str,
    tags: list[str],
    *,
    context: Path = ROOT,
    buildargs: dict[str, str] | None = None,
) -> float:
    """Build `dockerfile` (relative to `context`) as `tags`, with `buildargs` besides pip's;
    returns the seconds it took.

    Raises AssertionError with the end of the build log when the build fails.
    """
    require_build_inputs(client)
    started = time.monotonic()
    # One image build at a time.
    with file_lock("timebase-docker-build.lock"), wheelhouse_server() as url:
        log: list[str] = []
        error = None
        for chunk in client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tags[0],
            buildargs={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": url, **(buildargs or {})},
            network_mode="host",
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        ):
            if "stream" in chunk:
                log.append(str(chunk["stream"]))
            if "error" in chunk:
                error = str(chunk["error"])
        if error is not None:
            tail = "".join(log[-40:])
            raise AssertionError(f"building {dockerfile} failed: {error}\n{tail}")
        image = client.images.get(tags[0])
        for tag in tags[1:]:
            repository, _, name = tag.rpartition(":")
            image.tag(repository, name)
    return time.monotonic() - started


def provider_tags(slug: str) -> list[str]:
    """The tags of a bundled provider's image: the docker runtime's and docker-compose.yml's."""
    manifest = load_manifest(ROOT / "providers" / slug / "config.yaml")
    name = manifest.image or f"timebase/provider-{slug}"
    return [f"{name}:{manifest.version}", f"{name}:latest"]


def build_provider_image(client: Any, slug: str) -> str:
    tags = provider_tags(slug)
    build_image(client, f"providers/{slug}/Dockerfile", tags)
    return tags[0]


def build_gateway_image(client: Any) -> str:
    """The gateway image, naming the commit it is built from (as `TIMEBASE_COMMIT=$(git
    rev-parse --short=12 HEAD) docker-compose build` does, docs/operations.md)."""
    build_image(
        client, "gateway/Dockerfile", [GATEWAY_IMAGE], buildargs={"TIMEBASE_COMMIT": COMMIT}
    )
    return GATEWAY_IMAGE


def timescaledb_build_dir() -> Path:
    """The TimescaleDB build for Debian's PostgreSQL 15 (../shared/timescaledb/pg15)."""
    shared = Path(os.environ.get("TIMESCALEDB_DIR", ROOT.parent / "shared" / "timescaledb"))
    return shared / "pg15"


def build_postgres_image(client: Any) -> str:
    """The TimescaleDB stand-in: tests/containers/postgres plus the pg15 TimescaleDB build,
    copied into a build context of its own (the shared folder is outside the repository)."""
    from tests.conftest import skip_without_timescaledb

    build = timescaledb_build_dir()
    if not (build / "lib" / "timescaledb.so").is_file():
        skip_without_timescaledb()
    with tempfile.TemporaryDirectory(prefix="timebase-postgres-image-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(ROOT / "tests" / "containers" / "postgres", context)
        for part in ("lib", "extension"):
            target = context / "timescaledb" / part
            target.mkdir(parents=True)
            for path in (build / part).iterdir():
                shutil.copyfile(path, target / path.name)  # contents only (they are read-only)
        build_image(client, "Dockerfile", [POSTGRES_IMAGE], context=context)
    return POSTGRES_IMAGE


def build_prometheus_image(client: Any) -> str:
    """The Prometheus stand-in (tests/containers/prometheus: Debian's prometheus package), in
    place of prom/prometheus, which cannot be pulled here."""
    build_image(
        client, "Dockerfile", [PROMETHEUS_IMAGE], context=ROOT / "tests/containers/prometheus"
    )
    return PROMETHEUS_IMAGE


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def labelled(client: Any, label: str) -> dict[str, list[str]]:
    """Names of the containers, networks and volumes carrying `label` (`key` or `key=value`)."""
    filters = {"label": label}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=filters)],
        "networks": [n.name for n in client.networks.list(filters=filters)],
        "volumes": [v.name for v in client.volumes.list(filters=filters)],
    }


def remove_labelled(client: Any, label: str) -> None:
    """Best-effort removal of everything carrying `label` (a failed test's leftovers)."""
    filters = {"label": label}
    for container in client.containers.list(all=True, filters=filters):
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)
    for network in client.networks.list(filters=filters):
        with contextlib.suppress(Exception):
            network.remove()
    for volume in client.volumes.list(filters=filters):
        with contextlib.suppress(Exception):
            volume.remove(force=True)
