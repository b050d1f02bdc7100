"""A fixed sample of mutants that the tests must kill (issue 19: keep the tests honest).

`make mutate` runs the whole mutation test (docs/mutation.md); this sample runs in `make test`.
Each case imports one module with one small change (tests/mutation/plugin.py: nothing changes
on disk) and runs the tests that should notice in a separate pytest: they must fail. A test that
stops asserting what it names lets its mutant survive, and this test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.mutation.plugin import MutationError, _Loader

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutant:
    module: str
    old: str
    new: str
    tests: tuple[str, ...]


SAMPLE = {
    # Ranking: a provider declaring the symbol is asked before one accepting any symbol.
    "router-declared-first": Mutant(
        "timebase.gateway.router",
        "                not declared,\n",
        "                declared,\n",
        ("tests/gateway/test_router.py",),
    ),
    # Sticky coverage: the provider with most of the range serves it.
    "coverage-most-first": Mutant(
        "timebase.gateway.coverage_plan",
        "key=lambda s: (-_total(covered[s]),",
        "key=lambda s: (_total(covered[s]),",
        ("tests/gateway/test_coverage_plan.py",),
    ),
    # The circuit half-opens exactly `reset_after` seconds after opening.
    "breaker-half-open-at-reset": Mutant(
        "timebase.gateway.circuit_breaker",
        "if self.clock() - circuit.opened_at >= self.reset_after:",
        "if self.clock() - circuit.opened_at > self.reset_after:",
        ("tests/gateway/test_circuit_breaker.py",),
    ),
    # The daily quota is used up at the limit, not one request later.
    "quota-day-limit": Mutant(
        "timebase.gateway.quota",
        "if use.day_used >= per_day:",
        "if use.day_used > per_day:",
        ("tests/gateway/test_quota.py",),
    ),
    # limit=0 is refused.
    "request-limit-zero": Mutant(
        "timebase.gateway.bar_request",
        "if limit <= 0:",
        "if limit < 0:",
        ("tests/gateway/test_bar_request.py",),
    ),
    # The shared bar rules (SDK and store) refuse a negative volume.
    "bar-rules-negative-volume": Mutant(
        "timebase.sdk.bar_rules",
        "lambda o, h, lo, c, v: v < 0,",
        "lambda o, h, lo, c, v: v < -1,",
        ("tests/sdk/test_validation.py",),
    ),
    # Open and close may equal the high (the rules are built at import, out of mutmut's reach).
    "bar-rules-outside": Mutant(
        "timebase.sdk.bar_rules",
        "return bool(values[index] < low or values[index] > high)",
        "return bool(values[index] < low or values[index] >= high)",
        ("tests/sdk/test_validation.py",),
    ),
    # The store refuses a bar with an empty symbol.
    "store-empty-symbol": Mutant(
        "timebase.store.validation",
        'lambda t: pc.equal(t["symbol"], "")',
        'lambda t: pc.equal(t["symbol"], "-")',
        ("tests/store/test_validation.py::test_user_batch_names_first_bad_row_and_column",),
    ),
    # Within one write a repeated key keeps its last row (needs the database).
    "store-upsert-last-wins": Mutant(
        "timebase.store.bars",
        '"timestamp", _ord DESC',
        '"timestamp", _ord ASC',
        ("tests/store/test_bars.py::test_repeated_key_inside_one_upsert_keeps_the_last",),
    ),
}


def run_with(
    mutant: Mutant | None, tests: tuple[str, ...], database_url: str, tmp_path: Path
) -> tuple[int, str]:
    env = dict(os.environ)
    env["TIMEBASE_TEST_DATABASE_URL"] = database_url
    env.pop("PYTEST_XDIST_WORKER", None)
    if mutant is not None:
        env["TIMEBASE_MUTATION"] = json.dumps(
            {"module": mutant.module, "old": mutant.old, "new": mutant.new}
        )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.mutation.plugin",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-p",
            "no:cov",
            "-x",
            "-q",
            "--no-header",
            f"--basetemp={tmp_path / 'pytest'}",
            *tests,
        ],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(SAMPLE))
def test_the_sample_mutant_is_killed(name: str, database_url: str, tmp_path: Path) -> None:
    mutant = SAMPLE[name]
    code, output = run_with(mutant, mutant.tests, database_url, tmp_path)
    # 1: tests failed. Anything else (0: survived, 2-4: the run itself broke) is a failure here.
    assert code == 1, f"mutant {name} not killed (pytest exit code {code}):\n{output[-3000:]}"
    assert "MutationError" not in output


def test_the_sample_tests_pass_unmutated(database_url: str, tmp_path: Path) -> None:
    tests = tuple(sorted({t for mutant in SAMPLE.values() for t in mutant.tests}))
    code, output = run_with(None, tests, database_url, tmp_path)
    assert code == 0, output[-3000:]


def test_a_mutation_that_does_not_apply_is_an_error() -> None:
    source = ROOT / "gateway" / "timebase" / "gateway" / "quota.py"
    loader = _Loader("timebase.gateway.quota", str(source), "no such text", "x")
    with pytest.raises(MutationError, match="'no such text' occurs 0 times, expected once"):
        loader.get_code("timebase.gateway.quota")
    loader = _Loader(
        "timebase.gateway.quota",
        str(source),
        "if use.day_used >= per_day:",
        "if use.day_used > per_day:",
    )
    assert loader.get_code("timebase.gateway.quota").co_filename == str(source)
