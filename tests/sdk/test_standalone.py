"""The SDK stands alone: a provider needs only `sdk/`, `proto/` and `sdk/requirements.txt`.

A fresh interpreter imports `timebase.sdk` and every submodule; every module that brings in must
be the SDK's own, the `timebase.provider` stubs, the standard library, or come from a dependency
declared in sdk/requirements.txt (or what those depend on). `timebase.sdk.testing`, the
contract-test kit, also needs pytest and is left out.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Modules no file backs: Cython-compiled extensions (grpcio's) register this one at run time.
_RUNTIME = frozenset({"cython_runtime"})

_PROBE = """
import importlib, json, pkgutil, sys
before = set(sys.modules)
import timebase.sdk
for info in pkgutil.walk_packages(timebase.sdk.__path__, "timebase.sdk."):
    if info.name != "timebase.sdk.testing":
        importlib.import_module(info.name)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def declared() -> list[str]:
    lines = (ROOT / "sdk" / "requirements.txt").read_text().splitlines()
    return [_name(line) for line in lines if line.split("#", 1)[0].strip()]


def _closure(names: list[str]) -> set[str]:
    """The distributions `names` may bring in, with everything they require (extras too, as a
    library may import an optional dependency when it is installed)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requires]
    return seen


def test_the_sdk_imports_only_itself_the_stubs_and_its_declared_dependencies() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    modules: list[str] = json.loads(done.stdout)
    allowed = _closure(declared())
    owners = importlib.metadata.packages_distributions()
    outside = []
    for module in modules:
        top = module.split(".")[0]
        if top == "timebase":
            if module != "timebase" and not module.startswith(
                ("timebase.sdk", "timebase.provider")
            ):
                outside.append(module)
            continue
        if top in sys.stdlib_module_names or top.startswith("_") or top in _RUNTIME:
            continue
        dists = {_name(d) for d in owners.get(top, [])}
        if not dists & allowed:
            outside.append(module)
    assert "timebase.sdk.server" in modules
    assert outside == []


def test_the_base_install_is_the_sdks_requirements() -> None:
    """pyproject.toml declares no second list: its base dependencies are sdk/requirements.txt."""
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["dependencies"]' in text
    assert 'files = ["sdk/requirements.txt"]' in text
    requires = importlib.metadata.requires("timebase") or []
    base = sorted(_name(r) for r in requires if "extra ==" not in r)
    assert base == sorted(declared())
