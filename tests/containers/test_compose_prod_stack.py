"""docker-compose.prod.yml for real: the production overlay brought up, scraped by Prometheus,
backed up, destroyed and restored.

The stack is docker-compose.yml + docker-compose.prod.yml, plus the two test overrides (local
stand-ins for the images that cannot be pulled here: the TimescaleDB database, which the backup
service shares, and Prometheus, Debian's package), with local images and secrets made by
deploy/compose/make-secrets.sh. Every service starts but Grafana, which can be neither pulled
nor installed here: it stays in its compose profile (its dashboard is checked in tests/deploy).

The drill follows docs/operations.md:

1. `/api/health` answers over TLS (verified against the stack's CA); plain HTTP gets nothing.
2. A bar round trip with a key: a `read` key made with `timebase keys create` (stored in the
   database) reads SYN:ACME's ten daily bars over HTTPS.
3. The scheduled backup service has written its first dump at start; `run --rm backup once`
   writes another into the backups volume.
4. The gateway stops, the database container and its volume are removed, and an empty database
   starts in a new volume (no `bars_daily` any more).
5. `restore.sh latest` (in the backup service) restores the dump into TimescaleDB (its
   hypertables back); the gateway starts again and the same key reads the same bars, from the
   restored rows.

TLS on every door: gRPC and Flight read the same bars over TLS with a key, plain gRPC gets no
answer.

Monitoring: Prometheus scrapes the gateway's /metrics over TLS with its `read` key (the
gateway refuses the same scrape without one), has loaded TimeBase's rules and evaluates them,
and holds every metric the rules and the dashboard query, with the values the requests imply;
every query of the Grafana dashboard answers data; every service's health check passes.
"""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client.parser import text_string_to_metric_families
from pyarrow import flight

from tests.containers import support
from tests.containers.compose_stack import OVERRIDE, PORTS, PRODUCTION, ROOT, Stack, running
from tests.deploy import monitoring
from tests.support.eventually import wait_until
from timebase.core.build import COMMIT, VERSION
from timebase.v1 import bars_pb2, bars_pb2_grpc

FILES = (
    PRODUCTION,
    ROOT / "docker-compose.prod.yml",
    OVERRIDE,
    ROOT / "tests" / "containers" / "compose.prod.override.yml",
)
#: Every service of the merged files runs but Grafana (profile `grafana`).
SERVICES = ("db", "gateway", *support.PROVIDER_SLUGS, "backup", "prometheus")
HTTPS = f"https://127.0.0.1:{PORTS[2]}"
#: Prometheus, as docker-compose.prod.yml publishes it.
PROMETHEUS = "http://127.0.0.1:9090"
BARS = "/api/data/SYN:ACME?interval=1d&start=2024-01-01T00:00:00Z&end=2024-01-11T00:00:00Z"
DAYS = [f"2024-01-{d:02d}T00:00:00Z" for d in range(1, 11)]
#: Rules as deploy/prometheus/rules/timebase.yml groups them: group → rule names, in order.
RULE_GROUPS = {
    group["name"]: [rule.get("record") or rule["alert"] for rule in group["rules"]]
    for group in yaml.safe_load(monitoring.RULES.read_text())["groups"]
}

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


def tls(stack: Stack) -> ssl.SSLContext:
    """Verifies the gateway's certificate against the stack's CA."""
    ca = Path(stack.env["TIMEBASE_SECRETS_DIR"]) / "ca.crt"
    return ssl.create_default_context(cafile=str(ca))


