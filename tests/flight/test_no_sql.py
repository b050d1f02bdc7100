"""The Flight door uses the core's and the store's APIs only: no SQL, no connections."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

FLIGHT = Path(__file__).resolve().parents[2] / "flight" / "timebase" / "flight"

#: SQL in a string literal (upper-case keywords, as TimeBase writes SQL).
_SQL = re.compile(
    r"\b(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|FROM|WHERE|COPY|CREATE|DROP|ALTER|"
    r"ROLLBACK|COMMIT|BEGIN)\b"
)
#: Modules and attributes that mean handling the database directly.
_FORBIDDEN_MODULES = ("adbc_driver_manager", "adbc_driver_postgresql", "timebase.store.pool")
_FORBIDDEN_ATTRIBUTES = {"pool", "raw", "cursor", "execute", "rollback", "commit", "sql"}


def _sources() -> list[Path]:
    return sorted(FLIGHT.rglob("*.py"))


def problems(source: str) -> list[str]:
    """What in `source` is SQL or database handling (empty when nothing is)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _SQL.search(node.value)
            if match:
                found.append(f"line {node.lineno}: SQL keyword {match.group(0)!r} in a string")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names]
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                if name.startswith(_FORBIDDEN_MODULES):
                    found.append(f"line {node.lineno}: imports {name}")
        elif isinstance(node, ast.Attribute) and node.attr in _FORBIDDEN_ATTRIBUTES:
            found.append(f"line {node.lineno}: uses .{node.attr}")
    return found


def test_the_scan_finds_sql_and_connections() -> None:
    assert problems('q = "SELECT count(*) FROM bars"') != []
    assert problems("import adbc_driver_manager") != []
    assert problems("from timebase.store.pool import Connection") != []
    assert problems("conn.raw.rollback()") != []
    assert problems('"""Bars from the store, selected by the core."""') == []


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.name)
def test_flight_has_no_sql(path: Path) -> None:
    assert problems(path.read_text()) == [], f"{path.name} handles the database itself"
