"""deploy/k8s: each overlay renders with `kubectl kustomize`; every resource is valid against the
Kubernetes API schemas (kubernetes-validate, strict, its bundled schemas: offline), the
CloudNativePG Cluster against the schema committed with it; and the topology holds: stateless
gateways with readiness on /api/health, a PDB and an HPA, remote providers, NetworkPolicies
letting only gateways reach providers and the database."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBECTL = shutil.which("kubectl")
#: The oldest Kubernetes the manifests target (gRPC probes, autoscaling/v2, policy/v1).
KUBERNETES_VERSION = "1.30.0"
OVERLAYS = ["dev", "prod"]
CNPG_SCHEMA = json.loads((K8S / "schemas" / "cnpg-cluster.json").read_text())

pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed (Debian: apt-get install kubernetes-client)"
)


def render(overlay: str) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_kubernetes_validate_bundles_the_schemas_offline() -> None:
    package = Path(kubernetes_validate.__file__).parent
    assert (package / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local-strict").is_dir()


def test_every_resource_is_valid(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, docs = rendered
    kinds = sorted(d["kind"] for d in docs)
    assert set(kinds) >= {
        "Cluster",
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
    }
    namespace = {"dev": "timebase-dev", "prod": "timebase"}[overlay]
    for doc in docs:
        assert doc["metadata"]["namespace"] == namespace, doc["metadata"]["name"]
        if doc["kind"] == "Cluster":
            jsonschema.validate(doc, CNPG_SCHEMA)
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_committed_cnpg_schema_catches_mistakes() -> None:
    cluster = by_kind(render("dev"), "Cluster")["timebase-db"]
    cluster["spec"]["instance"] = 3  # a typo the operator would otherwise ignore
    with pytest.raises(jsonschema.ValidationError, match="'instance' was unexpected"):
        jsonschema.validate(cluster, CNPG_SCHEMA)
    cluster["spec"].pop("instance")
    cluster["spec"]["storage"]["size"] = "20 gigs"
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate(cluster, CNPG_SCHEMA)


def test_kubernetes_validate_catches_mistakes() -> None:
    gateway = by_kind(render("dev"), "Deployment")["timebase-gateway"]
    gateway["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(gateway, KUBERNETES_VERSION, strict=True)


def test_gateways_are_stateless_replicas_ready_on_health(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    overlay, docs = rendered
    gateway = by_kind(docs, "Deployment")["timebase-gateway"]
    replicas = {"dev": 1, "prod": 3}[overlay]
    assert gateway["spec"]["replicas"] == replicas
    pod = gateway["spec"]["template"]["spec"]
    [container] = pod["containers"]
    probe = container["readinessProbe"]["httpGet"]
    assert probe["path"] == "/api/health"
    assert probe["scheme"] == {"dev": "HTTP", "prod": "HTTPS"}[overlay]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    # Nothing persistent: only emptyDirs, the ConfigMap and Secrets.
    for volume in pod["volumes"]:
        assert set(volume) - {"name"} <= {"emptyDir", "configMap", "secret"}, volume
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TIMEBASE_DATABASE_URL"] == "postgresql://timebase@timebase-db-rw:5432/timebase"
    assert env["TIMEBASE_DATABASE_PASSWORD_FILE"] == "/run/secrets/timebase-db/password"
    assert env["TIMEBASE_AUTH_MODE"] == "keys"
    assert ("TIMEBASE_TLS_CERT_FILE" in env) is (overlay == "prod")
    pdb = by_kind(docs, "PodDisruptionBudget")["timebase-gateway"]
    assert pdb["spec"]["minAvailable"] == {"dev": 0, "prod": 2}[overlay]
    assert pdb["spec"]["minAvailable"] < replicas  # a rolling update may always evict one
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["timebase-gateway"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "timebase-gateway"
    assert hpa["spec"]["minReplicas"] == replicas
    config = by_kind(docs, "ConfigMap")
    [name] = [n for n in config if n.startswith("timebase-gateway-config")]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == name
    settings = yaml.safe_load(config[name]["data"]["timebase.yaml"])
    assert settings["providers"]["runtime"] == "remote"
    services = by_kind(docs, "Service")
    for slug, provider in settings["providers"]["settings"].items():
        host, port = provider["address"].split(":")
        assert services[host]["spec"]["ports"][0]["port"] == int(port)
        deployment = by_kind(docs, "Deployment")[f"timebase-provider-{slug}"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "provider"


def test_only_gateways_reach_providers_and_the_database(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    policies = by_kind(docs, "NetworkPolicy")
    gateway_only = [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "gateway"}}}]
    providers = policies["timebase-providers"]["spec"]
    assert providers["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "provider"}}
    assert [rule["from"] for rule in providers["ingress"]] == [gateway_only]
    database = policies["timebase-database"]["spec"]
    assert database["podSelector"] == {"matchLabels": {"cnpg.io/cluster": "timebase-db"}}
    # Clients of port 5432: gateways and the cluster's own instances (replication).
    on_5432 = [
        rule["from"]
        for rule in database["ingress"]
        if {"port": 5432, "protocol": "TCP"} in rule["ports"]
    ]
    assert on_5432 == [
        gateway_only,
        [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "timebase-db"}}}],
    ]
    # Pods the policies select are the pods that exist.
    deployments = by_kind(docs, "Deployment")
    components = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for d in deployments.values()
    }
    assert components == {"gateway", "provider"}
