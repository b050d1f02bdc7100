"""docker-compose.yml and the Dockerfiles: the production stack's structure, checked without Docker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from timebase.core.config import Config, load_config
from timebase.sdk import load_manifest

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_DIRS = sorted(p.parent for p in (ROOT / "providers").glob("*/config.yaml"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _dockerfile(service: dict[str, Any]) -> Path:
    build = service["build"]
    assert build["context"] == "."
    path = ROOT / str(build["dockerfile"])
    assert path.is_file(), path
    return path


def test_database_is_timescaledb_on_a_supported_postgresql(compose: dict[str, Any]) -> None:
    db = compose["services"]["db"]
    match = re.fullmatch(r"timescale/timescaledb:2\.(\d+)\.\d+-pg(\d+)", db["image"])
    assert match, db["image"]
    assert int(match.group(1)) >= 17
    assert 15 <= int(match.group(2)) <= 18
    assert "timescale-data:/var/lib/postgresql/data" in db["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert db["networks"] == ["backend"]
    assert "ports" not in db


def test_only_the_gateway_publishes_ports_and_only_on_loopback(compose: dict[str, Any]) -> None:
    published = {name for name, svc in compose["services"].items() if svc.get("ports")}
    assert published == {"gateway"}
    ports = compose["services"]["gateway"]["ports"]
    defaults = Config()
    assert ports == [
        f"127.0.0.1:{defaults.grpc_port}:{defaults.grpc_port}",
        f"127.0.0.1:{defaults.flight_port}:{defaults.flight_port}",
        f"127.0.0.1:{defaults.http_port}:{defaults.http_port}",
    ]
    networks = compose["networks"]
    assert networks["backend"] == {"internal": True}
    assert networks["providers"] == {"internal": True}


def test_gateway_service_is_hardened_and_waits_for_the_database(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    dockerfile = _dockerfile(gateway).read_text()
    assert dockerfile.startswith("#")
    assert "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER 10001$", dockerfile, re.M)
    assert "HEALTHCHECK" in dockerfile
    assert gateway["user"] == "10001"
    assert gateway["read_only"] is True
    assert gateway["cap_drop"] == ["ALL"]
    assert gateway["security_opt"] == ["no-new-privileges:true"]
    assert gateway["depends_on"] == {"db": {"condition": "service_healthy"}}
    url = gateway["environment"]["TIMEBASE_DATABASE_URL"]
    assert url.startswith("postgresql://timebase:")
    assert url.endswith("@db:5432/timebase")


def test_gateway_configuration_reaches_every_provider_service(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    config_path = gateway["environment"]["TIMEBASE_CONFIG"]
    dockerfile = _dockerfile(gateway).read_text()
    copied = re.search(rf"^COPY (\S+) {re.escape(config_path)}$", dockerfile, re.M)
    assert copied, f"the gateway image does not provide {config_path}"
    config = load_config(ROOT / copied.group(1), environ={})
    assert config.providers.runtime == "remote"
    assert config.providers.bundled_dir is not None
    assert f"COPY providers {config.providers.bundled_dir}" in dockerfile
    slugs = {load_manifest(d / "config.yaml").slug for d in PROVIDER_DIRS}
    assert set(config.providers.settings) == slugs
    for slug, settings in config.providers.settings.items():
        assert settings.address == f"{slug}:50052"
        assert slug in compose["services"]


@pytest.mark.parametrize("folder", PROVIDER_DIRS, ids=lambda p: p.name)
def test_each_provider_runs_hardened_on_the_internal_network(
    compose: dict[str, Any], folder: Path
) -> None:
    slug = load_manifest(folder / "config.yaml").slug
    service = compose["services"][slug]
    assert _dockerfile(service) == folder / "Dockerfile"
    dockerfile = (folder / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER (?!0\b|root\b)\S+$", dockerfile, re.M), "must not run as root"
    assert "HEALTHCHECK" in dockerfile
    assert "timebase.sdk.healthcheck" in dockerfile
    assert "ports" not in service
    assert "providers" in service["networks"]
    assert set(service["networks"]) <= {"providers", "egress"}
    assert service["user"] != "0"
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert service["mem_limit"] == "256m"
    assert service["healthcheck"]["test"][-1] == "timebase.sdk.healthcheck"
    for name in ("config.yaml", "Dockerfile", "requirements.txt", "src/main.py", "README.md"):
        assert (folder / name).is_file(), f"{folder.name}/{name} is missing"


def test_gateway_ships_with_api_keys_on(compose: dict[str, Any]) -> None:
    """The gateway listens on every address of its container: keys on (docs/security.md)."""
    gateway = compose["services"]["gateway"]
    assert gateway["environment"]["TIMEBASE_HOST"] == "0.0.0.0"
    assert gateway["environment"]["TIMEBASE_AUTH_MODE"] == "keys"
    config = load_config(
        ROOT / "gateway" / "compose.timebase.yaml",
        environ={k: str(v) for k, v in gateway["environment"].items() if k != "TIMEBASE_CONFIG"},
    )
    assert config.auth.enabled
