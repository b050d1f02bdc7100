"""The web page's routes: `GET /` and `GET /static/{name}` (files, headers, errors), and the
vendored chart library matching its record (the browser tests are in test_web_browser.py)."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

from timebase.rest.page import CSP, FILES, is_page_path, load_files

from .conftest import running_rest

STATIC = resources.files("timebase.rest") / "static"
VENDORED = STATIC / "vendor" / "VENDORED.md"
LIBRARY = "lightweight-charts.standalone.production.js"


async def test_the_page_and_its_files_are_served_with_a_strict_policy(database_url: str) -> None:
    async with running_rest(database_url) as rest:
        status, page, resp = await rest.get("/")
        assert status == 200
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        assert resp.headers["Content-Security-Policy"] == CSP
        assert "script-src 'self';" in CSP
        assert "'unsafe-inline'" not in CSP
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert page == FILES["index.html"].body
        html = page.decode()
        assert "<title>TimeBase</title>" in html
        # Every script and stylesheet of the page is served here; none is inline.
        sources = re.findall(r'<(?:script src|link rel="stylesheet" href)="([^"]+)"', html)
        assert sources == [
            "/static/app.css",
            f"/static/{LIBRARY}",
            "/static/app.js",
        ]
        assert "<script>" not in html
        assert "style=" not in html
        kinds = {
            "/static/app.css": "text/css",
            f"/static/{LIBRARY}": "text/javascript",
            "/static/app.js": "text/javascript",
            "/static/lightweight-charts.LICENSE": "text/plain",
        }
        for path, kind in kinds.items():
            status, body, resp = await rest.get(path)
            assert status == 200, path
            assert resp.headers["Content-Type"] == f"{kind}; charset=utf-8"
            assert resp.headers["Content-Security-Policy"] == CSP
            assert body == FILES[path.removeprefix("/static/")].body


async def test_unknown_static_files_are_404_json(database_url: str) -> None:
    async with running_rest(database_url) as rest:
        for path in ("/static/nope.js", "/static/page.py", "/static/..%2Fpage.py", "/static/"):
            status, body, _ = await rest.get(path)
            assert status == 404, path
            assert body["success"] is False
            assert body["error"]["code"] == "ROUTE_NOT_FOUND"
        status, body, _ = await rest.get("/static/nope.js")
        assert body["error"]["message"] == (
            "name: no static file 'nope.js'; the page is served at /"
        )


def test_the_vendored_library_is_the_recorded_release() -> None:
    record = VENDORED.read_text()
    digest = re.search(r"sha256 \| `([0-9a-f]{64})`", record)
    assert digest is not None
    library = (STATIC / "vendor" / LIBRARY).read_bytes()
    assert hashlib.sha256(library).hexdigest() == digest.group(1)
    version = re.search(r"version \| \*\*(\d+\.\d+\.\d+)\*\*", record)
    assert version is not None
    assert f"Lightweight Charts™ v{version.group(1)}" in library[:200].decode()
    assert "Apache License" in (STATIC / "vendor" / "lightweight-charts.LICENSE").read_text()


def test_files_are_found_by_name_and_the_page_paths_are_known() -> None:
    files = load_files()
    assert {"index.html", "app.js", "app.css", LIBRARY, "VENDORED.md"} <= set(files)
    assert is_page_path("/")
    assert is_page_path("/static/app.js")
    assert not is_page_path("/api/providers")
    assert not is_page_path("/docs")
