"""Discovery of provider folders and which providers the supervisor runs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.supervisor.conftest import BUNDLED, MANIFEST, make_config, write_provider
from timebase.core.config import ProviderSettings
from timebase.sdk.errors import ErrorKind
from timebase.supervisor import (
    ProviderNotFoundError,
    ProviderStatus,
    Supervisor,
    bundled_providers_dir,
    discover,
)

BROKEN = 'name: Broken\nversion: "1"\nslug: broken\ncapabilities: {historical_data: "yes"}\nintervals: [1d]\n'


def test_bundled_dir_is_the_checkout_providers_folder() -> None:
    assert bundled_providers_dir() == BUNDLED.resolve()
    assert "synthetic" in discover([BUNDLED]).providers


def test_invalid_manifest_is_skipped_with_file_and_key_logged(
    providers_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_provider(providers_root, "good", "")
    write_provider(providers_root, "broken", "", manifest=BROKEN)
    (providers_root / "not-a-provider").mkdir()  # no config.yaml: ignored silently
    (providers_root / "README.md").write_text("a file, not a folder")
    with caplog.at_level(logging.ERROR, logger="timebase.supervisor.discovery"):
        found = discover([providers_root, providers_root / "missing"])
    assert list(found.providers) == ["good"]
    assert found.providers["good"].path == (providers_root / "good").resolve()
    (invalid,) = found.invalid
    assert invalid.path == (providers_root / "broken" / "config.yaml").resolve()
    assert str(invalid.path) in invalid.error
    assert "capabilities.historical_data: expected a bool" in invalid.error
    (record,) = caplog.records
    assert "capabilities.historical_data" in record.getMessage()
    assert record.path == str(invalid.path)  # type: ignore[attr-defined]


def test_first_folder_wins_on_a_slug_clash(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_provider(first, "same", "")
    write_provider(second, "same", "")
    found = discover([first, second])
    assert found.providers["same"].path == (first / "same").resolve()


async def test_supervisor_skips_invalid_manifests_and_reports_unrunnable_providers(
    data_dir: Path, empty_bundled: Path, providers_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    def setup() -> None:
        write_provider(providers_root, "broken", "", manifest=BROKEN)
        manifest = MANIFEST.format(name="Opt", slug="opt") + "options: {n: 1}\nschema: {n: int}\n"
        write_provider(providers_root, "opt", "", manifest=manifest)
        write_provider(providers_root, "unused", "")

    await asyncio.to_thread(setup)
    config = make_config(
        data_dir,
        bundled_dir=empty_bundled,
        directories=(providers_root,),
        disabled=("unused",),
        settings={
            "opt": ProviderSettings(options={"n": "many"}),
            "far": ProviderSettings(runtime="remote", address="127.0.0.1:1"),
        },
        enabled=("opt", "ghost", "unused", "far"),
        start_timeout_seconds=0.5,
        max_restarts=1,
    )
    supervisor = Supervisor(config)
    with caplog.at_level(logging.ERROR):
        await supervisor.start()
    try:
        assert [s.slug for s in supervisor.providers()] == ["far", "ghost", "opt"]
        assert [m.path.parent.name for m in supervisor.invalid_manifests] == ["broken"]
        assert any("capabilities.historical_data" in r.getMessage() for r in caplog.records)
        opt = supervisor.get("opt")
        assert opt.status is ProviderStatus.FAILED
        assert opt.last_error is not None
        assert "providers.settings.opt.options: n: expected an integer" in opt.last_error
        ghost = supervisor.get("ghost")
        assert ghost.status is ProviderStatus.FAILED
        assert ghost.last_error is not None
        assert "'ghost' is enabled but was not found" in ghost.last_error
        assert supervisor.get("far").runtime == "remote"
        with pytest.raises(ProviderNotFoundError) as err:
            supervisor.get("unused")
        # Wherever it reaches a door it is a 404 / NOT_FOUND, never an internal error.
        assert (err.value.code, err.value.kind) == ("PROVIDER_NOT_FOUND", ErrorKind.NOT_FOUND)
    finally:
        await supervisor.stop()
    assert supervisor.get("opt").status is ProviderStatus.FAILED  # stop keeps the reason
