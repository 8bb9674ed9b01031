"""Policy over the rendered overlays: hardened containers, no inline secrets, scale bounded by partitions,
network access limited to the broker, the store and declared egress."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from caseflow_contracts import TOPICS
from caseflow_kit.settings import KitSettings
from caseflow_ops import manifests

from .pod_security import restricted_violations
from .render import DEPLOY, OVERLAYS, SERVICES, named, of_kind, render, unhashed
from .test_sources_of_truth import env_names

SECRETISH = re.compile(
    r"PASSWORD|SECRET|TOKEN|PII_KEY|PII_OLD_KEYS|PSEUDONYM_KEY|MONGODB_UR[LI]|CREDENTIAL", re.IGNORECASE
)
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
#: Secrets made outside these manifests: by the operators (Strimzi users and CA, MongoDB connection strings)
#: or by the platform team (PII and pseudonym keys, notify's channel credentials, MongoDB user passwords).
EXTERNAL_SECRETS = re.compile(
    r"^(caseflow-(intake|routing|sla|claims|notify)|caseflow-cluster-ca-cert"
    r"|caseflow-mongodb-(intake|routing|sla|claims|notify|backup|exporter)"
    r"|caseflow-pii|caseflow-pseudonym|caseflow-notify-channels)$"
)


def pod_specs(objects: tuple[dict[str, Any], ...]) -> list[tuple[str, dict[str, Any]]]:
    """Every workload's pod spec (Deployments, the backup CronJob, the exporter ...)."""
    found = []
    for item in objects:
        if item["kind"] in WORKLOADS:
            template = item["spec"].get("jobTemplate", {}).get("spec", item["spec"])["template"]
            found.append((item["metadata"]["name"], template["spec"]))
    return found


def service_pod_specs(objects: tuple[dict[str, Any], ...]) -> list[tuple[str, dict[str, Any]]]:
    names = {f"caseflow-{s}" for s in SERVICES}
    return [(name, spec) for name, spec in pod_specs(objects) if name in names]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_probed_limited_and_locked_down(overlay: str) -> None:
    specs = service_pod_specs(render(overlay))
    assert {name for name, _ in specs} == {f"caseflow-{s}" for s in SERVICES}
    for name, spec in specs:
        pod_security = spec.get("securityContext", {})
        assert pod_security.get("runAsNonRoot") is True, name
        assert pod_security.get("runAsUser", 0) > 0, name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            where = f"{name}/{container['name']}"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", where
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", where
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) >= {"cpu", "memory"}, where
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert not container["image"].endswith(":latest"), where
            writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
            assert writable <= {"/tmp", "/var/lib/caseflow"}, where  # noqa: S108 - emptyDir mounts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_is_written_inline(overlay: str) -> None:
    objects = render(overlay)
    assert of_kind(objects, "Secret") == []
    env_maps = {unhashed(c["metadata"]["name"]): c.get("data", {}) for c in of_kind(objects, "ConfigMap")}
    specs = pod_specs(objects)
    assert {f"caseflow-{s}" for s in SERVICES} <= {name for name, _ in specs}
    for name, spec in specs:
        for container in spec["containers"]:
            for var in container.get("env", []):
                if SECRETISH.search(var["name"]):
                    assert "value" not in var, f"{name}: {var['name']} is inline"
                    ref = var["valueFrom"]["secretKeyRef"]
                    assert EXTERNAL_SECRETS.match(ref["name"]), f"{name}: unexpected secret {ref['name']}"
            for source in container.get("envFrom", []):
                data = env_maps[unhashed(source["configMapRef"]["name"])]
                assert [k for k in data if SECRETISH.search(k)] == [], f"{name}: secret-like keys in a ConfigMap"
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert EXTERNAL_SECRETS.match(volume["secret"]["secretName"]), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_intake_and_notify_get_the_personal_data_key(overlay: str) -> None:
    holders = {
        name
        for name, spec in service_pod_specs(render(overlay))
        for var in spec["containers"][0].get("env", [])
        if var["name"] == "CASEFLOW_PII_KEY"
    }
    assert holders == {"caseflow-intake", "caseflow-notify"}


