"""A provider add-on installed from a Git repository (file://) with the DOCKER runtime.

A real gateway (`providers.runtime: docker`) installs the add-on over REST: its image is built by
the runtime from the add-on's folder in the clone (the folder is the build context), tagged
`<version>-<commit>` as docs/repositories.md says, and run as a hardened container whose bars the
gateway serves. Disable removes the container and enable runs the same image again (no rebuild);
an update that pulls a new commit builds and runs a new image; uninstall leaves no container,
no clone and none of the images the runtime built for the add-on.

The add-on's Dockerfile starts from the bundled synthetic provider's image (Python, the SDK and
pyarrow already installed: no package index is reachable here) and copies its own files.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.containers import support
from tests.repos.support import SLUG, commit, head, make_repository
from tests.repos.test_repositories import _running
from tests.supervisor.conftest import FAST
from timebase.core.config import Config, DatabaseConfig, ProvidersConfig, RestConfig
from timebase.server import TimeBaseApp
from timebase.supervisor.docker_runtime import LABEL_PROVIDER

pytestmark = [
    pytest.mark.docker,
    pytest.mark.timeout(900),
    # Repositories do not touch the bar store: one database backend is enough.
    pytest.mark.parametrize("backend", ["postgres"]),
]

ONE = f"/api/providers/{SLUG}"
IMAGE = f"timebase/provider-{SLUG}"
DOCKERFILE = """\
# Built from this folder (the build context), on the synthetic provider's image.
FROM {base}
USER root
COPY requirements.txt /app/requirements.txt
RUN pip install --no-index -r /app/requirements.txt
COPY config.yaml /app/config.yaml
COPY src /app/src
USER 10001
"""


def _make_source(root: Path, base: str) -> str:
    """The repository: the synthetic provider as `acme-synth`, with a Dockerfile of its own and
    no `image` in its manifest (so the runtime names the image). Its file:// URL."""
    make_repository(root)
    folder = root / SLUG
    (folder / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    manifest = folder / "config.yaml"
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(line for line in lines if not line.startswith("image:")))
    commit(root, "a Dockerfile of its own")
    return root.resolve().as_uri()


def _bump(root: Path, version: str) -> str:
    manifest = root / SLUG / "config.yaml"
    manifest.write_text(manifest.read_text().replace('version: "1.0.0"', f'version: "{version}"'))
    return commit(root, version)


def _containers(client: Any) -> list[tuple[str, list[str]]]:
    """(status, image tags) of every container of the add-on."""
    found = client.containers.list(all=True, filters={"label": f"{LABEL_PROVIDER}={SLUG}"})
    return [(c.status, c.image.tags) for c in found]


def _image_ids(client: Any) -> dict[str, str]:
    """Tag → image id of every image of the add-on's name."""
    return {tag: image.id for image in client.images.list(name=IMAGE) for tag in image.tags}


def _remove_images(client: Any) -> None:
    for image in client.images.list(name=IMAGE):
        with contextlib.suppress(Exception):
            client.images.remove(image.id, force=True)


def _config(tmp_path: Path, database_url: str) -> Config:
    """A gateway running its providers with the docker runtime (empty providers dirs)."""
    for name in ("bundled", "addons"):
        (tmp_path / name).mkdir(exist_ok=True)
    return Config(
        grpc_port=0,
        flight_port=0,
        http_port=0,
        data_dir=tmp_path / "data",
        database=DatabaseConfig(url=database_url),
        providers=ProvidersConfig(
            **{**FAST, "start_timeout_seconds": 60.0},  # type: ignore[arg-type]
            runtime="docker",
            bundled_dir=tmp_path / "bundled",
            directories=(tmp_path / "addons",),
        ),
        rest=RestConfig(rate_limit_enabled=False),
    )


async def _call(
    session: aiohttp.ClientSession, app: TimeBaseApp, method: str, path: str, **kw: Any
) -> tuple[int, Any]:
    assert app.rest is not None
    async with session.request(method, app.rest.url + path, **kw) as resp:
        return resp.status, await resp.json()


