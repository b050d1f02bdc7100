"""The web page at `/` in headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium): it loads, draws the bars the REST API serves, shows errors and warnings, follows the
WebSocket, and logs nothing to the console.

One browser for the module and one real server per database backend (every test runs on both):
a REST door on port 0 over SDK providers (a recording one, alpha, then the synthetic provider; a
scripted real-time one) and a real PostgreSQL or TimescaleDB, in a thread of its own (Selenium
blocks). `TIMEBASE_WEB_SCREENSHOT=docs/images/web-page.png` saves the chart test's page there.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import create_database, drop_database
from tests.gateway.realtime.conftest import ScriptedProvider, provider_server, target
from tests.gateway.support import RecordingProvider
from tests.providers.synthetic.conftest import PROVIDER_DIR, load_module
from timebase.core.config import RoutingConfig
from timebase.gateway.realtime import Backoff, RealtimeHub
from timebase.sdk import load_manifest
from timebase.sdk.errors import ProviderUnavailable
from timebase.store import Store

from .conftest import Rest, running_rest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT = 20.0


class ServerThread:
    """The REST door and its providers on an event loop of their own."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.alpha = RecordingProvider("alpha", ["1m", "1h", "1d"], base=100)
        manifest = load_manifest(PROVIDER_DIR / "config.yaml")
        self.synthetic = load_module().SyntheticProvider(manifest, manifest.load_options({}))
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.rest: Rest | None = None
        self.live: ScriptedProvider | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="web-page-server", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.ready.wait(60)
        if self.error is not None:
            raise self.error
        assert self.rest is not None, "the server did not start within 60 s"

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(lambda: fn(*args, **kwargs))

    @property
    def url(self) -> str:
        assert self.rest is not None
        return self.rest.server.url

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.error = exc
        finally:
            self.ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        routing = RoutingConfig(
            priorities={"alpha": 1, "synthetic": 2}, backoff_seconds=0.01, retries=1
        )
        async with provider_server("live") as (live, live_server):

            def hub(store: Store) -> RealtimeHub:
                return RealtimeHub(
                    store,
                    lambda s, i: [target(live_server)],
                    backoff=Backoff(initial=0.2, maximum=1.0),
                    flush_interval=0.05,
                )

            async with running_rest(
                self.database_url, self.alpha, self.synthetic, realtime=hub, routing=routing
            ) as rest:
                self.rest, self.live = rest, live
                self.ready.set()
                await self._stop.wait()


def rest_get(server: ServerThread, path: str) -> tuple[int, Any]:
    """(status, JSON body) of GET `path`, straight from the REST API."""
    try:
        with urllib.request.urlopen(server.url + path, timeout=WAIT) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


class ServerThreads:
    """The module's server per database backend, each on a database of its own, started on
    first use (`get`)."""

    def __init__(self, database_servers: Any) -> None:
        self.database_servers = database_servers
        self.threads: dict[str, ServerThread] = {}
        self.databases: list[tuple[str, str]] = []

    def get(self, backend: str) -> ServerThread:
        if backend not in self.threads:
            server_url = self.database_servers.url(backend)
            url = create_database(server_url, prefix="web")
            self.databases.append((server_url, url))
            self.threads[backend] = ServerThread(url)
            self.threads[backend].start()
        return self.threads[backend]

    def stop(self) -> None:
        for thread in self.threads.values():
            thread.stop()
        for server_url, url in self.databases:
            drop_database(server_url, url)


@pytest.fixture(scope="module")
def server_threads(database_servers: Any) -> Iterator[ServerThreads]:
    threads = ServerThreads(database_servers)
    try:
        yield threads
    finally:
        threads.stop()


@pytest.fixture
def server(server_threads: ServerThreads, backend: str) -> ServerThread:
    """The module's server on the backend of this run: every test runs on both backends."""
    return server_threads.get(backend)


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1100",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The system chromedriver: Selenium downloads nothing.
    browser = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def page(server: ServerThread, driver: Any) -> Any:
    """The page, freshly loaded and set up; the console is drained first."""
    driver.get(server.url + "/")
    wait_for(driver, "return window.timebase && window.timebase.state.ready")
    driver.get_log("browser")
    return driver


def wait_for(driver: Any, script: str, timeout: float = WAIT) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def state(driver: Any) -> dict[str, Any]:
    result: dict[str, Any] = driver.execute_script("return window.timebase.state")
    return result


