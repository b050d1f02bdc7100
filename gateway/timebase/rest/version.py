"""The version TimeBase reports (`/api/version`, the OpenAPI document)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def _package_version() -> str:
    try:
        return version("timebase")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


VERSION = _package_version()
