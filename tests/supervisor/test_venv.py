"""Which interpreter runs a process provider; the provider's own venv (offline-safe cases)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.supervisor.conftest import BUNDLED, SDK_PROVIDER, write_provider
from tests.support.eventually import eventually
from timebase.supervisor import Prober, ProcessRuntime
from timebase.supervisor.venv import (
    ensure_venv,
    provider_python,
    requirement_lines,
    requirement_satisfied,
)


@pytest.mark.parametrize(
    ("line", "satisfied"),
    [
        ("pyyaml>=6.0", True),
        ("PyYAML", True),
        ("pyyaml<1", False),
        ("grpcio[protobuf]>=1.0", True),
        ("surely-not-an-installed-distribution", False),
        ('surely-not-an-installed-distribution; python_version < "3"', True),
        ("-r other.txt", False),
        ("git+https://example.com/x.git", False),
        ("not a requirement!", False),
    ],
)
def test_requirement_satisfied(line: str, satisfied: bool) -> None:
    assert requirement_satisfied(line) is satisfied


def test_bundled_provider_runs_with_the_gateway_interpreter(tmp_path: Path) -> None:
    assert provider_python(BUNDLED / "synthetic", "synthetic", tmp_path) == sys.executable
    assert not (tmp_path / "venvs").exists()


def test_requirement_lines_skip_comments(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("# deps\npyarrow>=18  # columnar\n\nyfinance\n")
    assert requirement_lines(tmp_path / "requirements.txt") == ["pyarrow>=18", "yfinance"]
    assert requirement_lines(tmp_path / "missing.txt") == []


def test_own_venv_sees_the_gateway_packages_and_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offline: pip may only find the requirement already installed (in the gateway's env).
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    folder = write_provider(tmp_path / "providers", "own", SDK_PROVIDER)
    (folder / "requirements.txt").write_text("pyyaml>=6\n")
    data_dir = tmp_path / "data"
    python = provider_python(folder, "own", data_dir, force_venv=True)
    assert python == str(data_dir.resolve() / "venvs" / "own" / "bin" / "python")
    check = subprocess.run(
        [python, "-c", "import sys, yaml, timebase.sdk; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.strip() == str(data_dir.resolve() / "venvs" / "own")
    stamp = data_dir / "venvs" / "own" / ".timebase-requirements.sha256"
    made = stamp.stat().st_mtime_ns
    assert ensure_venv(folder, "own", data_dir) == Path(python)
    assert stamp.stat().st_mtime_ns == made  # reused, not rebuilt


async def test_process_runtime_in_the_provider_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    folder = await asyncio.to_thread(write_provider, tmp_path / "providers", "own", SDK_PROVIDER)
    await asyncio.to_thread((folder / "requirements.txt").write_text, "pyyaml>=6\n")
    runtime = ProcessRuntime(
        "own",
        folder,
        data_dir=tmp_path / "data",
        interpreter=lambda f, s, d: provider_python(f, s, d, force_venv=True),
    )
    address = await runtime.start()
    try:
        assert runtime.python is not None
        assert runtime.python.endswith("venvs/own/bin/python")
        prober = Prober(address)
        try:
            results = []

            async def probed_ok() -> bool:
                results.append(await prober.probe(1.0))
                return results[-1].ok

            await eventually(probed_ok, within=10, interval=0.1, what="a healthy probe")
            result = results[-1]
            assert result.method == "grpc.health.v1.Health"
        finally:
            await prober.close()
    finally:
        await runtime.stop(3.0)
    assert await runtime.poll() is None  # stopped: nothing left to poll
