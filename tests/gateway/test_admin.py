"""The admin API: a provider folder added to a configured providers directory is installed and
removed at run time over gRPC (InstallProvider / RemoveProvider) and REST (POST / DELETE
/api/providers), on a running TimeBaseApp (real servers on port 0, the process runtime)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from tests.supervisor.conftest import FAST, gone, provider_folder
from timebase.audit import AuditFilter
from timebase.core.config import Config, DatabaseConfig, ProvidersConfig, RestConfig
from timebase.gateway.history import HistoricalBars
from timebase.gateway.providers import StaticProviders
from timebase.gateway.query import QueryApi
from timebase.grpc.server import GrpcServer
from timebase.rest import RestServer
from timebase.server import TimeBaseApp
from timebase.store import Store
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

# An SDK provider with one daily bar per day of the asked range (close = 100 + day of month).
#: A raw body declared as JSON (bodies of any other type are refused with 415 first).
JSON_BODY = {"Content-Type": "application/json"}

BARS_PROVIDER = """\
import time
import pyarrow as pa
from timebase.sdk import Provider, serve

DAY = 86_400_000_000

class Bars(Provider):
    async def get_historical_data(self, symbol, interval, start, end, limit):
        first = -(-int(start.timestamp() * 1_000_000) // DAY) * DAY
        stamps = list(range(first, int(end.timestamp() * 1_000_000), DAY))
        closes = [100.0 + time.gmtime(ts // 1_000_000).tm_mday for ts in stamps]
        yield pa.RecordBatch.from_pydict({
            "timestamp": pa.array(stamps, pa.int64()),
            "open": closes, "high": [c + 1 for c in closes], "low": [c - 1 for c in closes],
            "close": closes, "volume": [1000.0] * len(stamps),
        })

if __name__ == "__main__":
    serve(Bars)
"""


@pytest.fixture
def dirs(tmp_path: Path) -> Path:
    """tmp_path with an empty bundled folder and an empty providers directory (`addons`)."""
    for name in ("bundled", "addons"):
        (tmp_path / name).mkdir()
    return tmp_path


@pytest.fixture
async def app(dirs: Path, fresh_database_url: str) -> AsyncIterator[TimeBaseApp]:
    """A running gateway with no provider, `tmp_path/addons` its providers directory."""
    tmp_path = dirs
    config = Config(
        grpc_port=0,
        flight_port=0,
        http_port=0,
        data_dir=tmp_path / "data",
        database=DatabaseConfig(url=fresh_database_url),
        providers=ProvidersConfig(
            **FAST,  # type: ignore[arg-type]
            bundled_dir=tmp_path / "bundled",
            directories=(tmp_path / "addons",),
            disabled=("muted",),
        ),
        rest=RestConfig(rate_limit_enabled=False),
    )
    gateway = TimeBaseApp(config)
    await gateway.start()
    try:
        assert gateway.supervisor.providers() == []
        yield gateway
    finally:
        await gateway.stop()


async def _audited(app: TimeBaseApp, door: str) -> list[tuple[Any, ...]]:
    """The audit rows of `door`, oldest first: action, provider, outcome, detail (no error)."""
    assert app.api is not None
    page = await app.api.audit.page(AuditFilter(door=door))
    return [
        (r.action, r.provider, r.outcome, {k: v for k, v in r.detail.items() if k != "error"})
        for r in reversed(page.records)
    ]


def _stub(channel: grpc.aio.Channel) -> Any:  # the aio stub (grpc-stubs types the sync one)
    return v1_grpc.GatewayServiceStub(channel)


async def _rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def test_grpc_install_serves_bars_then_remove_stops_the_process(
    app: TimeBaseApp, tmp_path: Path
) -> None:
    await provider_folder(tmp_path / "addons", "tiny", BARS_PROVIDER)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
        gw = _stub(channel)
        reply = await gw.InstallProvider(v1.InstallProviderRequest(folder="tiny"))
        info = reply.provider
        assert (info.slug, info.status, info.last_error) == ("tiny", "ready", "")
        assert (info.name, info.version, list(info.intervals)) == ("Tiny", "0.1.0", ["1d"])
        assert info.address
        pid = app.supervisor.get("tiny").pid
        assert pid is not None

        request = v1.GetBarsRequest(symbol="SYN:NEW", interval="1d", provider="tiny")
        request.start_time.FromJsonString("2024-01-02T00:00:00Z")
        request.end_time.FromJsonString("2024-01-05T00:00:00Z")
        chunks = [c async for c in gw.GetBars(request)]
        assert [c.provider for c in chunks] == ["tiny"]
        assert list(chunks[0].close) == [102.0, 103.0, 104.0]

        listed = await gw.ListProviders(v1.ListProvidersRequest())
        assert [(p.slug, p.status) for p in listed.providers] == [("tiny", "ready")]

        # Installed twice: ALREADY_EXISTS, by name or by absolute path.
        for folder in ("tiny", str(tmp_path / "addons" / "tiny")):
            err = await _rpc_error(gw.InstallProvider(v1.InstallProviderRequest(folder=folder)))
            assert err.code() == grpc.StatusCode.ALREADY_EXISTS
            assert err.details() == "provider 'tiny' is already installed (remove it first)"

        assert await gw.RemoveProvider(v1.RemoveProviderRequest(slug="tiny")) == (
            v1.RemoveProviderResponse()
        )
        assert await gone(pid)
        # Only its stored bars remain (served from the store; nothing asks the provider).
        listed = await gw.ListProviders(v1.ListProvidersRequest())
        assert [(p.slug, p.status) for p in listed.providers] == [("tiny", "stored")]
        assert app.supervisor.providers() == []

        # The folder stays on disk: installed again, it serves again.
        again = await gw.InstallProvider(v1.InstallProviderRequest(folder="tiny"))
        assert again.provider.status == "ready"

    # Audited: each install and remove, the refused duplicates too (newest last here).
    assert await _audited(app, "grpc") == [
        ("install_provider", "tiny", "ok", {"folder": "tiny", "status": "ready"}),
        ("install_provider", None, "PROVIDER_ALREADY_INSTALLED", {"folder": "tiny"}),
        ("install_provider", None, "PROVIDER_ALREADY_INSTALLED", {"folder": str(tmp_path / "addons" / "tiny")}),
        ("remove_provider", "tiny", "ok", {}),
        ("install_provider", "tiny", "ok", {"folder": "tiny", "status": "ready"}),
    ]  # fmt: skip


async def test_grpc_install_and_remove_errors(app: TimeBaseApp, tmp_path: Path) -> None:
    elsewhere = await provider_folder(tmp_path / "elsewhere", "outside", BARS_PROVIDER)
    await provider_folder(tmp_path / "addons", "muted", BARS_PROVIDER)
    broken = tmp_path / "addons" / "broken"
    await provider_folder(tmp_path / "addons", "broken", BARS_PROVIDER, manifest="slug: [\n")
    bundled, addons, outside, manifest = await asyncio.to_thread(
        lambda: [
            p.resolve()
            for p in (tmp_path / "bundled", tmp_path / "addons", elsewhere, broken / "config.yaml")
        ]
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
        gw = _stub(channel)

        async def install(folder: str) -> grpc.aio.AioRpcError:
            return await _rpc_error(gw.InstallProvider(v1.InstallProviderRequest(folder=folder)))

        err = await install(str(elsewhere))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == (
            f"folder: {outside}: providers are installed from a folder in {bundled}, {addons}"
        )
        err = await install("../elsewhere/outside")
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == (
            f"folder: {outside}: providers are installed from a folder in {bundled}, {addons}"
        )
        err = await install("missing")
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == (
            f"folder: no provider folder 'missing' with a manifest in {bundled}, {addons}"
        )
        err = await install("")
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (err.details() or "").startswith("folder: required")
        err = await install("muted")
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details() == "folder: provider 'muted' is disabled in providers.disabled"
        err = await install("broken")
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (err.details() or "").startswith(f"folder: {manifest}: ")

        err = await _rpc_error(gw.RemoveProvider(v1.RemoveProviderRequest(slug="nobody")))
        assert err.code() == grpc.StatusCode.NOT_FOUND
        assert err.details() == "slug: no installed provider 'nobody'"
        err = await _rpc_error(gw.RemoveProvider(v1.RemoveProviderRequest(slug="Not A Slug")))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (err.details() or "").startswith("slug: 'Not A Slug' is not a provider slug")
    assert app.supervisor.providers() == []


async def test_rest_install_and_remove(app: TimeBaseApp, tmp_path: Path) -> None:
    assert app.rest is not None
    base = app.rest.url
    await provider_folder(tmp_path / "addons", "tiny", BARS_PROVIDER)
    async with aiohttp.ClientSession() as http:

        async def call(method: str, path: str, **kw: Any) -> tuple[int, Any, Any]:
            async with http.request(method, base + path, **kw) as resp:
                return resp.status, await resp.json(), resp.headers

        status, body, headers = await call("POST", "/api/providers", json={"folder": "tiny"})
        assert status == 201, body
        assert body["success"] is True
        assert (body["data"]["slug"], body["data"]["status"]) == ("tiny", "ready")
        assert headers["Location"] == "/api/providers/tiny"
        pid = app.supervisor.get("tiny").pid
        assert pid is not None

        status, body, _ = await call(
            "GET", "/api/providers/tiny/data/SYN:NEW?interval=1d&start=2024-01-02&end=2024-01-03"
        )
        assert status == 200, body
        assert [b["close"] for b in body["data"]["data"]] == [102.0, 103.0]

        status, body, _ = await call("POST", "/api/providers", json={"folder": "tiny"})
        assert status == 409
        assert body["error"] == {
            "code": "PROVIDER_ALREADY_INSTALLED",
            "message": "provider 'tiny' is already installed (remove it first)",
            "details": {"provider": "tiny"},
        }

        status, body, _ = await call("DELETE", "/api/providers/tiny")
        assert status == 200
        assert body["data"] == {"slug": "tiny", "removed": True}
        assert await gone(pid)
        status, body, _ = await call("GET", "/api/providers")
        assert [(p["slug"], p["status"]) for p in body["data"]["providers"]] == [("tiny", "stored")]
        status, body, _ = await call("DELETE", "/api/providers/tiny")
        assert status == 404
        assert body["error"]["code"] == "PROVIDER_NOT_FOUND"
        assert body["error"]["message"] == "slug: no installed provider 'tiny'"

        elsewhere = await provider_folder(tmp_path / "elsewhere", "outside", BARS_PROVIDER)
        status, body, _ = await call("POST", "/api/providers", json={"folder": str(elsewhere)})
        assert status == 400
        assert body["error"]["code"] == "INVALID_REQUEST"
        assert body["error"]["details"]["field"] == "folder"
        assert "providers are installed from a folder in" in body["error"]["message"]

        bad: list[tuple[dict[str, Any], str]] = [
            ({"data": b"{not json", "headers": JSON_BODY}, "body: not valid JSON"),
            ({"data": b"", "headers": JSON_BODY}, "body: not valid JSON"),
            ({"json": ["tiny"]}, "body: expected a JSON object with folder"),
            ({"json": {}}, "folder: required"),
            ({"json": {"folder": 3}}, "folder: required"),
            (
                {"json": {"folder": "tiny", "url": "x"}},
                "url: unknown field (known: folder, repository, slug)",
            ),
        ]
        for kw, message in bad:
            status, body, _ = await call("POST", "/api/providers", **kw)
            assert status == 400, (kw, body)
            assert body["error"]["code"] == "INVALID_REQUEST"
            assert body["error"]["message"].startswith(message), (kw, body)
    assert app.supervisor.providers() == []
    audited = await _audited(app, "rest")
    assert audited[:4] == [
        ("install_provider", "tiny", "ok", {"folder": "tiny", "status": "ready"}),
        ("install_provider", None, "PROVIDER_ALREADY_INSTALLED", {"folder": "tiny"}),
        ("remove_provider", "tiny", "ok", {}),
        ("remove_provider", "tiny", "PROVIDER_NOT_FOUND", {}),
    ]
    assert [(a, o) for a, _, o, _ in audited[4:]] == [("install_provider", "INVALID_REQUEST")] * 7


async def test_admin_without_a_supervisor_is_unimplemented(fresh_database_url: str) -> None:
    """Servers built without a supervisor (tests, remote-only set-ups): UNIMPLEMENTED / 501."""
    store = Store(fresh_database_url, pool_size=2, run_retention=False)
    await store.start()
    history = HistoricalBars(store, StaticProviders())
    api = QueryApi(history)
    rest = RestServer(api, port=0, config=RestConfig(rate_limit_enabled=False))
    server = GrpcServer("127.0.0.1", 0)
    server.attach(api)
    await server.start()
    await rest.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            err = await _rpc_error(
                _stub(channel).InstallProvider(v1.InstallProviderRequest(folder="x"))
            )
            assert err.code() == grpc.StatusCode.UNIMPLEMENTED
            assert "without a provider supervisor" in (err.details() or "")
            err = await _rpc_error(
                _stub(channel).RemoveProvider(v1.RemoveProviderRequest(slug="x"))
            )
            assert err.code() == grpc.StatusCode.UNIMPLEMENTED
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{rest.url}/api/providers", json={"folder": "x"}) as resp:
                assert resp.status == 501
                assert (await resp.json())["error"]["code"] == "NOT_IMPLEMENTED"
            async with http.delete(f"{rest.url}/api/providers/x") as resp:
                assert resp.status == 501
    finally:
        await rest.stop()
        await server.stop(0.1)
        await history.stop()
        await store.stop()
