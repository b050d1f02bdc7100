"""The host-side wheelhouse: every Python package the TimeBase images install, as wheels.

Image builds cannot rely on this machine's network set-up (proxies, certificates), so their
packages are fetched here, on the host, with the host's own pip configuration, and offered to
`docker build` through pip's standard settings (PIP_NO_INDEX=1, PIP_FIND_LINKS=<url>): see
docs/containers.md. The list is what the Dockerfiles install: the `timebase` distribution with
its `server` and `yahoo` extras (the gateway image) and its build backend, the SDK's
sdk/requirements.txt (the base install, and every provider image's) and each bundled
provider's requirements.txt. Wheels only, for the images' platform: CPython 3.11 on glibc Linux
x86_64, resolved for the oldest 3.11 an image runs (Debian bookworm's 3.11.2, the local base
image's; TIMEBASE_WHEELHOUSE_PYTHON to change) so they install on every 3.11 image. A stamp of
the requirement list skips the work when nothing changed.

    python .ci/wheelhouse.py [DIR]     # DIR defaults to $TIMEBASE_CACHE_DIR/wheelhouse
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def default_dir() -> Path:
    cache = os.environ.get("TIMEBASE_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "timebase-ci"
    )
    return Path(cache) / "wheelhouse"


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(project["build-system"]["requires"])
    extras = project["project"]["optional-dependencies"]
    reqs += extras["server"] + extras["yahoo"]
    # sdk/requirements.txt is the base install (pyproject.toml reads it) and the provider images'.
    paths = [ROOT / "sdk" / "requirements.txt", *sorted(ROOT.glob("providers/*/requirements.txt"))]
    for path in paths:
        for line in path.read_text().splitlines():
            requirement = line.split("#", 1)[0].strip()
            if requirement:
                reqs.append(requirement)
    return sorted(set(reqs))


PYTHON = os.environ.get("TIMEBASE_WHEELHOUSE_PYTHON", "3.11.2")
#: glibc Linux x86_64 up to bookworm's glibc 2.36 (pip does not widen --platform by itself).
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(5, 37)] + [
    "manylinux1_x86_64",
    "manylinux2010_x86_64",
    "manylinux2014_x86_64",
    "linux_x86_64",
]


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else default_dir()
    reqs = requirements()
    digest = hashlib.sha256("\n".join([PYTHON, *PLATFORMS, *reqs]).encode()).hexdigest()
    stamp = target / ".requirements.sha256"
    if stamp.is_file() and stamp.read_text().strip() == digest:
        print(f"wheelhouse: {target} is up to date", file=sys.stderr)
        return 0
    # A fresh folder each time: a wheel left from an older list must not win a resolution.
    fresh = target.with_name(target.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    print(f"wheelhouse: fetching {len(reqs)} requirements into {target}", file=sys.stderr)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(fresh)]
    command += ["--only-binary=:all:", "--implementation", "cp", "--python-version", PYTHON]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    command += reqs
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
        return done.returncode
    (fresh / stamp.name).write_text(digest + "\n")
    shutil.rmtree(target, ignore_errors=True)
    fresh.rename(target)
    count = len(list(target.glob("*.whl")))
    print(f"wheelhouse: {count} wheels in {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
