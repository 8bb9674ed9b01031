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

from .render import DEPLOY, OVERLAYS, SERVICES, named, of_kind, render, unhashed
from .test_sources_of_truth import env_names

SECRETISH = re.compile(
    r"PASSWORD|SECRET|TOKEN|PII_KEY|PII_OLD_KEYS|PSEUDONYM_KEY|MONGODB_URL|CREDENTIAL", re.IGNORECASE
)
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
#: Secrets made outside these manifests: by the operators (Strimzi users and CA, MongoDB connection strings)
#: or by the platform team (PII and pseudonym keys, notify's channel credentials, MongoDB user passwords).
EXTERNAL_SECRETS = re.compile(
    r"^(caseflow-(intake|routing|sla|claims|notify)|caseflow-cluster-ca-cert|caseflow-mongodb-(intake|routing|sla|claims|notify)"
    r"|caseflow-pii|caseflow-pseudonym|caseflow-notify-channels)$"
)


def pod_specs(objects: tuple[dict[str, Any], ...]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for item in objects:
        if item["kind"] in WORKLOADS:
            template = item["spec"].get("jobTemplate", {}).get("spec", item["spec"])["template"]
            found.append((item["metadata"]["name"], template["spec"]))
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_probed_limited_and_locked_down(overlay: str) -> None:
    specs = pod_specs(render(overlay))
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
    for name, spec in pod_specs(objects):
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
        for name, spec in pod_specs(render(overlay))
        for var in spec["containers"][0].get("env", [])
        if var["name"] == "CASEFLOW_PII_KEY"
    }
    assert holders == {"caseflow-intake", "caseflow-notify"}


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
        hpa = named(objects, "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_replicas_never_exceed_the_partitions_of_the_busiest_input(overlay: str) -> None:
    """A consumer beyond the partition count of its input topics would sit idle."""
    objects = render(overlay)
    for service in SERVICES:
        partitions = max(t.partitions for t in TOPICS if service in t.consumers)
        hpa = named(objects, "HorizontalPodAutoscaler", f"caseflow-{service}")
        assert hpa["spec"]["maxReplicas"] <= partitions, service
        assert "replicas" not in named(objects, "Deployment", f"caseflow-{service}")["spec"]  # the HPA owns it


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


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_config_map_a_pod_mounts_exists(overlay: str) -> None:
    objects = render(overlay)
    config_maps = {c["metadata"]["name"]: c for c in of_kind(objects, "ConfigMap")}
    for name, spec in pod_specs(objects):
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
    assert pod["metadata"]["labels"]["caseflow.io/reader"] == "true"
    users = {u["metadata"]["name"] for u in of_kind(render("prod"), "KafkaUser")}
    assert "caseflow-ops" in users
    assert set(env) <= env_names(KitSettings)  # caseflowctl reads the services' own settings
