"""The fault suite runs one test at a time.

`make test` runs it on its own after the rest of the suite (`-m faults`, no xdist). Should a run
put fault tests on several xdist workers anyway, this lock (one file under the run's shared base
temporary directory) still lets only one of them run at a time: their timing assertions are about
TimeBase, not about two of them fighting over two cores.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator

import pytest
from _pytest.terminal import TerminalReporter


@pytest.fixture(autouse=True)
def _one_fault_at_a_time(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = tmp_path_factory.getbasetemp()
    # Under xdist every worker has its own base (…/popen-gwN) inside the run's shared one.
    shared = base.parent if base.name.startswith("popen-gw") else base
    fd = os.open(shared / "faults.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


#: What the fault tests measured, printed at the end of the run (docs/faults.md lists them).
_MEASURED: list[str] = []


@pytest.fixture
def report_fault() -> Callable[[str], None]:
    """`report_fault(line)`: print `line` now (with -s) and in the run's summary."""

    def report(line: str) -> None:
        print(f"\n{line}")
        _MEASURED.append(line)

    return report


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if _MEASURED:
        terminalreporter.section("fault suite: measured recovery")
        for line in _MEASURED:
            terminalreporter.write_line(line)
