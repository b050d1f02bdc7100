"""docs/rest.md is checked against the OpenAPI spec: routes, query parameters and error codes."""

from __future__ import annotations

import re
from pathlib import Path

from timebase.rest import ERROR_CODES, build_spec

DOC = Path(__file__).resolve().parents[2] / "docs" / "rest.md"


def test_rest_reference_matches_the_openapi_spec():
    text = DOC.read_text()
    spec = build_spec("0")
    documented_routes = set(
        re.findall(r"^\| `(GET|POST|DELETE|PUT|PATCH) (/[^`]*)` \|", text, re.MULTILINE)
    )
    assert documented_routes == {
        (method.upper(), path) for path, item in spec["paths"].items() for method in item
    }

    params = spec["components"]["parameters"]
    bar_query = {
        params[p["$ref"].rsplit("/", 1)[-1]]["name"]
        for p in spec["paths"]["/api/data/{symbol}"]["get"]["parameters"]
        if params[p["$ref"].rsplit("/", 1)[-1]]["in"] == "query"
    }
    section = text.split("### Query parameters of the bar routes", 1)[1].split("##", 1)[0]
    assert set(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE)) == bar_query

    documented_codes = {
        code: int(status)
        for code, status in re.findall(r"^\| `([A-Z_]+)` \| (\d{3}) \|", text, re.MULTILINE)
    }
    assert documented_codes == ERROR_CODES
    assert spec["x-error-codes"] == dict(sorted(ERROR_CODES.items()))

    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert header in spec["paths"]["/api/data/{symbol}"]["get"]["responses"]["200"]["headers"]
        assert f"`{header}`" in text
    assert "X-TimeBase-Warnings" in text
