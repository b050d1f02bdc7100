"""Replaying recorded exchange HTTP responses through ccxt's real request and parsing code (tests).

ccxt's synchronous exchanges send every request through a `requests.Session` (the `session`
option of the exchange). `RecordedSession` is such a session with a transport adapter that
answers from a folder of recordings (``<recordings_dir>/<exchange id>/``) instead of the network, so everything above the socket
(ccxt's signing, URL building, status and error handling, JSON parsing, market and candle
parsing) runs exactly as against the exchange. Binance's public spot API is replayed:

- ``GET /api/v3/exchangeInfo``: ``exchangeInfo.json`` (the markets ccxt's `load_markets` reads).
- ``GET /api/v3/klines?symbol=S&interval=I``: ``klines_<S>_<I>.json`` (a klines array), cut as
  Binance does: open times in ``[startTime, endTime]``, the first ``limit`` (default 500, at most
  1000) from ``startTime``, or the last ``limit`` without it. ``klines_<S>.<status>.json`` answers
  every interval of S with that HTTP status and body (``klines_DOGEUSDT.429.json``). A symbol
  absent from exchangeInfo gets Binance's 400 ``{"code":-1121,"msg":"Invalid symbol."}``; a
  listed symbol without a recording at the interval gets ``[]``.
- anything else: HTTP 404 (and the path is in `calls`, for tests to see).

A folder holding a file ``TIMEOUT`` answers nothing: every request raises requests' `ReadTimeout`
(an exchange that does not answer within ccxt's `timeout`), which ccxt turns into its
`RequestTimeout`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from requests import PreparedRequest, Response, Session
from requests.adapters import BaseAdapter
from requests.exceptions import ReadTimeout
from requests.structures import CaseInsensitiveDict

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 418: "I'm a teapot",
            429: "Too Many Requests", 503: "Service Unavailable"}  # fmt: skip
_INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}


def _response(
    request: PreparedRequest, status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> Response:
    response = Response()
    response.status_code = status
    response.reason = _REASONS.get(status, "Error")
    response._content = body
    response.headers = CaseInsensitiveDict({"Content-Type": "application/json;charset=UTF-8"})
    response.headers.update(headers or {})
    response.url = request.url or ""
    response.request = request
    response.encoding = "utf-8"
    return response


def _json(request: PreparedRequest, status: int, value: Any) -> Response:
    return _response(request, status, json.dumps(value, separators=(",", ":")).encode())


def cut_klines(rows: list[list[Any]], query: Mapping[str, str]) -> list[list[Any]]:
    """The klines Binance answers for `query` (startTime, endTime, limit) from a full recording."""
    start = int(query["startTime"]) if "startTime" in query else None
    end = int(query["endTime"]) if "endTime" in query else None
    limit = min(int(query.get("limit", "500")), 1000)
    kept = [
        row
        for row in rows
        if (start is None or int(row[0]) >= start) and (end is None or int(row[0]) <= end)
    ]
    return kept[:limit] if start is not None else kept[-limit:]


class RecordedAdapter(BaseAdapter):
    """A requests transport adapter answering from recorded Binance responses (module doc)."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        #: Every request made, as "METHOD path?query" (for tests).
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(request.url or "")
        with self._lock:
            self.calls.append(
                f"{request.method} {parts.path}{'?' + parts.query if parts.query else ''}"
            )
        query = dict(parse_qsl(parts.query))
        folder = self.directory
        if (folder / "TIMEOUT").is_file():
            raise ReadTimeout(f"recorded timeout: {parts.path}", request=request)
        if parts.path == "/api/v3/exchangeInfo":
            path = folder / "exchangeInfo.json"
            if path.is_file():
                return _response(request, 200, path.read_bytes())
        elif parts.path == "/api/v3/klines":
            return self._klines(request, folder, query)
        return _json(request, 404, {"code": -1, "msg": f"not recorded: {parts.path}"})

    def _klines(self, request: PreparedRequest, folder: Path, query: dict[str, str]) -> Response:
        symbol, interval = query.get("symbol", ""), query.get("interval", "")
        for status_file in sorted(folder.glob(f"klines_{symbol}.[0-9][0-9][0-9].json")):
            status = int(status_file.name.split(".")[-2])
            headers = {"Retry-After": "30"} if status in (418, 429) else {}
            return _response(request, status, status_file.read_bytes(), headers)
        recording = folder / f"klines_{symbol}_{interval}.json"
        if recording.is_file():
            rows: list[list[Any]] = json.loads(recording.read_text())
            return _json(request, 200, cut_klines(rows, query))
        if symbol in self._listed(folder):
            return _json(request, 200, [])
        return _json(request, 400, _INVALID_SYMBOL)

    @staticmethod
    def _listed(folder: Path) -> set[str]:
        info = folder / "exchangeInfo.json"
        if not info.is_file():
            return set()
        return {s["symbol"] for s in json.loads(info.read_text()).get("symbols", [])}

    def close(self) -> None:
        pass


class RecordedSession(Session):
    """A requests Session whose every request is answered by a `RecordedAdapter`."""

    def __init__(self, directory: str | Path) -> None:
        super().__init__()
        self.adapter = RecordedAdapter(Path(directory))
        self.mount("https://", self.adapter)
        self.mount("http://", self.adapter)

    @property
    def calls(self) -> list[str]:
        return self.adapter.calls