async def _closes(session: aiohttp.ClientSession, app: TimeBaseApp) -> list[float]:
    status, body = await _call(
        session, app, "GET", f"{ONE}/data/SYN:ACME?interval=1d&start=2024-01-02&end=2024-01-04"
    )
    assert status == 200, body
    return [bar["close"] for bar in body["data"]["data"]]


async def test_a_repository_add_on_runs_as_a_container(
    tmp_path: Path, fresh_database_url: str
) -> None:
    client = await asyncio.to_thread(support.docker_client_or_skip)
    try:
        base = await asyncio.to_thread(support.build_provider_image, client, "synthetic")
        await asyncio.to_thread(_remove_images, client)  # a failed run's leftovers
        source = tmp_path / "source"
        url = await asyncio.to_thread(_make_source, source, base)
        first = await asyncio.to_thread(head, source)
        config = await asyncio.to_thread(_config, tmp_path, fresh_database_url)
        async with _running(config) as app, aiohttp.ClientSession() as s:
            await _lifecycle(app, s, client=client, source=source, url=url, first=first)
        assert await asyncio.to_thread(_containers, client) == []
    finally:
        await asyncio.to_thread(_remove_images, client)
        await asyncio.to_thread(client.close)


async def _lifecycle(
    app: TimeBaseApp,
    session: aiohttp.ClientSession,
    *,
    client: Any,
    source: Path,
    url: str,
    first: str,
) -> None:
    # Install: the image is built from the add-on's folder, tagged <version>-<commit>.
    status, body = await _call(
        session, app, "POST", "/api/providers", json={"repository": url, "slug": SLUG}
    )
    assert status == 201, body
    info = body["data"]
    assert (info["status"], info["version"], info["commit"]) == ("ready", "1.0.0", first)
    state = app.supervisor.get(SLUG)
    assert (state.runtime, state.container_id is not None) == ("docker", True)
    tag = f"{IMAGE}:1.0.0-{first[:12]}"
    assert await asyncio.to_thread(_containers, client) == [("running", [tag])]
    built = await asyncio.to_thread(_image_ids, client)
    assert list(built) == [tag]
    closes = await _closes(session, app)
    assert len(closes) == 3

    # Disable: the container is gone; enable: the same image runs again, not rebuilt.
    status, body = await _call(session, app, "PATCH", ONE, json={"enabled": False})
    assert (status, body["data"]["status"]) == (200, "disabled"), body
    assert await asyncio.to_thread(_containers, client) == []
    status, body = await _call(session, app, "PATCH", ONE, json={"enabled": True})
    assert (status, body["data"]["status"]) == (200, "ready"), body
    assert await asyncio.to_thread(_containers, client) == [("running", [tag])]
    assert await asyncio.to_thread(_image_ids, client) == built
    assert await _closes(session, app) == closes

    # Update to a new commit, whose version holds a character no image tag may (`+`): a new
    # image, the old container replaced by one of it.
    second = await asyncio.to_thread(_bump, source, "1.1.0+acme.2")
    status, body = await _call(session, app, "POST", f"{ONE}/update", json={})
    assert status == 200, body
    assert (body["data"]["status"], body["data"]["version"]) == ("ready", "1.1.0+acme.2")
    assert body["data"]["commit"] == second != first
    new_tag = f"{IMAGE}:1.1.0_acme.2-{second[:12]}"
    assert await asyncio.to_thread(_containers, client) == [("running", [new_tag])]
    assert await _closes(session, app) == closes

    # Uninstall: no container, no clone, none of the add-on's images.
    status, body = await _call(session, app, "DELETE", ONE)
    assert (status, body["data"]) == (200, {"slug": SLUG, "removed": True})
    assert await asyncio.to_thread(_containers, client) == []
    clones = app.config.data_dir / "repositories"
    assert await asyncio.to_thread(lambda: sorted(p.name for p in clones.iterdir())) == []
    assert await asyncio.to_thread(_image_ids, client) == {}
