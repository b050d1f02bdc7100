"""The CI rule: a skip of a docker/timescale/browser test is a failure under TIMEBASE_CI_STRICT_SKIPS."""

from __future__ import annotations

import pytest

from tests.strict_skips import ENV, STRICT_MARKERS, strict_markers

EXAMPLE = """
import pytest

@pytest.fixture
def engine():
    pytest.skip("no Docker API reachable")

@pytest.mark.docker
def test_needs_docker(engine):
    pass

@pytest.mark.timescale
@pytest.mark.skipif(True, reason="TIMEBASE_TEST_TIMESCALE_URL is not set")
def test_needs_timescale():
    pass

@pytest.mark.browser
def test_needs_browser():
    pytest.skip("no browser")

def test_plain_skip():
    pytest.skip("not an environment the rule is about")

@pytest.mark.docker
@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False

@pytest.mark.docker
def test_runs():
    pass
"""


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> pytest.RunResult:
    pytester.makeconftest('pytest_plugins = ("tests.strict_skips",)\n')
    pytester.makeini(
        "[pytest]\nmarkers =\n    docker: d\n    timescale: t\n    browser: b\n"
        "asyncio_default_fixture_loop_scope = function\n"
        "addopts = -p no:randomly -p no:cacheprovider\n"
    )
    pytester.makepyfile(test_example=EXAMPLE)
    if value is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, value)
    return pytester.runpytest_inprocess("-rA")


def test_without_the_variable_skips_stay_skips(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(pytester, monkeypatch, None)
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)


def test_strict_turns_environment_skips_into_failures_naming_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(pytester, monkeypatch, "1")
    # A skip before the test body (skipif, a fixture) fails the setup: reported as an error.
    result.assert_outcomes(passed=1, failed=1, errors=2, skipped=1, xfailed=1)
    prefix = f"skipped, but {ENV} makes skips of"
    result.stdout.fnmatch_lines(
        [
            f"{prefix} docker tests failures (the environment must be provided): "
            "no Docker API reachable",
            f"{prefix} timescale tests failures (the environment must be provided): "
            "TIMEBASE_TEST_TIMESCALE_URL is not set",
            f"{prefix} browser tests failures (the environment must be provided): no browser",
        ]
    )
    result.stdout.fnmatch_lines(["SKIPPED * not an environment the rule is about"])


def test_a_marker_list_selects_which_skips_fail(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(pytester, monkeypatch, "docker,browser")
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=2, xfailed=1)


def test_values() -> None:
    assert strict_markers("") == frozenset()
    assert strict_markers("0") == frozenset()
    assert (
        strict_markers("1")
        == frozenset(STRICT_MARKERS)
        == {"docker", "timescale", "browser", "buf", "tools"}
    )
    assert strict_markers(" docker , browser ") == {"docker", "browser"}
