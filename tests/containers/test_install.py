"""Installing a provider folder at run time, and removing it, while the supervisor runs.

`Supervisor.install(folder)` is what the admin API calls after a provider folder was added to a
configured providers directory; `remove(slug)` stops it. With the process runtime it runs
everywhere; with the docker runtime (marked `docker`) the folder's own Dockerfile is built by the
runtime and the container is gone after the removal.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.containers import support
from tests.supervisor.conftest import SDK_PROVIDER, gone, make_config, provider_folder
from timebase.sdk.errors import ConfigError
from timebase.supervisor import ProviderNotFoundError, ProviderStatus, Supervisor
from timebase.supervisor.docker_runtime import LABEL_PROVIDER


@pytest.fixture
def dirs(tmp_path: Path) -> Path:
    """tmp_path with an empty bundled folder and an empty add-on folder (`addons`)."""
    (tmp_path / "bundled").mkdir()
    (tmp_path / "addons").mkdir()
    return tmp_path


def _config(data_dir: Path, tmp_path: Path, **providers: Any) -> Any:
    bundled, extra = tmp_path / "bundled", tmp_path / "addons"
    return make_config(data_dir, bundled_dir=bundled, directories=(extra,), **providers)


async def test_install_and_remove_a_provider_folder_at_run_time(data_dir: Path, dirs: Path) -> None:
    tmp_path = dirs
    supervisor = Supervisor(_config(data_dir, tmp_path))
    await supervisor.start()
    try:
        assert supervisor.providers() == []
        folder = await provider_folder(tmp_path / "addons", "tiny", SDK_PROVIDER)
        state = await supervisor.install(folder)
        assert state.status is ProviderStatus.READY, state.last_error
        assert state.pid is not None
        assert [s.slug for s in supervisor.ready()] == ["tiny"]
        with pytest.raises(ConfigError, match="already installed"):
            await supervisor.install("tiny")  # a bare name: the folder in a configured dir

        pid = state.pid
        await supervisor.remove("tiny")
        assert await gone(pid)
        assert supervisor.providers() == []
        with pytest.raises(ProviderNotFoundError):
            supervisor.get("tiny")
        # Installed again from the same folder, by name.
        again = await supervisor.install("tiny")
        assert again.status is ProviderStatus.READY, again.last_error
    finally:
        await supervisor.stop()


async def test_install_refuses_folders_outside_the_provider_directories(
    data_dir: Path, dirs: Path
) -> None:
    tmp_path = dirs
    supervisor = Supervisor(_config(data_dir, tmp_path, disabled=("muted",)))
    await supervisor.start()
    try:
        elsewhere = await provider_folder(tmp_path / "elsewhere", "tiny", SDK_PROVIDER)
        with pytest.raises(ConfigError, match="installed from a folder in"):
            await supervisor.install(elsewhere)
        with pytest.raises(ConfigError, match="no provider folder 'missing'"):
            await supervisor.install("missing")
        muted = await provider_folder(tmp_path / "addons", "muted", SDK_PROVIDER)
        with pytest.raises(ConfigError, match="disabled"):
            await supervisor.install(muted)
        with pytest.raises(ProviderNotFoundError):
            await supervisor.remove("tiny")
        assert supervisor.providers() == []
    finally:
        await supervisor.stop()


DOCKERFILE = """\
# A third-party provider built on the bundled synthetic image (its Python and the SDK).
FROM {base}
COPY config.yaml /app/config.yaml
COPY src /app/src
"""


def _containers(client: Any, slug: str) -> list[str]:
    return support.labelled(client, f"{LABEL_PROVIDER}={slug}")["containers"]


@pytest.mark.docker
@pytest.mark.timeout(600)
async def test_install_builds_and_runs_a_provider_container_then_removes_it(
    data_dir: Path, dirs: Path
) -> None:
    tmp_path = dirs
    client = await asyncio.to_thread(support.docker_client_or_skip)
    try:
        base = await asyncio.to_thread(support.build_provider_image, client, "synthetic")
        config = _config(data_dir, tmp_path, runtime="docker", start_timeout_seconds=60.0)
        supervisor = Supervisor(config)
        await supervisor.start()
        try:
            folder = await provider_folder(tmp_path / "addons", "tiny-docker", SDK_PROVIDER)
            await asyncio.to_thread(
                (folder / "Dockerfile").write_text, DOCKERFILE.format(base=base)
            )
            state = await supervisor.install(folder)
            assert state.status is ProviderStatus.READY, state.last_error
            assert state.runtime == "docker"
            assert state.container_id is not None
            assert await asyncio.to_thread(_containers, client, "tiny-docker") != []
            await supervisor.remove("tiny-docker")
            assert await asyncio.to_thread(_containers, client, "tiny-docker") == []
            assert supervisor.providers() == []
        finally:
            await supervisor.stop()
        assert await asyncio.to_thread(_containers, client, "tiny-docker") == []
        await asyncio.to_thread(client.images.remove, "timebase/provider-tiny-docker:0.1.0")
    finally:
        await asyncio.to_thread(client.close)