def autoscaler(objects: tuple[dict[str, Any], ...], service: str) -> tuple[str, int, int]:
    """(kind, min, max) of the service's autoscaler: an HPA, or KEDA's ScaledObject in its place."""
    name = f"caseflow-{service}"
    hpas = [o for o in of_kind(objects, "HorizontalPodAutoscaler") if o["metadata"]["name"] == name]
    scaled = [o for o in of_kind(objects, "ScaledObject") if o["metadata"]["name"] == name]
    assert len(hpas) + len(scaled) == 1, f"{name}: {len(hpas)} HPAs and {len(scaled)} ScaledObjects"
    if hpas:
        spec = hpas[0]["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        return "HorizontalPodAutoscaler", spec["minReplicas"], spec["maxReplicas"]
    spec = scaled[0]["spec"]
    assert spec["scaleTargetRef"]["name"] == name
    return "ScaledObject", spec["minReplicaCount"], spec["maxReplicaCount"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_intake_gets_the_pseudonym_key_and_from_its_own_secret(overlay: str) -> None:
    given = {
        name: var["valueFrom"]["secretKeyRef"]["name"]
        for name, spec in pod_specs(render(overlay))
        for var in spec["containers"][0].get("env", [])
        if var["name"] == "CASEFLOW_PSEUDONYM_KEY"
    }
    assert given == {"caseflow-intake": "caseflow-pseudonym"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_service_pdb_autoscaler_and_network_policy(overlay: str) -> None:
    objects = render(overlay)
    for service in SERVICES:
        name = f"caseflow-{service}"
        deployment = named(objects, "Deployment", name)
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert named(objects, "Service", name)["spec"]["selector"] == selector
        assert named(objects, "PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"] == selector
        assert named(objects, "NetworkPolicy", name)["spec"]["podSelector"]["matchLabels"] == selector
        kind, low, high = autoscaler(objects, service)
        assert kind == ("ScaledObject" if overlay == "prod-keda" else "HorizontalPodAutoscaler")
        assert 1 <= low <= high


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_replicas_never_exceed_the_partitions_of_the_busiest_input(overlay: str) -> None:
    """A consumer beyond the partition count of its input topics would sit idle."""
    objects = render(overlay)
    for service in SERVICES:
        partitions = max(t.partitions for t in TOPICS if service in t.consumers)
        assert autoscaler(objects, service)[2] <= partitions, service
        assert "replicas" not in named(objects, "Deployment", f"caseflow-{service}")["spec"]  # the autoscaler owns it


def test_keda_scales_each_service_on_its_own_groups_lag_with_its_own_kafka_user() -> None:
    objects = render("prod-keda")
    (auth,) = of_kind(objects, "TriggerAuthentication")
    from_env = {e["parameter"]: e["name"] for e in auth["spec"]["env"]}
    assert from_env == {"username": "KAFKA_SASL_USERNAME", "password": "KAFKA_SASL_PASSWORD"}
    for service in SERVICES:
        (trigger,) = named(objects, "ScaledObject", f"caseflow-{service}")["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == f"caseflow-{service}"
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
        container = named(objects, "Deployment", f"caseflow-{service}")["spec"]["template"]["spec"]["containers"][0]
        assert {var["name"] for var in container["env"]} >= set(from_env.values())


def peers(rule: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    return list(rule.get(direction, []))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_only_broker_store_dns_and_declared_egress(overlay: str) -> None:
    objects = render(overlay)
    kafka = {"strimzi.io/cluster": "caseflow", "strimzi.io/kind": "Kafka"}
    mongo = {"app": "caseflow-mongodb-svc"}
    for service in SERVICES:
        policy = named(objects, "NetworkPolicy", f"caseflow-{service}")["spec"]
        assert policy["policyTypes"] == ["Ingress", "Egress"]
        targets = []
        for rule in policy["egress"]:
            ports = {p["port"] for p in rule["ports"]}
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    assert service == "notify", f"{service} may not reach outside the cluster"
                    assert set(peer["ipBlock"]["except"]) >= {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}
                    assert ports <= {25, 465, 587, 443}
                    targets.append("channels")
                else:
                    labels = peer["podSelector"]["matchLabels"]
                    if labels == kafka:
                        assert ports == {9093}
                        targets.append("kafka")
                    elif labels == mongo:
                        assert ports == {27017}
                        targets.append("mongodb")
                    elif labels == {"k8s-app": "kube-dns"}:
                        assert ports == {53}
                        targets.append("dns")
                    else:
                        pytest.fail(f"{service}: undeclared egress to {labels}")
        expected = ["dns", "kafka", "mongodb", *(["channels"] if service == "notify" else [])]
        assert sorted(targets) == sorted(expected)
        (ingress,) = policy["ingress"]
        assert [p["port"] for p in ingress["ports"]] == [8080]


def peer_name(peer: dict[str, Any]) -> str:
    pods = peer.get("podSelector", {}).get("matchLabels", {})
    namespace = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
    return f"{namespace or 'own namespace'}: " + ",".join(f"{k}={v}" for k, v in sorted(pods.items()))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_write_routes_are_reachable_only_through_the_gateway(overlay: str) -> None:
    """Read callers reach the services that have nothing to write; the others only the gateway, Prometheus and
    the operators' toolbox reach (and the services check every caller's token and role)."""
    objects = render(overlay)
    gateway = "caseflow-gateway: caseflow.io/gateway=true"
    prometheus = "monitoring: app.kubernetes.io/name=prometheus"
    toolbox = "own namespace: caseflow.io/ops=true"
    reader = "own namespace: caseflow.io/reader=true"
    for service in SERVICES:
        (ingress,) = named(objects, "NetworkPolicy", f"caseflow-{service}")["spec"]["ingress"]
        allowed = {peer_name(peer) for peer in ingress["from"]}
        if service in manifests.WRITE_ROUTES:
            assert allowed == {gateway, prometheus, toolbox}, service
        else:
            assert allowed == {gateway, prometheus, toolbox, reader}, service
    assert set(manifests.WRITE_ROUTES) == {"routing", "claims", "notify"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_config_map_a_pod_mounts_exists(overlay: str) -> None:
    objects = render(overlay)
    config_maps = {c["metadata"]["name"]: c for c in of_kind(objects, "ConfigMap")}
    specs = service_pod_specs(objects)
    assert len(specs) == len(SERVICES)
    for name, spec in specs:
        for volume in spec["volumes"]:
            sources = [volume] if "configMap" in volume else volume.get("projected", {}).get("sources", [])
            for source in sources:
                if "configMap" not in source:
                    continue
                found = config_maps[source["configMap"]["name"]]
                for item in source["configMap"].get("items", []):
                    assert item["key"] in found["data"], f"{name}: {item['key']} missing"
        for source in spec["containers"][0]["envFrom"]:
            assert source["configMapRef"]["name"] in config_maps


def test_the_toolbox_pod_is_valid_locked_down_and_uses_the_ops_user() -> None:
    pod = yaml.safe_load((DEPLOY / "ops" / "caseflowctl.yaml").read_text())
    kubernetes_validate.validate(pod, "1.30", strict=True)
    (container,) = pod["spec"]["containers"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    env = {var["name"]: var for var in container["env"]}
    assert env["KAFKA_SASL_USERNAME"]["value"] == "caseflow-ops"
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "caseflow-ops"
    assert pod["metadata"]["labels"]["caseflow.io/ops"] == "true"
    assert restricted_violations(pod["spec"]) == []
    users = {u["metadata"]["name"] for u in of_kind(render("prod"), "KafkaUser")}
    assert "caseflow-ops" in users
    assert set(env) <= env_names(KitSettings)  # caseflowctl reads the services' own settings
