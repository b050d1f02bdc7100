"""docker-compose.prod.yml over docker-compose.yml, as `docker-compose config` merges them:
secrets from files, TLS and keys, restart policies, limits, health checks, log rotation, the
backup, Prometheus and Grafana services. (The stack itself runs in tests/containers.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose")
PROD_CONFIG = ROOT / "deploy" / "compose" / "timebase.prod.yaml"

pytestmark = [
    pytest.mark.tools,
    pytest.mark.skipif(
        COMPOSE is None,
        reason="docker-compose is not installed (Debian: apt-get install docker-compose)",
    ),
]


def compose(*args: str, secrets: Path) -> str:
    assert COMPOSE is not None
    done = subprocess.run(
        [COMPOSE, "-f", "docker-compose.yml", "-f", "docker-compose.prod.yml", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TIMEBASE_SECRETS_DIR": str(secrets)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"docker-compose {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """target → (source, mode) of a service's volumes (`docker-compose config` writes them as
    `source:target:mode`)."""
    found = {}
    for volume in service["volumes"]:
        source, target, mode = volume.rsplit(":", 2)
        found[target] = (source, mode)
    return found


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    secrets = tmp_path_factory.mktemp("secrets")
    compose("config", "--quiet", secrets=secrets)
    data: dict[str, Any] = yaml.safe_load(compose("config", secrets=secrets))
    data["secrets_dir"] = secrets
    return data


def test_the_overlay_validates_and_adds_backup_and_monitoring(merged: dict[str, Any]) -> None:
    assert set(merged["services"]) == {
        "db",
        "gateway",
        "synthetic",
        "local-files",
        "yahoo-finance",
        "ccxt",
        "backup",
        "prometheus",
        "grafana",
    }
    assert merged["services"]["grafana"]["profiles"] == ["grafana"]
    assert "profiles" not in merged["services"]["prometheus"]


def test_every_service_restarts_rotates_logs_is_limited_and_checked(merged: dict[str, Any]) -> None:
    for name, service in merged["services"].items():
        assert service["restart"] == "unless-stopped", name
        assert service["logging"] == {
            "driver": "json-file",
            "options": {"max-size": "10m", "max-file": "5"},
        }, name
        assert service.get("mem_limit"), name
        assert service.get("cpus"), name
        if name != "grafana":  # its image's own HEALTHCHECK
            assert service["healthcheck"]["test"], name
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_no_secret_is_an_environment_value(merged: dict[str, Any]) -> None:
    secrets = merged["secrets_dir"]
    declared = merged["secrets"]
    assert {name: Path(s["file"]) for name, s in declared.items()} == {
        "timebase_db_password": secrets / "db_password",
        "timebase_tls_cert": secrets / "tls.crt",
        "timebase_tls_key": secrets / "tls.key",
        "timebase_tls_ca": secrets / "ca.crt",
        "timebase_prometheus_key": secrets / "prometheus_key",
        "timebase_prometheus_key_sha256": secrets / "prometheus_key.sha256",
        "timebase_admin_key_sha256": secrets / "admin_key.sha256",
        "timebase_grafana_admin_password": secrets / "grafana_admin_password",
    }
    db = merged["services"]["db"]
    assert db["environment"]["POSTGRES_PASSWORD"] == ""
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/timebase_db_password"
    gateway = merged["services"]["gateway"]
    env = gateway["environment"]
    assert env["TIMEBASE_DATABASE_URL"] == "postgresql://timebase@db:5432/timebase"
    assert env["TIMEBASE_DATABASE_PASSWORD_FILE"] == "/run/secrets/timebase_db_password"
    for service in merged["services"].values():
        for key, value in (service.get("environment") or {}).items():
            assert "PASSWORD" not in key or key.endswith("_FILE") or value == "", key
    used = {s["source"] for svc in merged["services"].values() for s in svc.get("secrets", [])}
    assert used == set(declared)


def test_gateway_runs_tls_and_keys_from_the_secrets(merged: dict[str, Any]) -> None:
    """The gateway's prod configuration names only files the gateway is given as secrets, and
    serves the Host Prometheus scrapes it by (the stack itself runs in tests/containers)."""
    gateway = merged["services"]["gateway"]
    env = gateway["environment"]
    assert env["TIMEBASE_AUTH_MODE"] == "keys"
    assert env["TIMEBASE_CONFIG"] == "/etc/timebase/timebase.prod.yaml"
    assert mounts(gateway)[env["TIMEBASE_CONFIG"]] == (str(PROD_CONFIG), "ro")
    config = yaml.safe_load(PROD_CONFIG.read_text())
    given = {f"/run/secrets/{s['source']}" for s in gateway["secrets"]}
    files = [config["tls"]["cert_file"], config["tls"]["key_file"]]
    files += [k["sha256_file"] for k in config["auth"]["keys"]]
    assert set(files) <= given
    assert {k["name"]: k["scope"] for k in config["auth"]["keys"]} == {
        "prometheus": "read",
        "admin": "admin",
    }
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    [target] = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert config["rest"]["allowed_hosts"] == [target.split(":")[0]] == ["gateway"]
    assert gateway["build"]["args"] == {"TIMEBASE_COMMIT": "unknown"}  # (unset here)
    base = yaml.safe_load((ROOT / "gateway" / "compose.timebase.yaml").read_text())
    assert config["providers"] == base["providers"]
    assert "https://127.0.0.1:8080/api/health" in " ".join(gateway["healthcheck"]["test"])


def test_backup_service_dumps_with_the_servers_own_pg_dump(merged: dict[str, Any]) -> None:
    backup, db = merged["services"]["backup"], merged["services"]["db"]
    assert backup["image"] == db["image"]
    assert backup["entrypoint"] == ["/bin/sh", "/opt/timebase-backup/backup.sh"]
    assert backup["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert backup["networks"] == {"backend": {}}
    assert mounts(backup)["/backups"] == ("backups", "rw")
    assert mounts(backup)["/opt/timebase-backup"] == (str(ROOT / "deploy" / "backup"), "ro")
    assert backup["environment"]["PGPASSWORD_FILE"] == "/run/secrets/timebase_db_password"


@pytest.mark.parametrize("script", ["backup.sh", "restore.sh"])
def test_backup_scripts_parse_and_follow_timescaledbs_restore_sequence(script: str) -> None:
    path = ROOT / "deploy" / "backup" / script
    done = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    if script == "restore.sh":
        text = path.read_text()
        order = [
            text.index("CREATE EXTENSION IF NOT EXISTS timescaledb"),
            text.index("SELECT timescaledb_pre_restore()"),
            text.index('pg_restore -d "$db" --exit-on-error --use-list'),
            text.index("SELECT timescaledb_post_restore()"),
        ]
        assert order == sorted(order)


def test_prometheus_scrapes_the_gateway_with_the_rules(merged: dict[str, Any]) -> None:
    prometheus = merged["services"]["prometheus"]
    given = mounts(prometheus)
    assert given["/etc/prometheus/prometheus.yml"] == (
        str(ROOT / "deploy/prometheus/prometheus.yml"),
        "ro",
    )
    assert given["/etc/prometheus/rules"] == (str(ROOT / "deploy/prometheus/rules"), "ro")
    assert set(prometheus["networks"]) & set(merged["services"]["gateway"]["networks"])
    grafana = merged["services"]["grafana"]
    given = mounts(grafana)
    assert given["/var/lib/grafana/dashboards"] == (str(ROOT / "deploy/grafana/dashboards"), "ro")
    assert given["/etc/grafana/provisioning"] == (str(ROOT / "deploy/grafana/provisioning"), "ro")
