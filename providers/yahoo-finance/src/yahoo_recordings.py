"""Replaying recorded Yahoo responses through yfinance's real HTTP and parsing code (tests only).

`RecordedSession` is a curl_cffi `Session` (yfinance accepts only those) whose `request` answers
from a directory instead of the network:

- ``/v8/finance/chart/<SYMBOL>``: ``<SYMBOL>_<interval>.json`` (a chart-API body, HTTP 200), cut to
  the requested ``period1``/``period2`` as Yahoo does (timestamps, quotes, adjclose and events in
  ``[period1, period2)``; nothing left → Yahoo's empty result). ``<SYMBOL>.<status>.json`` or
  ``.txt`` answers every interval of the symbol with that HTTP status and body (``TWTR.404.json``,
  ``TOOMANY.429.txt``). A symbol without any recording gets Yahoo's 404 "symbol may be delisted";
  a recorded symbol asked for an interval it has no recording of gets Yahoo's empty result.
  The timezone probe (``range=1d``) gets any recording of the symbol uncut (only its meta is read).
- the cookie and crumb endpoints (``fc.yahoo.com``, ``/v1/test/getcrumb``) answer like Yahoo;
  anything else (quoteSummary, consent pages) is a 404.

`recorded_at()` is when the recordings were made (the newest ``meta.regularMarketTime``): the
provider uses it as "now" for Yahoo's lookback limits, so the recordings never expire.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from curl_cffi.requests import Response, Session
from curl_cffi.requests.headers import Headers

CRUMB = "Zq4b7nQ0bXy"
_NOT_FOUND = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}
_REASONS = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}


def _response(url: str, status: int, body: bytes, content_type: str) -> Response:
    response = Response()
    response.url = url
    response.status_code = status
    response.reason = _REASONS.get(status, "Error")
    response.ok = status < 400
    response.content = body
    response.headers = Headers({"content-type": content_type})
    return response


def _json(url: str, status: int, value: Any) -> Response:
    body = json.dumps(value, separators=(",", ":")).encode()
    return _response(url, status, body, "application/json;charset=utf-8")


def cut(body: Mapping[str, Any], period1: int, period2: int) -> dict[str, Any]:
    """A chart body reduced to the bars and events in [period1, period2)."""
    result = dict(body["chart"]["result"][0])
    stamps: list[int] = result.get("timestamp") or []
    keep = [i for i, t in enumerate(stamps) if period1 <= t < period2]
    indicators = result["indicators"]
    if keep:
        result["timestamp"] = [stamps[i] for i in keep]
        quote = {k: [v[i] for i in keep] for k, v in indicators["quote"][0].items()}
        cut_ind: dict[str, Any] = {"quote": [quote]}
        if "adjclose" in indicators:
            adj = indicators["adjclose"][0]["adjclose"]
            cut_ind["adjclose"] = [{"adjclose": [adj[i] for i in keep]}]
        result["indicators"] = cut_ind
    else:
        result.pop("timestamp", None)
        result["indicators"] = {"quote": [{}]}
        if "adjclose" in indicators:
            result["indicators"]["adjclose"] = [{}]
    events: dict[str, Any] = {}
    for kind, items in (result.get("events") or {}).items():
        kept = {k: v for k, v in items.items() if period1 <= int(v["date"]) < period2}
        if kept:
            events[kind] = kept
    if events:
        result["events"] = events
    else:
        result.pop("events", None)
    return {"chart": {"result": [result], "error": None}}


class RecordedSession(Session):  # type: ignore[type-arg]
    """A curl_cffi Session answering yfinance from recorded Yahoo responses (see module doc)."""

    def __init__(self, directory: str | Path) -> None:
        super().__init__()
        self.directory = Path(directory)
        #: Every request made, as "METHOD url?query" (for tests).
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def recorded_at(self) -> int | None:
        newest: int | None = None
        for path in self.directory.glob("*.json"):
            try:
                results = json.loads(path.read_text())["chart"]["result"] or []
            except (KeyError, TypeError, ValueError):
                continue
            for result in results:
                t = (result.get("meta") or {}).get("regularMarketTime")
                if isinstance(t, int) and (newest is None or t > newest):
                    newest = t
        return newest

    def request(  # type: ignore[override]
        self, method: str, url: str, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Response:
        query = urlencode(params or {})
        with self._lock:
            self.calls.append(f"{method} {url}{'?' + query if query else ''}")
        parts = urlsplit(url)
        full = f"{url}{'?' + query if query else ''}"
        if parts.hostname == "fc.yahoo.com":
            return _response(full, 404, b"<html><body>Not Found</body></html>", "text/html")
        if parts.path.endswith("/v1/test/getcrumb"):
            return _response(full, 200, CRUMB.encode(), "text/plain;charset=utf-8")
        if parts.path.startswith("/v8/finance/chart/"):
            symbol = unquote(parts.path.rsplit("/", 1)[1])
            return self._chart(full, symbol, dict(params or {}))
        return _json(full, 404, {"finance": {"result": None, "error": {"code": "Not Found"}}})

    def _chart(self, url: str, symbol: str, params: dict[str, Any]) -> Response:
        for status_file in sorted(self.directory.glob(f"{symbol}.[0-9][0-9][0-9].*")):
            status = int(status_file.name.split(".")[-2])
            kind = "application/json" if status_file.suffix == ".json" else "text/plain"
            return _response(url, status, status_file.read_bytes(), kind)
        interval = str(params.get("interval", "1d"))
        path = self.directory / f"{symbol}_{interval}.json"
        if "period1" not in params:  # the timezone probe: any recording of the symbol
            path = path if path.is_file() else next(self.directory.glob(f"{symbol}_*.json"), path)
        if not path.is_file():
            other = next(self.directory.glob(f"{symbol}_*.json"), None)
            if other is None:
                return _json(url, 404, _NOT_FOUND)
            # A known symbol without a recording at this interval: Yahoo's empty result.
            return _json(url, 200, cut(json.loads(other.read_text()), 0, 0))
        body = json.loads(path.read_text())
        if "period1" in params:
            body = cut(body, int(params["period1"]), int(params["period2"]))
        return _json(url, 200, body)