@pytest.fixture(scope="module")
def stack(
    docker_client: Any,
    *,
    provider_images: dict[str, str],
    gateway_image: str,
    postgres_image: str,
    prometheus_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The prod project with its secrets, every service but Grafana up (the gateway healthy
    over TLS); `down -v` checked after."""
    root = tmp_path_factory.mktemp("prod")
    secrets, files = root / "secrets", root / "files"
    files.mkdir()
    made = subprocess.run(
        ["sh", str(ROOT / "deploy" / "compose" / "make-secrets.sh"), str(secrets)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    env = {"TIMEBASE_SECRETS_DIR": str(secrets), "TIMEBASE_FILES_DIR": str(files)}
    project = Stack(FILES, support.unique("timebase-prod"), env)
    ports = (*PORTS, 9090)
    with running(docker_client, project, lambda up: wait_healthy(up, within=180), (), ports) as up:
        assert sorted(
            up.compose("ps", "--services", "--filter", "status=running").stdout.split()
        ) == sorted(SERVICES)
        yield up


def get(stack: Stack, path: str, key: str | None = None) -> tuple[int, Any]:
    """Status and JSON body of an HTTPS GET to the gateway (certificate verified)."""
    status, body = get_raw(stack, path, key)
    return status, json.loads(body)


def get_raw(stack: Stack, path: str, key: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(HTTPS + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30, context=tls(stack)) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def make_key(stack: Stack, docker_client: Any, name: str) -> str:
    """A `read` key stored in the database (`timebase keys create` in the gateway container)."""
    gateway = stack.container(docker_client, "gateway")
    code, (out, err) = gateway.exec_run(
        ["timebase", "keys", "create", "--scope", "read", "--name", name], demux=True
    )
    assert code == 0, (out, err)
    key: str = out.decode().splitlines()[-1]
    return key


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


def logs(stack: Stack, service: str) -> str:
    done = stack.compose("logs", "--no-color", service)
    return done.stdout + done.stderr


def test_tls_health_key_round_trip_backup_destroy_restore(stack: Stack, docker_client: Any) -> None:
    # 1. TLS on: health over HTTPS, nothing over plain HTTP.
    status, health = get(stack, "/api/health")
    assert (status, health["success"]) == (200, True), health
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        urllib.request.urlopen(f"http://127.0.0.1:{PORTS[2]}/api/health", timeout=10)
    assert get(stack, BARS)[0] == 401

    # 2. A read key stored in the database, and a bar round trip with it.
    key = make_key(stack, docker_client, "restore-drill")
    status, body = get(stack, BARS, key)
    assert status == 200, body
    bars = body["data"]["data"]
    assert [bar["timestamp"] for bar in bars] == DAYS
    assert {bar["provider"] for bar in bars} == {"synthetic"}

    # 3. The scheduled backup dumped at start; a backup now, as the operations guide says.
    wait_until(lambda: "timebase-backup: wrote /backups/timebase-" in logs(stack, "backup"), 120)
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

    # 5. Restore the newest dump into TimescaleDB; the gateway starts again and the same key
    # reads the same bars.
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
    hypertables = stack.psql(
        docker_client,
        "SELECT hypertable_name FROM timescaledb_information.hypertables "
        "WHERE hypertable_name = 'bars_daily'",
    )
    assert hypertables == [["bars_daily"]]
    stack.compose("start", "gateway")
    wait_healthy(stack, within=120)
    status, body = get(stack, BARS, key)
    assert status == 200, body
    assert body["data"]["data"] == bars


def prometheus(path: str, **params: str) -> Any:
    """The `data` of a Prometheus HTTP API answer (status success)."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{PROMETHEUS}{path}{query}", timeout=30) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]


def samples(query: str) -> dict[tuple[tuple[str, str], ...], float]:
    """An instant query's samples: (sorted labels but the name, job and instance) → value."""
    result = prometheus("/api/v1/query", query=query)["result"]
    found = {}
    for sample in result:
        labels = {
            k: v for k, v in sample["metric"].items() if k not in {"__name__", "job", "instance"}
        }
        found[tuple(sorted(labels.items()))] = float(sample["value"][1])
    return found