def load_chart(
    driver: Any, symbol: str, interval: str, start: str, end: str, *, provider: str = ""
) -> dict[str, Any]:
    """Fill the form as a user would and press "Load chart"; the page's state once loaded."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    field = driver.find_element(By.ID, "symbol")
    field.clear()
    field.send_keys(symbol)
    Select(driver.find_element(By.ID, "interval")).select_by_value(interval)
    Select(driver.find_element(By.ID, "provider")).select_by_value(provider)
    driver.execute_script(
        "document.getElementById('start').value = arguments[0];"
        "document.getElementById('end').value = arguments[1];",
        start,
        end,
    )
    loads = state(driver)["loads"]
    driver.find_element(By.ID, "load").click()
    wait_for(driver, f"return window.timebase.state.loads > {loads}")
    return state(driver)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_the_page_loads_and_shows_the_providers(server: ServerThread, page: Any) -> None:
    from selenium.webdriver.common.by import By

    assert page.title == "TimeBase"
    status, body = rest_get(server, "/api/providers")
    assert status == 200
    expected = [p["slug"] for p in body["data"]["providers"]]
    assert {"alpha", "synthetic"} <= set(expected)  # and "live" once it has streamed bars
    assert [p["slug"] for p in state(page)["providers"]] == expected
    rows = page.find_elements(By.CSS_SELECTOR, "#providers tr")
    assert [r.text.split(" ")[1] for r in rows] == [f"({slug})" for slug in expected]
    options = page.find_elements(By.CSS_SELECTOR, "#provider option")
    assert [o.get_attribute("value") for o in options] == ["", *expected]
    assert console_errors(page) == []


def test_the_chart_draws_every_bar_of_a_range(server: ServerThread, page: Any) -> None:
    from selenium.webdriver.common.by import By

    got = load_chart(page, "SYN:ACME", "1d", "2024-01-01", "2024-01-31")
    status, body = rest_get(
        server, "/api/data/SYN:ACME?interval=1d&start=2024-01-01&end=2024-01-31"
    )
    assert status == 200
    bars = body["data"]["data"]
    assert body["data"]["count"] == 31
    assert got["error"] is None
    assert got["candles"] == got["volumes"] == len(bars)
    assert got["first"] == bars[0]["timestamp"].replace("Z", ".000Z")
    assert got["last"] == bars[-1]["timestamp"].replace("Z", ".000Z")
    assert got["provider"] == body["data"]["provider"] == "alpha"
    assert page.find_elements(By.CSS_SELECTOR, "#chart canvas")
    assert page.find_element(By.ID, "status").text.startswith("31 1d bars of SYN:ACME from alpha")

    # One provider's bars: the provider-aware route.
    got = load_chart(page, "syn:acme", "1h", "2024-01-02", "2024-01-02", provider="synthetic")
    status, body = rest_get(
        server,
        "/api/providers/synthetic/data/SYN:ACME?interval=1h&start=2024-01-02&end=2024-01-02",
    )
    assert status == 200
    assert got["candles"] == body["data"]["count"] == 24
    assert got["provider"] == "synthetic"
    assert console_errors(page) == []

    # Discovery: which providers serve it, and why (as the REST API answers).
    page.find_element(By.ID, "discover").click()
    wait_for(page, "return window.timebase.state.discovery !== null")
    status, body = rest_get(server, "/api/symbols/SYN:ACME/providers?interval=1h")
    assert state(page)["discovery"] == body["data"]
    rows = page.find_elements(By.CSS_SELECTOR, "#discovery-candidates tr")
    assert len(rows) == len(body["data"]["candidates"]) == 2
    assert body["data"]["candidates"][0]["reasons"][0] in rows[0].text

    if path := os.environ.get("TIMEBASE_WEB_SCREENSHOT"):
        load_chart(page, "SYN:ACME", "1d", "2024-01-01", "2024-06-30", provider="synthetic")
        page.find_element(By.ID, "discover").click()
        wait_for(page, "return window.timebase.state.discovery.interval === '1d'")
        page.save_screenshot(path)


def test_a_bad_symbol_shows_an_error(server: ServerThread, page: Any) -> None:
    from selenium.webdriver.common.by import By

    load_chart(page, "SYN:ACME", "1d", "2024-01-01", "2024-01-10")
    got = load_chart(page, "NOT A SYMBOL", "1d", "2024-01-01", "2024-01-10")
    status, body = rest_get(
        server, "/api/data/NOT%20A%20SYMBOL?interval=1d&start=2024-01-01&end=2024-01-10"
    )
    assert status == 400
    error = body["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert got["error"] == {"code": "INVALID_REQUEST", "message": error["message"], "status": 400}
    box = page.find_element(By.ID, "error")
    assert box.is_displayed()
    assert box.text == f"INVALID_REQUEST: {error['message']}"
    assert got["candles"] == 0  # the previous chart is cleared

    # The next good load clears the error.
    got = load_chart(page, "SYN:ACME", "1d", "2024-01-01", "2024-01-10")
    assert got["error"] is None
    assert not box.is_displayed()
    page.get_log("browser")  # the 400 answer was logged by the browser, as it should be


def test_warnings_are_shown(server: ServerThread, page: Any) -> None:
    from selenium.webdriver.common.by import By

    server.call(setattr, server.alpha, "fail", ProviderUnavailable("alpha: down for the test"))
    try:
        got = load_chart(page, "SYN:WARN", "1d", "2024-02-01", "2024-02-10")
    finally:
        server.call(setattr, server.alpha, "fail", None)
    assert got["error"] is None
    assert got["candles"] == 10
    assert got["provider"] == "synthetic"
    codes = [w["code"] for w in got["warnings"]]
    assert "PROVIDER_FALLBACK" in codes
    items = page.find_elements(By.CSS_SELECTOR, "#warnings li")
    assert [i.text for i in items] == [f"{w['code']}: {w['message']}" for w in got["warnings"]]
    assert page.find_element(By.ID, "warnings").is_displayed()
    assert console_errors(page) == []


def test_live_bars_arrive_over_the_websocket(server: ServerThread, page: Any) -> None:
    from selenium.webdriver.common.by import By

    # The scripted provider's bar i starts at 2024-03-04T14:00Z + i minutes: after the chart.
    page.find_element(By.ID, "live").click()
    got = load_chart(page, "SYN:LIVE", "1m", "2024-03-03", "2024-03-03")
    assert got["candles"] == 1440
    live = server.live
    assert live is not None
    wait_for(page, "return window.timebase.state.live.subscribed !== null")
    for _ in range(100):
        if ("SYN:LIVE", "1m") in live.subscribed():
            break
        threading.Event().wait(0.05)
    assert ("SYN:LIVE", "1m") in live.subscribed()
    server.call(live.emit, "SYN:LIVE", "1m", 0, final=False)
    server.call(live.emit, "SYN:LIVE", "1m", 0, final=True)
    server.call(live.emit, "SYN:LIVE", "1m", 1, final=False)
    wait_for(page, "return window.timebase.state.live.bars >= 3")
    got = state(page)
    assert got["candles"] == 1442  # two new minutes, the first updated in place
    assert got["last"] == "2024-03-04T14:01:00.000Z"
    assert got["live"]["lastBar"]["close"] == 101.5
    assert got["live"]["lastBar"]["provider"] == "live"
    page.find_element(By.ID, "live").click()  # off again
    assert console_errors(page) == []


def test_the_api_key_is_kept_for_the_browser_session(server: ServerThread, page: Any) -> None:
    from selenium.webdriver.common.by import By

    stored = "return sessionStorage.getItem('timebase.apiKey')"
    try:
        page.find_element(By.ID, "api-key").send_keys("tb_test_key_123")
        page.find_element(By.ID, "key-save").click()
        assert page.execute_script(stored) == "tb_test_key_123"
        assert page.find_element(By.ID, "api-key").get_attribute("value") == ""
        assert "tb_tes…" in page.find_element(By.ID, "key-status").text
        # Entered once: a reload keeps it (and never shows it).
        page.refresh()
        wait_for(page, "return window.timebase && window.timebase.state.ready")
        assert page.execute_script(stored) == "tb_test_key_123"
        assert "tb_tes…" in page.find_element(By.ID, "key-status").text
        # With a key, the stream sends it first ({"type": "auth"}); a server without
        # authentication takes it for a bad control, which the page ignores.
        page.find_element(By.ID, "live").click()
        got = load_chart(page, "SYN:KEY", "1d", "2024-01-01", "2024-01-05")
        assert got["candles"] == 5
        wait_for(page, "return window.timebase.state.live.subscribed !== null")
        live = server.live
        assert live is not None
        for _ in range(100):
            if ("SYN:KEY", "1d") in live.subscribed():
                break
            threading.Event().wait(0.05)
        assert ("SYN:KEY", "1d") in live.subscribed()
        assert state(page)["error"] is None
        page.find_element(By.ID, "key-forget").click()
        assert page.execute_script(stored) is None
        assert console_errors(page) == []
    finally:
        page.execute_script("sessionStorage.clear()")


def test_symbol_search_uses_the_catalogue(server: ServerThread, page: Any) -> None:
    """Typing in the symbol field searches `GET /api/symbols` (the catalogue, filled from the
    synthetic provider's GetSymbols); picking a match fills the field."""
    from selenium.webdriver.common.by import By

    refresh = urllib.request.Request(
        server.url + "/api/symbols/refresh",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(refresh, timeout=WAIT) as resp:
        assert resp.status == 200
    status, body = rest_get(server, "/api/symbols?q=acm&limit=10")
    assert status == 200
    expected = [s["symbol"] for s in body["data"]["symbols"]]
    assert expected[0] == "SYN:ACME"

    field = page.find_element(By.ID, "symbol")
    field.clear()
    searches = state(page)["searches"]
    field.send_keys("acm")
    wait_for(
        page,
        f"const s = window.timebase.state; return s.searches > {searches}"
        " && s.search.query === 'acm'",
    )
    found = state(page)["search"]
    assert [s["symbol"] for s in found["symbols"]] == expected
    assert (found["total"], found["error"]) == (body["data"]["total"], None)
    buttons = page.find_elements(By.CSS_SELECTOR, "#symbol-matches button.match")
    assert [b.text for b in buttons] == expected
    acme = body["data"]["symbols"][0]  # its providers: synthetic lists it, alpha stored bars
    line = page.find_element(By.CSS_SELECTOR, "#symbol-matches li").text
    assert (
        line == f"SYN:ACME Acme Corporation (synthetic) · equity · {', '.join(acme['providers'])}"
    )
    assert "synthetic" in acme["providers"]
    buttons[0].click()
    assert field.get_attribute("value") == "SYN:ACME"
    assert page.find_element(By.ID, "symbol-matches").is_displayed() is False

    searches = state(page)["searches"]
    field.clear()
    field.send_keys("zzzz")
    wait_for(page, f"return window.timebase.state.searches > {searches}")
    assert state(page)["search"]["symbols"] == []
    assert page.find_element(By.ID, "symbol-matches").text == (
        "no symbol in the catalogue matches zzzz"
    )
    assert console_errors(page) == []


def test_symbol_search_by_type_and_provider(server: ServerThread, page: Any) -> None:
    """The type select and the provider select narrow the search (`type=`, `provider=` on
    `GET /api/symbols`); a type alone lists that type's symbols."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    refresh = urllib.request.Request(
        server.url + "/api/symbols/refresh",
        data=b'{"provider": "synthetic"}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(refresh, timeout=WAIT) as resp:
        assert json.load(resp)["data"] == {"providers": {"synthetic": 5}, "total": 5}

    def search(text: str, type_: str, provider: str) -> dict[str, Any]:
        field = page.find_element(By.ID, "symbol")
        field.clear()
        Select(page.find_element(By.ID, "symbol-type")).select_by_value(type_)
        Select(page.find_element(By.ID, "provider")).select_by_value(provider)
        searches = state(page)["searches"]
        if text:
            field.send_keys(text)
        else:
            page.execute_script("window.timebase.searchSymbols('')")
        wait_for(
            page,
            f"const s = window.timebase.state; return s.searches > {searches}"
            f" && s.search.query === {json.dumps(text)} && s.search.type === {json.dumps(type_)}"
            f" && s.search.provider === {json.dumps(provider)}",
        )
        found: dict[str, Any] = state(page)["search"]
        return found

    # the synthetic sample's coin: by type, with or without text, for synthetic or any provider
    for text, provider in (("syn", ""), ("syn", "synthetic"), ("", "synthetic")):
        found = search(text, "crypto", provider)
        assert [(s["symbol"], s["type"]) for s in found["symbols"]] == [("SYN:COIN", "crypto")]
        assert (found["total"], found["error"]) == (1, None)
    lines = [li.text for li in page.find_elements(By.CSS_SELECTOR, "#symbol-matches li")]
    assert lines == ["SYN:COIN Synthetic coin · crypto · synthetic"]
    found = search("syn:", "index", "synthetic")
    assert [s["symbol"] for s in found["symbols"]] == ["SYN:INDEX"]
    # alpha lists nothing (no catalogue): only what it stored, never a synthetic-only symbol
    status, body = rest_get(server, "/api/symbols?q=syn%3Ag&provider=alpha&limit=10")
    assert status == 200
    expected = [s["symbol"] for s in body["data"]["symbols"]]
    assert "SYN:GLOBEX" not in expected
    found = search("syn:g", "", "alpha")
    assert [s["symbol"] for s in found["symbols"]] == expected
    found = search("zzzz", "fx", "alpha")
    assert found["symbols"] == []
    assert page.find_element(By.ID, "symbol-matches").text == (
        "no symbol in the catalogue matches zzzz, type fx, provider alpha"
    )
    assert console_errors(page) == []
