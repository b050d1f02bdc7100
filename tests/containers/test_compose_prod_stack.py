"""docker-compose.prod.yml for real: the production overlay brought up, backed up, destroyed and
restored.

The stack is docker-compose.yml + docker-compose.prod.yml, plus the two test overrides (the local
TimescaleDB stand-in for the database and the backup service, which cannot be pulled here),
with local images and secrets made by deploy/compose/make-secrets.sh. Prometheus and Grafana are
not started: their images cannot be pulled here (their files are checked in tests/deploy). The
drill follows docs/operations.md:

1. `/api/health` answers over TLS (verified against the stack's CA); plain HTTP gets nothing.
2. A bar round trip with a key: a `read` key made with `timebase keys create` (stored in the
   database) reads SYN:ACME's ten daily bars over HTTPS.
3. `run --rm backup once` writes a dump into the backups volume.
4. The gateway stops, the database container and its volume are removed, and an empty database
   starts in a new volume (no `bars_daily` any more).
5. `restore.sh latest` (in the backup service) restores the dump; the gateway starts again and
   the same key reads the same bars, from the restored rows.
"""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.containers import support
from tests.containers.compose_stack import OVERRIDE, PORTS, PRODUCTION, ROOT, Stack, running

FILES = (
    PRODUCTION,
    ROOT / "docker-compose.prod.yml",
    OVERRIDE,
    ROOT / "tests" / "containers" / "compose.prod.override.yml",
)
#: What runs: the database, the gateway and one provider (the one the round trip reads).
SERVICES = ("db", "gateway", "synthetic")
HTTPS = f"https://127.0.0.1:{PORTS[2]}"
BARS = "/api/data/SYN:ACME?interval=1d&start=2024-01-01T00:00:00Z&end=2024-01-11T00:00:00Z"
DAYS = [f"2024-01-{d:02d}T00:00:00Z" for d in range(1, 11)]

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


def tls(stack: Stack) -> ssl.SSLContext:
    """Verifies the gateway's certificate against the stack's CA."""
    ca = Path(stack.env["TIMEBASE_SECRETS_DIR"]) / "ca.crt"
    return ssl.create_default_context(cafile=str(ca))


@pytest.fixture(scope="module")
def stack(
    docker_client: Any,
    provider_images: dict[str, str],
    gateway_image: str,
    postgres_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The prod project with its secrets, up (healthy over TLS); `down -v` checked after."""
    secrets = tmp_path_factory.mktemp("prod") / "secrets"
    made = subprocess.run(
        ["sh", str(ROOT / "deploy" / "compose" / "make-secrets.sh"), str(secrets)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    project = Stack(FILES, support.unique("timebase-prod"), {"TIMEBASE_SECRETS_DIR": str(secrets)})
    with running(docker_client, project, lambda up: wait_healthy(up, within=180), SERVICES) as up:
        yield up


def get(stack: Stack, path: str, key: str | None = None) -> tuple[int, Any]:
    """Status and JSON body of an HTTPS GET to the gateway (certificate verified)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(HTTPS + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30, context=tls(stack)) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def wait_healthy(stack: Stack, within: float) -> None:
    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, body = get(stack, "/api/health")
            if status == 200:
                return
            last = (status, body)
        except (urllib.error.URLError, ConnectionError, http.client.HTTPException) as exc:
            last = exc
        time.sleep(1)
    logs = stack.compose("logs", "--tail=40", "gateway", check=False).stdout
    raise AssertionError(f"the gateway was not healthy over TLS within {within} s: {last}\n{logs}")


def wait_database(docker_client: Any, stack: Stack, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        db = stack.container(docker_client, "db")
        # Over TCP: while the entrypoint initialises, the server listens on its socket only.
        code, _ = db.exec_run(["pg_isready", "-h", "127.0.0.1", "-U", "timebase", "-d", "timebase"])
        if code == 0:
            return
        time.sleep(1)
    raise AssertionError(f"the new database did not accept connections within {within} s")


def test_tls_health_key_round_trip_backup_destroy_restore(stack: Stack, docker_client: Any) -> None:
    # 1. TLS on: health over HTTPS, nothing over plain HTTP.
    status, health = get(stack, "/api/health")
    assert (status, health["success"]) == (200, True), health
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        urllib.request.urlopen(f"http://127.0.0.1:{PORTS[2]}/api/health", timeout=10)
    assert get(stack, BARS)[0] == 401

    # 2. A read key stored in the database, and a bar round trip with it.
    gateway = stack.container(docker_client, "gateway")
    code, (out, err) = gateway.exec_run(
        ["timebase", "keys", "create", "--scope", "read", "--name", "restore-drill"], demux=True
    )
    assert code == 0, (out, err)
    key = out.decode().splitlines()[-1]
    status, body = get(stack, BARS, key)
    assert status == 200, body
    bars = body["data"]["data"]
    assert [bar["timestamp"] for bar in bars] == DAYS
    assert {bar["provider"] for bar in bars} == {"synthetic"}

    # 3. A backup, as the operations guide says.
    backup = stack.compose("run", "--rm", "--no-deps", "-T", "backup", "once")
    assert "timebase-backup: wrote /backups/timebase-" in backup.stdout + backup.stderr

    # 4. Destroy the database and its volume; an empty one starts in a new volume.
    stack.compose("stop", "gateway")
    stack.compose("rm", "--stop", "--force", "db")
    (volume,) = docker_client.volumes.list(
        filters={
            "label": [
                f"com.docker.compose.project={stack.project}",
                "com.docker.compose.volume=timescale-data",
            ]
        }
    )
    volume.remove()
    stack.compose("up", "-d", "--no-build", "db")
    wait_database(docker_client, stack)
    assert stack.psql(docker_client, "SELECT to_regclass('bars_daily') IS NULL") == [["t"]]

    # 5. Restore the newest dump; the gateway starts again and the same key reads the same bars.
    restore = stack.compose(
        "run", "--rm", "--no-deps", "-T", "--entrypoint", "sh", "backup",
        "/opt/timebase-backup/restore.sh", "latest",
    )  # fmt: skip
    assert "timebase-restore: restored /backups/timebase-" in restore.stdout + restore.stderr
    stored = stack.psql(
        docker_client,
        "SELECT count(*) FROM bars_daily WHERE symbol = 'SYN:ACME' "
        "AND ts >= '2024-01-01' AND ts < '2024-01-11'",
    )
    assert stored == [["10"]]
    stack.compose("start", "gateway")
    wait_healthy(stack, within=120)
    status, body = get(stack, BARS, key)
    assert status == 200, body
    assert body["data"]["data"] == bars
