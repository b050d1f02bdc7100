"""What the monitoring files under deploy/ query: metric names, recording rules, dashboard JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules" / "timebase.yml"
RULE_TESTS = PROMETHEUS / "tests" / "timebase_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "timebase.json"
GRAFANA_PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"

#: A metric name in PromQL (not a label name: those are followed by `=`, `!=`, `=~` or `,` / `)`
#: inside braces or by ... by (...)); recording rules contain colons.
_NAME = re.compile(r"\b(timebase[a-z0-9_:]*)\b")


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]


def names_in(expr: str) -> set[str]:
    """Metric and recording-rule names an expression queries (templated text stripped)."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values (regexes, door names) are no names
    return set(_NAME.findall(expr))


def queried() -> set[str]:
    """Every name the rules and the dashboard query."""
    exprs = [str(rule["expr"]) for rule in rules()] + dashboard_exprs()
    return set().union(*(names_in(e) for e in exprs))


def raw_metrics() -> set[str]:
    """The queried names that must come from /metrics (not recording rules)."""
    return {name for name in queried() if ":" not in name}
