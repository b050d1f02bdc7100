"""Which Python runs a `process` provider: the gateway's own, or the provider's private venv.

When every line of the provider's `requirements.txt` is already satisfied by the gateway's
environment, the provider runs with `sys.executable`. Otherwise a venv is created at
`<data_dir>/venvs/<slug>` that also sees the gateway's packages (the SDK among them) and the
requirements are pip-installed into it; a stamp of requirements.txt makes later starts reuse it.

Everything here blocks (file reads, subprocesses): call it from a worker thread.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from timebase.supervisor.state import ProviderStartError

log = logging.getLogger("timebase.supervisor.venv")

REQUIREMENTS_FILE = "requirements.txt"
STAMP_FILE = ".timebase-requirements.sha256"
PIP_TIMEOUT_SECONDS = 900.0


def requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a requirements file (comments and blanks dropped)."""
    if not path.is_file():
        return []
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def requirement_satisfied(line: str) -> bool:
    """True when `line` (one requirement) is installed in this environment.

    Options (`-r`, `-e`, `--index-url`, …) and URLs cannot be checked: they count as unsatisfied.
    """
    if line.startswith("-") or "://" in line or " @ " in line:
        return False
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging ships with pip/setuptools
        name = line.split(";", 1)[0].split("[", 1)[0]
        for sep in ("=", "<", ">", "!", "~", " "):
            name = name.split(sep)[0]
        try:
            importlib.metadata.version(name.strip())
        except importlib.metadata.PackageNotFoundError:
            return False
        return True
    try:
        req = Requirement(line)
    except InvalidRequirement:
        return False
    if req.marker is not None and not req.marker.evaluate():
        return True
    try:
        installed = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return req.specifier.contains(installed, prereleases=True)


def requirements_satisfied(folder: Path) -> bool:
    return all(
        requirement_satisfied(line) for line in requirement_lines(folder / REQUIREMENTS_FILE)
    )


def provider_python(folder: Path, slug: str, data_dir: Path, *, force_venv: bool = False) -> str:
    """The interpreter to run the provider in `folder` with (creating its venv if needed)."""
    if not force_venv and requirements_satisfied(folder):
        return sys.executable
    return str(ensure_venv(folder, slug, data_dir))


def ensure_venv(folder: Path, slug: str, data_dir: Path) -> Path:
    """`<data_dir>/venvs/<slug>` with requirements.txt installed; returns its python."""
    requirements = folder / REQUIREMENTS_FILE
    venv = (data_dir / "venvs" / slug).resolve()
    python = venv / "bin" / "python"
    digest = hashlib.sha256(
        requirements.read_bytes() if requirements.is_file() else b""
    ).hexdigest()
    stamp = venv / STAMP_FILE
    if python.exists() and stamp.is_file() and stamp.read_text().strip() == digest:
        return python
    log.info("creating a venv for provider %s in %s", slug, venv, extra={"provider": slug})
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], slug)
    _inherit_site_packages(python)
    if requirements.is_file():
        _run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
                str(requirements),
            ],
            slug,
        )
    stamp.write_text(digest + "\n")
    return python


def _inherit_site_packages(python: Path) -> None:
    """Let the venv see the gateway's own packages (the SDK, pip) after its own.

    `--system-site-packages` only reaches the *base* interpreter's; when the gateway itself runs
    in a venv, a .pth file adds that venv's site-packages (with its .pth files: editable installs).
    """
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    target = Path(out.stdout.strip())
    parents = {
        sysconfig.get_path("purelib"),
        sysconfig.get_path("platlib"),
        *site.getsitepackages(),
    }
    lines = [f"import site; site.addsitedir({p!r})" for p in sorted(parents) if Path(p).is_dir()]
    (target / "_timebase_gateway_env.pth").write_text("\n".join(lines) + "\n")


def _run(cmd: list[str], slug: str) -> None:
    try:
        subprocess.run(
            cmd,
            check=True,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.CalledProcessError as exc:
        tail = " | ".join((exc.stderr or exc.stdout or "").strip().splitlines()[-3:])
        raise ProviderStartError(
            f"provider {slug}: {' '.join(cmd[:4])} … failed with code {exc.returncode}: {tail}",
            provider=slug,
        ) from None
    except subprocess.TimeoutExpired:
        raise ProviderStartError(
            f"provider {slug}: {' '.join(cmd[:4])} … timed out after {PIP_TIMEOUT_SECONDS:g} s",
            provider=slug,
        ) from None
