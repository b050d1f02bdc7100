"""The package structure: every package imports on its own, and the core imports no door.

Each check runs in a fresh interpreter, so the order in which the rest of the suite happens to
import modules cannot hide a circular import.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import timebase

#: The doors and the composition root: the core (`timebase.gateway`) must import none of them.
DOORS = ("timebase.grpc", "timebase.flight", "timebase.rest", "timebase.server")


def _packages() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(timebase.__path__, "timebase."):
        if info.ispkg:
            names.append(info.name)
    return sorted(names)


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_every_package_is_found() -> None:
    assert {"timebase.gateway", "timebase.sdk", "timebase.server", *DOORS} <= set(_packages())


@pytest.mark.parametrize("package", _packages())
def test_package_imports_on_its_own(package: str) -> None:
    result = _fresh(f"import {package}")
    assert result.returncode == 0, result.stderr


def test_the_core_imports_no_door() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import timebase.gateway\n"
        "for info in pkgutil.walk_packages(timebase.gateway.__path__, 'timebase.gateway.'):\n"
        "    importlib.import_module(info.name)\n"
        f"doors = {DOORS!r}\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith(doors))))\n"
    )
    result = _fresh(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []
