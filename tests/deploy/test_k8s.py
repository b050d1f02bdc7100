"""deploy/k8s: each overlay renders with `kubectl kustomize`; every resource is valid against the
Kubernetes API schemas (kubernetes-validate, strict, its bundled schemas: offline), the
CloudNativePG Cluster against the schema committed with it; and the topology holds: stateless
gateways with readiness on /api/health, a PDB and an HPA, remote providers, NetworkPolicies
letting only gateways reach providers and the database; the gateways' ConfigMap loads.

The kustomizations use only what Debian's kubernetes-client (kubectl 1.20, kustomize 2.0.3)
reads, so they render with it as with any newer kubectl (checked field by field here, and by
rendering with whichever kubectl is installed: .ci/run installs Debian's when none is)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from timebase.core.config import load_config

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBECTL = shutil.which("kubectl")
#: The oldest Kubernetes the manifests target (gRPC probes, autoscaling/v2, policy/v1).
KUBERNETES_VERSION = "1.30.0"
OVERLAYS = ["dev", "prod"]
CNPG_SCHEMA = json.loads((K8S / "schemas" / "cnpg-cluster.json").read_text())
#: The fields of a Kustomization that kustomize 2.0.3 (Debian's kubectl 1.20) knows; `labels`,
#: inline `patches`, `replicas` and the like came later and make it refuse the file.
KUSTOMIZE_2_0_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "commonAnnotations",
    "resources",
    "bases",
    "crds",
    "patchesStrategicMerge",
    "patchesJson6902",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "images",
    "vars",
}

pytestmark = [
    pytest.mark.tools,
    pytest.mark.skipif(
        KUBECTL is None,
        reason="kubectl is not installed (Debian: apt-get install kubernetes-client)",
    ),
]


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


@pytest.mark.parametrize("folder", ["base", "overlays/dev", "overlays/prod"])
def test_kustomizations_use_only_what_debians_kustomize_reads(folder: str) -> None:
    kustomization = yaml.safe_load((K8S / folder / "kustomization.yaml").read_text())
    assert set(kustomization) - KUSTOMIZE_2_0_FIELDS == set()
    # kustomize 2.0.3 loads a directory only from `bases`, and patches only from files.
    for resource in kustomization.get("resources", []):
        assert (K8S / folder / resource).is_file(), resource
    for patch in kustomization.get("patchesJson6902", []):
        assert set(patch) == {"target", "path"}, patch
        assert set(patch["target"]) == {"group", "version", "kind", "name"}, patch
        assert isinstance(yaml.safe_load((K8S / folder / patch["path"]).read_text()), list)


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
    # Ready and live on the probe routes, with a Host the gateway serves (not the pod's IP).
    scheme = {"dev": "HTTP", "prod": "HTTPS"}[overlay]
    for probe, path in (
        ("readinessProbe", "/api/health/ready"),
        ("livenessProbe", "/api/health/live"),
    ):
        assert container[probe]["httpGet"] == {
            "path": path,
            "port": "http",
            "scheme": scheme,
            "httpHeaders": [{"name": "Host", "value": "localhost"}],
        }
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


def test_the_gateways_configmap_loads(tmp_path: Path) -> None:
    """The ConfigMap's timebase.yaml, as a gateway pod loads it: its secret files moved here."""
    docs = render("prod")
    [config] = [d for n, d in by_kind(docs, "ConfigMap").items() if n.startswith("timebase-")]
    text = config["data"]["timebase.yaml"]
    secrets = tmp_path / "timebase-api-keys"
    secrets.mkdir()
    for name, key in (("admin", "tb_admin"), ("prometheus", "tb_prometheus")):
        digest = hashlib.sha256(key.encode()).hexdigest()
        (secrets / f"{name}.sha256").write_text(digest + "\n")
    path = tmp_path / "timebase.yaml"
    path.write_text(text.replace("/run/secrets/timebase-api-keys/", f"{secrets}/"))
    loaded = load_config(path, environ={})
    assert loaded.providers.runtime == "remote"
    assert {slug: s.address for slug, s in loaded.providers.settings.items()} == {
        "synthetic": "timebase-provider-synthetic:50052",
        "yahoo-finance": "timebase-provider-yahoo-finance:50052",
    }
    assert loaded.auth.mode == "keys"
    assert loaded.rest.allowed_hosts == ("timebase-gateway",)  # the Service's name
    assert [(k.name, k.scope, k.sha256) for k in loaded.auth.keys] == [
        ("prometheus", "read", hashlib.sha256(b"tb_prometheus").hexdigest()),
        ("admin", "admin", hashlib.sha256(b"tb_admin").hexdigest()),
    ]
