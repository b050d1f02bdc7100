"""deploy/prometheus and deploy/grafana: promtool checks the config and the rules and runs the
rule unit tests; the dashboard JSON is checked statically (Grafana cannot be installed here)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy import monitoring

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus)"
)


def promtool(*args: str, cwd: Path = monitoring.PROMETHEUS) -> str:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.tools
@needs_promtool
def test_rules_pass_promtool_check() -> None:
    out = promtool("check", "rules", str(monitoring.RULES))
    assert f"SUCCESS: {len(monitoring.rules())} rules found" in out


@pytest.mark.tools
@needs_promtool
def test_rules_pass_their_unit_tests() -> None:
    out = promtool("test", "rules", str(monitoring.RULE_TESTS.relative_to(monitoring.PROMETHEUS)))
    assert "SUCCESS" in out


@pytest.mark.tools
@needs_promtool
def test_every_alert_the_issue_asks_for_is_unit_tested() -> None:
    alerts = {rule["alert"] for rule in monitoring.rules() if "alert" in rule}
    assert {
        "TimeBaseProviderDown",
        "TimeBaseHighErrorRate",
        "TimeBaseDatabasePoolSaturated",
        "TimeBaseSlowProviderFetches",
        "TimeBaseRealtimeDrops",
    } <= alerts
    tests = yaml.safe_load(monitoring.RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    untested = alerts - fired - {"TimeBaseProviderCircuitOpen", "TimeBaseProviderQuotaLow"}
    assert untested == set()


@pytest.mark.tools
@needs_promtool
def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    """The scrape config as Prometheus loads it in the stack: the secret files and the rules
    directory moved to where this test has them."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "timebase_prometheus_key").write_text("tb_x")
    (secrets / "timebase_tls_ca").write_text("")
    text = (monitoring.PROMETHEUS / "prometheus.yml").read_text()
    text = text.replace("/run/secrets/", f"{secrets}/").replace(
        "/etc/prometheus/rules/", f"{monitoring.PROMETHEUS / 'rules'}/"
    )
    (tmp_path / "prometheus.yml").write_text(text)
    out = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert "SUCCESS" in out
    scrape = yaml.safe_load(text)["scrape_configs"][0]
    assert scrape["job_name"] == "timebase"  # the `up{job="timebase"}` alert's job
    assert scrape["scheme"] == "https"
    assert scrape["authorization"]["credentials_file"].endswith("timebase_prometheus_key")


def test_rules_query_only_recordings_they_define() -> None:
    used = {n for n in monitoring.queried() if ":" in n}
    assert used <= monitoring.recorded()


def test_dashboard_json_is_a_provisionable_grafana_dashboard() -> None:
    board = monitoring.dashboard()
    assert board["uid"] == "timebase-overview"
    assert board["title"] == "TimeBase"
    assert isinstance(board["schemaVersion"], int)
    datasource = yaml.safe_load(
        (monitoring.GRAFANA_PROVISIONING / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"  # the compose service
    provider = yaml.safe_load(
        (monitoring.GRAFANA_PROVISIONING / "dashboards" / "timebase.yml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        assert panel["title"]
        assert panel["type"] in {"stat", "timeseries", "state-timeline"}
        assert panel["datasource"]["uid"] == datasource["uid"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        own = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not own & cells, f"{panel['title']} overlaps another panel"
        cells |= own
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"]
            assert monitoring.names_in(target["expr"]), target["expr"]
    used = {n for expr in monitoring.dashboard_exprs() for n in monitoring.names_in(expr)}
    assert {n for n in used if ":" in n} <= monitoring.recorded()


@pytest.mark.tools
@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each dashboard query, as a recording rule, passes `promtool check rules` (its parser)."""
    group = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": expr}
                    for i, expr in enumerate(monitoring.dashboard_exprs())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard.yml"
    path.write_text(yaml.safe_dump(group))
    promtool("check", "rules", str(path))
