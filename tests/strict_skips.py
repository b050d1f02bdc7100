"""CI turns skips of environment-dependent tests into failures.

A skip is only for a missing environment (no Docker, no TimescaleDB, no browser, no buf CLI, no
promtool, kubectl or docker-compose), never for a behaviour failing. On a developer's machine such
a skip is fine; in CI the environment is provided, so a skip there means the test did not run and
must be red, not silently green.

Set TIMEBASE_CI_STRICT_SKIPS (.ci/run does) to turn every skip of a test carrying one of the
strict markers into a failure that names the skip's reason:

    TIMEBASE_CI_STRICT_SKIPS=1                   # the markers in STRICT_MARKERS
    TIMEBASE_CI_STRICT_SKIPS=docker,browser      # only these markers

Mark a test with the environment it needs (`@pytest.mark.docker`, `@pytest.mark.timescale`,
`@pytest.mark.browser`, `@pytest.mark.buf`, `@pytest.mark.tools`, or a module's `pytestmark`);
skips from `skipif`, `pytest.skip()` in the test or in any fixture it uses are all covered. Expected failures (xfail) are left alone.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

ENV = "TIMEBASE_CI_STRICT_SKIPS"
STRICT_MARKERS = ("docker", "timescale", "browser", "buf", "tools")


def strict_markers(value: str | None = None) -> frozenset[str]:
    """The markers whose skips fail, from the environment variable's value."""
    value = os.environ.get(ENV, "") if value is None else value
    value = value.strip()
    if value in ("", "0", "false", "no"):
        return frozenset()
    if value in ("1", "true", "yes"):
        return frozenset(STRICT_MARKERS)
    return frozenset(name.strip() for name in value.split(",") if name.strip())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    markers = strict_markers()
    needed = sorted(m for m in markers if item.get_closest_marker(m) is not None)
    if not needed:
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = (
        f"skipped, but {ENV} makes skips of {', '.join(needed)} tests failures "
        f"(the environment must be provided): {reason}"
    )