def served(stack: Stack, key: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of `name` on the gateway's own /metrics now: (sorted labels) → value."""
    status, body = get_raw(stack, "/metrics", key)
    assert status == 200, body
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_prometheus_scrapes_the_gateway_with_its_read_key_and_evaluates_the_rules(
    stack: Stack, docker_client: Any
) -> None:
    # The gateway refuses /metrics without a key: Prometheus' scrapes carry its `read` key.
    status, body = get_raw(stack, "/metrics")
    assert status == 401, body

    # Requests whose metrics the rules and the dashboard query: bars fetched from synthetic
    # (a miss, then a hit), and a fetch local-files refuses (an unknown symbol).
    key = make_key(stack, docker_client, "monitoring")
    fetches = served(stack, key, "timebase_provider_fetch_duration_seconds_count")
    synthetic_fetches = fetches.get((("provider", "synthetic"),), 0.0)
    path = "/api/data/SYN:PROM?interval=1d&start=2024-02-01T00:00:00Z&end=2024-02-08T00:00:00Z"
    for _ in range(2):
        status, body = get(stack, path, key)
        assert (status, len(body["data"]["data"])) == (200, 7), body
    missing = "/api/data/NOPE?provider=local-files&interval=1d&start=2024-02-01&end=2024-02-08"
    status, body = get(stack, missing, key)
    assert status == 404, body

    # The one target: the gateway over HTTPS, up.
    def target() -> dict[str, Any]:
        (only,) = prometheus("/api/v1/targets", state="active")["activeTargets"]
        return dict(only)

    wait_until(lambda: target()["health"] == "up", within=120)
    scraped = target()
    assert scraped["labels"] == {"instance": "gateway:8080", "job": "timebase"}
    assert scraped["scrapeUrl"] == "https://gateway:8080/metrics"
    assert scraped["lastError"] == ""

    # Every metric the rules and the dashboard query, from a scrape after the requests above.
    def names() -> set[str]:
        return set(prometheus("/api/v1/label/__name__/values"))

    wait_until(lambda: monitoring.raw_metrics() <= names(), within=120)
    assert samples("timebase_build_info") == {(("commit", COMMIT), ("version", VERSION)): 1.0}
    assert samples('timebase_provider_fetch_errors_total{provider="local-files"}') == {
        (("provider", "local-files"), ("status", "NOT_FOUND")): 1.0
    }
    # One more fetch from synthetic than before the requests (the drill may have run first).
    wait_until(
        lambda: (
            samples('timebase_provider_fetch_duration_seconds_count{provider="synthetic"}')
            == {(("provider", "synthetic"),): synthetic_fetches + 1}
        ),
        within=60,
    )
    assert samples('timebase_provider_up{provider="synthetic"}') == {
        (("provider", "synthetic"), ("status", "ready")): 1.0
    }
    assert samples('up{job="timebase"}') == {(): 1.0}

    # TimeBase's rules, loaded and evaluated without error.
    def groups() -> list[dict[str, Any]]:
        return list(prometheus("/api/v1/rules")["groups"])

    loaded = {group["name"]: [rule["name"] for rule in group["rules"]] for group in groups()}
    assert loaded == RULE_GROUPS
    wait_until(lambda: all(r["health"] == "ok" for g in groups() for r in g["rules"]), within=120)
    # A recording rule over the scraped series: one sample, without labels.
    wait_until(lambda: list(samples("timebase:store_hit:ratio_rate5m")) == [()], within=120)

    # Every panel of the Grafana dashboard has data: each of its queries answers samples.
    def without_data() -> list[str]:
        exprs = monitoring.dashboard_exprs()
        return [e for e in exprs if not prometheus("/api/v1/query", query=e)["result"]]

    wait_until(lambda: without_data() == [], within=180, interval=2)

    # Every service's own health check passes (Prometheus': `wget` of its /-/ready).
    def health() -> dict[str, str]:
        found = {}
        for service in SERVICES:
            container = stack.container(docker_client, service)
            found[service] = container.attrs["State"]["Health"]["Status"]
        return found

    wait_until(lambda: set(health().values()) == {"healthy"}, within=150)


def test_grpc_and_flight_answer_over_tls_only(stack: Stack, docker_client: Any) -> None:
    """TLS on every door: gRPC and Flight read the same bars over TLS (certificate verified
    against the stack's CA) with a key; plain-text gRPC gets no answer."""
    key = make_key(stack, docker_client, "tls-doors")
    ca = (Path(stack.env["TIMEBASE_SECRETS_DIR"]) / "ca.crt").read_bytes()
    metadata = (("authorization", f"Bearer {key}"),)
    start, end = Timestamp(), Timestamp()
    start.FromDatetime(datetime(2024, 1, 1, tzinfo=UTC))
    end.FromDatetime(datetime(2024, 1, 11, tzinfo=UTC))
    request = bars_pb2.GetBarsRequest(
        symbol="SYN:TLS", interval="1d", start_time=start, end_time=end
    )
    credentials = grpc.ssl_channel_credentials(root_certificates=ca)
    with grpc.secure_channel(f"localhost:{PORTS[0]}", credentials) as channel:
        stub = bars_pb2_grpc.GatewayServiceStub(channel)
        chunks = list(stub.GetBars(request, metadata=metadata, timeout=60))
    stamps = [t for chunk in chunks for t in chunk.timestamps_us]
    closes = [c for chunk in chunks for c in chunk.close]
    first = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
    assert stamps == [first + day * 86_400_000_000 for day in range(10)]
    with grpc.insecure_channel(f"127.0.0.1:{PORTS[0]}") as channel:
        stub = bars_pb2_grpc.GatewayServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            list(stub.GetBars(request, metadata=metadata, timeout=10))
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE

    query = {"symbol": "SYN:TLS", "interval": "1d", "start": "2024-01-01", "end": "2024-01-11"}
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {key}".encode())])
    with flight.FlightClient(f"grpc+tls://localhost:{PORTS[1]}", tls_root_certs=ca) as client:
        descriptor = flight.FlightDescriptor.for_command(json.dumps(query))
        info = client.get_flight_info(descriptor, options)
        tables = [client.do_get(e.ticket, options).read_all() for e in info.endpoints]
    assert [c for t in tables for c in t.column("close").to_pylist()] == closes
