"""Provider repositories: an add-on installed from a local Git repository (file://) over REST,
gRPC and the CLI, updated, refreshed, enabled/disabled (kept across a restart) and uninstalled;
each bad repository refused with 400/409 and nothing changed. Real gateway, real provider
processes, REST answers validated against the OpenAPI document."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from tests.repos.support import SLUG, commit, head, repository, write_addon
from tests.rest.openapi_check import validate
from tests.supervisor.conftest import FAST, gone
from timebase.core.config import Config, DatabaseConfig, ProvidersConfig, RestConfig
from timebase.server import TimeBaseApp
from timebase.store.audit import AuditFilter
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

PROVIDERS = "/api/providers"
ONE = "/api/providers/{slug}"


def _config(tmp_path: Path, database_url: str) -> Config:
    for name in ("bundled", "addons"):
        (tmp_path / name).mkdir(exist_ok=True)
    return Config(
        grpc_port=0,
        flight_port=0,
        http_port=0,
        data_dir=tmp_path / "data",
        database=DatabaseConfig(url=database_url),
        providers=ProvidersConfig(
            **FAST,  # type: ignore[arg-type]
            bundled_dir=tmp_path / "bundled",
            directories=(tmp_path / "addons",),
        ),
        rest=RestConfig(rate_limit_enabled=False),
    )


@contextlib.asynccontextmanager
async def _running(config: Config) -> AsyncIterator[TimeBaseApp]:
    gateway = TimeBaseApp(config)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


@pytest.fixture
async def app(tmp_path: Path, fresh_database_url: str) -> AsyncIterator[TimeBaseApp]:
    config = await asyncio.to_thread(_config, tmp_path, fresh_database_url)
    async with _running(config) as gateway:
        yield gateway


class Http:
    def __init__(self, app: TimeBaseApp, session: aiohttp.ClientSession) -> None:
        assert app.rest is not None
        self.base = app.rest.url
        self.session = session

    async def call(
        self, method: str, path: str, spec_path: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        """(status, body); the body is checked against the document for `spec_path`."""
        async with self.session.request(method, self.base + path, **kw) as resp:
            body = await resp.json()
            if spec_path is not None:
                validate(spec_path, method.lower(), resp.status, body)
            return resp.status, body


@contextlib.asynccontextmanager
async def _http(app: TimeBaseApp) -> AsyncIterator[Http]:
    async with aiohttp.ClientSession() as session:
        yield Http(app, session)


def _saved(app: TimeBaseApp) -> dict[str, Any]:
    file = app.config.data_dir / "provider-admin.json"
    return json.loads(file.read_text()) if file.is_file() else {}


def _clones(app: TimeBaseApp) -> list[str]:
    root = app.config.data_dir / "repositories"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


async def _closes(http: Http, start: str, end: str) -> list[float]:
    status, body = await http.call(
        "GET", f"/api/providers/{SLUG}/data/SYN:ACME?interval=1d&start={start}&end={end}"
    )
    assert status == 200, body
    return [bar["close"] for bar in body["data"]["data"]]


async def test_rest_install_update_refresh_uninstall(app: TimeBaseApp, tmp_path: Path) -> None:
    source = tmp_path / "source"
    url = await repository(source)
    first = await asyncio.to_thread(head, source)
    async with _http(app) as http:
        status, body = await http.call(
            "POST", PROVIDERS, PROVIDERS, json={"repository": url, "slug": SLUG}
        )
        assert status == 201, body
        info = body["data"]
        assert (info["slug"], info["status"], info["name"], info["version"]) == (
            SLUG, "ready", "Acme Synth", "1.0.0"
        )  # fmt: skip
        assert (info["repository"], info["commit"], info["enabled"]) == (url, first, True)
        pid = app.supervisor.get(SLUG).pid
        assert pid is not None
        closes = await _closes(http, "2024-01-02", "2024-01-04")
        assert len(closes) == 3
        clone = app.config.data_dir / "repositories" / SLUG
        assert await asyncio.to_thread((clone / SLUG / "config.yaml").is_file)
        assert await asyncio.to_thread(_saved, app) == {
            "version": 1,
            "installed": {SLUG: {"repository": url, "folder": SLUG, "commit": first}},
            "disabled": [],
        }

        # Update: a new version is committed upstream; pulled, then restarted.
        def bump() -> str:
            manifest = source / SLUG / "config.yaml"
            manifest.write_text(manifest.read_text().replace('"1.0.0"', '"1.1.0"'))
            return commit(source, "1.1.0")

        second = await asyncio.to_thread(bump)
        status, body = await http.call(
            "POST", f"{ONE.format(slug=SLUG)}/update", ONE + "/update", json={}
        )
        assert status == 200, body
        assert (body["data"]["status"], body["data"]["version"]) == ("ready", "1.1.0")
        assert body["data"]["commit"] == second != first
        assert await gone(pid)
        assert app.supervisor.get(SLUG).pid not in (None, pid)
        assert await _closes(http, "2024-01-02", "2024-01-04") == closes
        assert (await asyncio.to_thread(_saved, app))["installed"][SLUG]["commit"] == second

        # Refresh: the manifest on disk is read again (here: one interval fewer), no restart.
        pid = app.supervisor.get(SLUG).pid

        def narrow() -> None:
            manifest = clone / SLUG / "config.yaml"
            manifest.write_text(
                manifest.read_text().replace(
                    "intervals: [1m, 5m, 15m, 30m, 1h, 4h, 1d, 1wk, 1mo]", "intervals: [1d]"
                )
            )

        await asyncio.to_thread(narrow)
        status, body = await http.call(
            "POST", f"{ONE.format(slug=SLUG)}/refresh", ONE + "/refresh", json={}
        )
        assert status == 200, body
        assert body["data"]["intervals"] == ["1d"]
        assert app.supervisor.get(SLUG).pid == pid
        assert pid is not None

        # Uninstall: the process, the clone and the saved entry are gone.
        status, body = await http.call("DELETE", ONE.format(slug=SLUG), ONE)
        assert (status, body["data"]) == (200, {"slug": SLUG, "removed": True})
        assert await gone(pid)
        assert await asyncio.to_thread(_clones, app) == []
        assert (await asyncio.to_thread(_saved, app))["installed"] == {}
        status, body = await http.call(
            "POST", f"{ONE.format(slug=SLUG)}/update", ONE + "/update", json={}
        )
        assert (status, body["error"]["code"]) == (404, "PROVIDER_NOT_FOUND")

        # Installed again from the same URL: the slug is free again.
        status, body = await http.call("POST", PROVIDERS, PROVIDERS, json={"repository": url})
        assert (status, body["data"]["status"]) == (201, "ready")


async def test_bad_repositories_are_refused_and_change_nothing(
    app: TimeBaseApp, tmp_path: Path
) -> None:
    good = await repository(tmp_path / "good")
    no_listing = await repository(tmp_path / "no-listing", listing=None)
    bad_yaml = await repository(tmp_path / "bad-yaml", listing="name: [unclosed\n")
    no_name = await repository(tmp_path / "no-name", listing="url: https://example.org\n")
    bad_list = await repository(tmp_path / "bad-list", listing="name: X\naddons: [../etc]\n")
    two = await repository(tmp_path / "two", addons=(SLUG, "acme-two"))

    # A repository whose add-on has an invalid manifest (committed as such).
    bad_manifest_root = tmp_path / "bad-manifest"
    bad_manifest = await repository(bad_manifest_root, listing="name: Broken\n")

    def corrupt() -> None:
        (bad_manifest_root / SLUG / "config.yaml").write_text("slug: [\n")
        commit(bad_manifest_root, "broken")

    await asyncio.to_thread(corrupt)
    missing = (tmp_path / "nowhere").as_uri()
    # A providers-directory provider already uses the slug.
    await asyncio.to_thread(write_addon, tmp_path / "addons", "taken")
    taken = await repository(tmp_path / "taken-repo", addons=("taken",))

    async with _http(app) as http:
        status, body = await http.call(
            "POST", PROVIDERS, PROVIDERS, json={"repository": good, "slug": SLUG}
        )
        assert status == 201, body
        before = await asyncio.to_thread(_saved, app)
        cases: list[tuple[dict[str, Any], int, str, str]] = [
            ({"repository": missing}, 400, "INVALID_REQUEST",
             f"repository: {missing}: git clone failed: "),
            ({"repository": no_listing}, 400, "INVALID_REQUEST",
             f"repository: {no_listing}: repository.yaml: not found at the repository's root"),
            ({"repository": bad_yaml}, 400, "INVALID_REQUEST",
             f"repository: {bad_yaml}: repository.yaml: not valid YAML"),
            ({"repository": no_name}, 400, "INVALID_REQUEST",
             f"repository: {no_name}: repository.yaml: name: required"),
            ({"repository": bad_list}, 400, "INVALID_REQUEST",
             f"repository: {bad_list}: repository.yaml: addons[0]: '../etc' must be a folder "
             "inside the repository"),
            ({"repository": bad_manifest}, 400, "INVALID_REQUEST",
             f"repository: {bad_manifest}: {SLUG}/config.yaml: "),
            ({"repository": two}, 400, "INVALID_REQUEST",
             f"slug: required: the repository lists several add-ons: {SLUG}, acme-two"),
            ({"repository": two, "slug": "acme-three"}, 400, "INVALID_REQUEST",
             f"slug: the repository lists no add-on 'acme-three' (it lists: {SLUG}, acme-two)"),
            ({"repository": good}, 409, "PROVIDER_ALREADY_INSTALLED",
             f"provider '{SLUG}' is already installed (remove it first)"),
            ({"repository": taken}, 409, "PROVIDER_ALREADY_INSTALLED",
             "provider 'taken' is already installed (remove it first)"),
            ({"repository": "/srv/repo"}, 400, "INVALID_REQUEST",
             "repository: '/srv/repo' is not a Git URL"),
            ({"repository": "ext::sh -c touch% /tmp/pwned"}, 400, "INVALID_REQUEST",
             "repository: not a usable URL"),
            ({"repository": good, "folder": "x"}, 400, "INVALID_REQUEST",
             "folder: give a folder or a repository, not both"),
        ]  # fmt: skip
        for request, code, error, message in cases:
            status, body = await http.call("POST", PROVIDERS, PROVIDERS, json=request)
            assert (status, body["error"]["code"]) == (code, error), (request, body)
            assert body["error"]["message"].startswith(message), (request, body)
        # Nothing changed: one provider, one clone, the same saved state.
        assert [s.slug for s in app.supervisor.providers()] == [SLUG]
        assert await asyncio.to_thread(_clones, app) == [SLUG]
        assert await asyncio.to_thread(_saved, app) == before

        # Update and refresh of a provider that is not from a repository: 400 naming it.
        status, body = await http.call(
            "POST", "/api/providers/nobody/update", ONE + "/update", json={}
        )
        assert (status, body["error"]["code"]) == (404, "PROVIDER_NOT_FOUND")
        status, body = await http.call(
            "PATCH", "/api/providers/nobody", ONE, json={"enabled": False}
        )
        assert (status, body["error"]["code"]) == (404, "PROVIDER_NOT_FOUND")
        for bad in ({}, {"enabled": "no"}, {"enabled": False, "x": 1}):
            status, body = await http.call("PATCH", f"/api/providers/{SLUG}", ONE, json=bad)
            assert (status, body["error"]["code"]) == (400, "INVALID_REQUEST"), bad


async def test_update_that_breaks_the_manifest_is_rolled_back(
    app: TimeBaseApp, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    url = await repository(source)
    first = await asyncio.to_thread(head, source)

    def corrupt() -> None:
        (source / SLUG / "config.yaml").write_text("slug: [\n")
        commit(source, "broken")

    async with _http(app) as http:
        status, body = await http.call("POST", PROVIDERS, PROVIDERS, json={"repository": url})
        assert status == 201, body
        pid = app.supervisor.get(SLUG).pid
        await asyncio.to_thread(corrupt)
        status, body = await http.call(
            "POST", f"/api/providers/{SLUG}/update", ONE + "/update", json={}
        )
        assert (status, body["error"]["code"]) == (400, "INVALID_REQUEST")
        assert body["error"]["message"].startswith(f"repository: {url}: {SLUG}/config.yaml: ")
        # Still the old commit, still running the same process.
        clone = app.config.data_dir / "repositories" / SLUG
        assert await asyncio.to_thread(head, clone) == first
        assert app.supervisor.get(SLUG).pid == pid
        assert (await asyncio.to_thread(_saved, app))["installed"][SLUG]["commit"] == first


async def test_disabled_stays_disabled_across_a_restart(
    tmp_path: Path, fresh_database_url: str
) -> None:
    config = await asyncio.to_thread(_config, tmp_path, fresh_database_url)
    url = await repository(tmp_path / "source")
    async with _running(config) as app, _http(app) as http:
        status, body = await http.call("POST", PROVIDERS, PROVIDERS, json={"repository": url})
        assert status == 201, body
        pid = app.supervisor.get(SLUG).pid
        assert pid is not None
        status, body = await http.call("PATCH", ONE.format(slug=SLUG), ONE, json={"enabled": False})
        assert status == 200, body
        assert (body["data"]["status"], body["data"]["enabled"]) == ("disabled", False)
        assert await gone(pid)
        # Idempotent.
        status, body = await http.call("PATCH", ONE.format(slug=SLUG), ONE, json={"enabled": False})
        assert (status, body["data"]["status"]) == (200, "disabled")
        # A disabled provider is listed, but not asked for bars.
        status, body = await http.call("GET", PROVIDERS, PROVIDERS)
        assert [(p["slug"], p["status"]) for p in body["data"]["providers"]] == [(SLUG, "disabled")]

    async with _running(config) as app, _http(app) as http:
        state = app.supervisor.get(SLUG)
        assert (state.status.value, state.pid, state.repository) == ("disabled", None, url)
        status, body = await http.call("PATCH", ONE.format(slug=SLUG), ONE, json={"enabled": True})
        assert (status, body["data"]["status"], body["data"]["enabled"]) == (200, "ready", True)

    async with _running(config) as app:
        assert app.supervisor.get(SLUG).status.value == "ready"
        assert app.supervisor.saved.disabled == frozenset()


def _stub(channel: grpc.aio.Channel) -> Any:
    return v1_grpc.GatewayServiceStub(channel)


async def test_grpc_install_update_enable_refresh_remove(app: TimeBaseApp, tmp_path: Path) -> None:
    source = tmp_path / "source"
    url = await repository(source)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc.port}") as channel:
        gw = _stub(channel)
        reply = await gw.InstallProvider(v1.InstallProviderRequest(repository=url, slug=SLUG))
        info = reply.provider
        assert (info.slug, info.status, info.repository) == (SLUG, "ready", url)
        assert info.commit == await asyncio.to_thread(head, source)

        with pytest.raises(grpc.aio.AioRpcError) as err:
            await gw.InstallProvider(v1.InstallProviderRequest(repository=url))
        assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await gw.InstallProvider(v1.InstallProviderRequest(repository="file:///nowhere"))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (err.value.details() or "").startswith(
            "repository: file:///nowhere: git clone failed: "
        )

        reply = await gw.UpdateProvider(v1.UpdateProviderRequest(slug=SLUG))
        assert (reply.provider.status, reply.provider.commit) == ("ready", info.commit)
        reply = await gw.SetProviderEnabled(v1.SetProviderEnabledRequest(slug=SLUG))
        assert reply.provider.status == "disabled"
        reply = await gw.SetProviderEnabled(v1.SetProviderEnabledRequest(slug=SLUG, enabled=True))
        assert reply.provider.status == "ready"
        reply = await gw.RefreshProvider(v1.RefreshProviderRequest(slug=SLUG))
        assert reply.provider.version == "1.0.0"
        await gw.RemoveProvider(v1.RemoveProviderRequest(slug=SLUG))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await gw.UpdateProvider(v1.UpdateProviderRequest(slug=SLUG))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert app.supervisor.providers() == []


async def _timebase(app: TimeBaseApp, *args: str) -> tuple[int, str, str]:
    """`timebase ARGS` as a user runs it (a subprocess) against `app`'s gRPC port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBASE_")}
    env |= {"TIMEBASE_GRPC_PORT": str(app.grpc.port), "TIMEBASE_LOG_LEVEL": "ERROR"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "timebase.cli.main",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_install_disable_enable_update_remove(app: TimeBaseApp, tmp_path: Path) -> None:
    url = await repository(tmp_path / "source")
    code, out, err = await _timebase(app, "providers", "install", url)
    assert code == 0, err
    assert f"slug        {SLUG}" in out
    assert "status      ready" in out
    assert f"repository  {url}" in out

    code, out, err = await _timebase(app, "providers", "disable", SLUG)
    assert (code, "status      disabled" in out) == (0, True), err
    code, out, err = await _timebase(app, "providers")
    assert code == 0, err
    assert out.splitlines()[1].split()[:2] == [SLUG, "disabled"]
    code, out, err = await _timebase(app, "providers", "enable", SLUG)
    assert (code, "status      ready" in out) == (0, True), err
    code, out, err = await _timebase(app, "providers", "update", SLUG)
    assert (code, "status      ready" in out) == (0, True), err
    code, out, err = await _timebase(app, "providers", "refresh", SLUG)
    assert code == 0, err

    code, out, err = await _timebase(app, "providers", "install", "file:///nowhere")
    assert code == 2
    assert err.startswith("timebase: repository: file:///nowhere: git clone failed: ")
    code, out, err = await _timebase(app, "providers", "frobnicate", SLUG)
    assert code == 2
    assert "providers: unknown action 'frobnicate'" in err
    code, out, err = await _timebase(app, "providers", "update")
    assert code == 2
    assert "providers update: wrong arguments" in err

    code, out, err = await _timebase(app, "providers", "remove", SLUG)
    assert (code, out) == (0, f"{SLUG}: removed\n"), err
    assert app.supervisor.providers() == []
    assert await asyncio.to_thread(_clones, app) == []


async def test_a_password_in_a_repository_url_is_never_shown_nor_logged(
    app: TimeBaseApp, caplog: pytest.LogCaptureFixture
) -> None:
    """Git never prompts, so a private repository's token travels in its URL: the refusal, the
    audit log and the gateway's log show the URL with the password replaced by `***`."""
    url = "https://alice:s3cret-token@127.0.0.1:1/acme.git"
    async with _http(app) as http:
        status, body = await http.call("POST", PROVIDERS, PROVIDERS, json={"repository": url})
    assert (status, body["error"]["code"]) == (400, "INVALID_REQUEST")
    assert body["error"]["message"].startswith(
        "repository: https://alice:***@127.0.0.1:1/acme.git: git clone failed: "
    ), body
    assert app.store is not None
    records = await app.store.audit_records(AuditFilter(action="install_provider"))
    assert [r.detail["repository"] for r in records] == ["https://alice:***@127.0.0.1:1/acme.git"]
    assert "s3cret" not in json.dumps(body)
    assert "s3cret" not in repr([(r.detail, r.outcome) for r in records])
    assert "s3cret" not in caplog.text
