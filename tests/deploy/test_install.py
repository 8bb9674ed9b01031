"""What a real install needs beyond valid objects: the image each overlay asks for, pods the namespace's
Pod Security admits (the operators' too), stateful parts that survive a node drain, topics that survive a
mistaken `delete -k`, and backups."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from caseflow_ops import manifests

from .pod_security import restricted_violations
from .render import DEPLOY, OVERLAYS, named, of_kind, render, render_path
from .test_policy import pod_specs

IMAGE = "ghcr.io/caseflow/caseflow"
#: The tag each overlay asks for in its kustomization.yaml.
TAGS = {"dev": "dev", "prod": "1.0.0", "prod-keda": "1.0.0"}


def images(objects: tuple[dict[str, Any], ...]) -> dict[str, str]:
    """Every container's image, by workload/container."""
    return {
        f"{name}/{c['name']}": c["image"]
        for name, spec in pod_specs(objects)
        for c in [*spec.get("initContainers", []), *spec["containers"]]
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_runs_the_image_its_overlay_names(overlay: str) -> None:
    found = images(render(overlay))
    ours = {where: image for where, image in found.items() if image.startswith(IMAGE)}
    assert len(ours) == 5
    assert set(ours.values()) == {f"{IMAGE}:{TAGS[overlay]}"}
    for where, image in found.items():  # everything else is pinned too
        name, _, tag = image.rpartition(":")
        assert name, where
        assert tag not in ("", "latest"), where


def test_changing_the_overlays_tag_or_digest_changes_the_rendered_image(tmp_path: Path) -> None:
    """The base names the image; an overlay's `images` entry must match that name, or it silently does nothing."""
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("crds", "README.md"))
    kustomization = copy / "overlays" / "prod" / "kustomization.yaml"
    text = kustomization.read_text()
    kustomization.write_text(text.replace("    newTag: 1.0.0", "    newTag: 1.1.0"))
    assert set(images(render_path(copy / "overlays" / "prod")).values()) >= {f"{IMAGE}:1.1.0"}
    digest = "sha256:" + "ab" * 32
    kustomization.write_text(text.replace("    newTag: 1.0.0", f"    digest: {digest}"))
    assert f"{IMAGE}@{digest}" in images(render_path(copy / "overlays" / "prod")).values()


# -- Pod Security ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_is_admitted_by_restricted_pod_security(overlay: str) -> None:
    objects = render(overlay)
    specs = pod_specs(objects)
    assert {name for name, _ in specs} >= {"caseflow-mongodb-backup", "caseflow-intake"}
    assert {name: restricted_violations(spec) for name, spec in specs} == {name: [] for name, _ in specs}


def test_the_restricted_check_refuses_what_the_admission_refuses() -> None:
    """Strimzi's default ("baseline") and the MongoDB operator's own security contexts would be refused."""
    baseline = {"containers": [{"name": "kafka", "securityContext": {}}]}
    assert restricted_violations(baseline) == [
        "kafka: allowPrivilegeEscalation is not false",
        "kafka: capabilities do not drop ALL",
        "kafka: runAsNonRoot is not true",
        "kafka: seccompProfile is not RuntimeDefault or Localhost",
    ]
    mongodb_default = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 2000, "fsGroup": 2000},
        "containers": [
            {"name": "mongod", "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}}
        ],
        "volumes": [{"name": "logs", "hostPath": {"path": "/var/log"}}],
    }
    assert restricted_violations(mongodb_default) == [
        "volume logs: ['hostPath']",
        "mongod: capabilities do not drop ALL",
        "mongod: seccompProfile is not RuntimeDefault or Localhost",
    ]


def strimzi_pods(objects: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    """The pods Strimzi will make, as far as caseflow decides them: each component's pod and container templates.

    Container templates apply to the operator's containers of that name (Strimzi 0.49: Kafka nodes run `kafka`
    and, with rack awareness, the `kafka-init` init container; the entity operator `topic-operator` and
    `user-operator`; the exporter and Cruise Control one container each).
    """
    kafka = named(objects, "Kafka", "caseflow")["spec"]
    pool = named(objects, "KafkaNodePool", "combined")["spec"]["template"]

    def pod(template: dict[str, Any], containers: dict[str, str], init: dict[str, str] | None = None) -> dict[str, Any]:
        return {
            "securityContext": template["pod"]["securityContext"],
            "containers": [{"name": n, **template[key]} for n, key in containers.items()],
            "initContainers": [{"name": n, **template[key]} for n, key in (init or {}).items()],
        }

    found = {
        "kafka": pod(pool, {"kafka": "kafkaContainer"}, {"kafka-init": "initContainer"}),
        "entity-operator": pod(
            kafka["entityOperator"]["template"],
            {"topic-operator": "topicOperatorContainer", "user-operator": "userOperatorContainer"},
        ),
        "kafka-exporter": pod(kafka["kafkaExporter"]["template"], {"kafka-exporter": "container"}),
    }
    if "cruiseControl" in kafka:
        found["cruise-control"] = pod(kafka["cruiseControl"]["template"], {"cruise-control": "cruiseControlContainer"})
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_operators_pods_are_admitted_by_restricted_pod_security(overlay: str) -> None:
    objects = render(overlay)
    pods = strimzi_pods(objects)
    assert ("cruise-control" in pods) == overlay.startswith("prod")
    template = named(objects, "MongoDBCommunity", "caseflow-mongodb")["spec"]["statefulSet"]["spec"]["template"]["spec"]
    # The MongoDB operator's members: two containers and two init containers, merged by name with this template.
    assert {c["name"] for c in template["containers"]} == {"mongod", "mongodb-agent"}
    assert {c["name"] for c in template["initContainers"]} == set(manifests.MONGODB_INIT_CONTAINERS)
    pods["mongodb"] = template
    assert {name: restricted_violations(pod) for name, pod in pods.items()} == {name: [] for name in pods}


# -- stateful parts --------------------------------------------------------------------------------------


def spread_keys(constraints: list[dict[str, Any]]) -> dict[str, str]:
    return {c["topologyKey"]: c["whenUnsatisfiable"] for c in constraints}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mongodb_and_kafka_survive_a_node_drain(overlay: str) -> None:
    objects = render(overlay)
    mongodb = named(objects, "MongoDBCommunity", "caseflow-mongodb")["spec"]
    pdb = named(objects, "PodDisruptionBudget", "caseflow-mongodb")["spec"]
    assert pdb == {"maxUnavailable": 1, "selector": {"matchLabels": manifests.MONGODB_POD}}
    members = mongodb["statefulSet"]["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread_keys(members) == {
        "kubernetes.io/hostname": "DoNotSchedule",
        "topology.kubernetes.io/zone": "ScheduleAnyway",
    }
    assert all(c["labelSelector"]["matchLabels"] == manifests.MONGODB_POD for c in members)
    kafka = named(objects, "Kafka", "caseflow")["spec"]["kafka"]
    assert kafka["template"]["podDisruptionBudget"] == {"maxUnavailable": 1}
    brokers = named(objects, "KafkaNodePool", "combined")["spec"]["template"]["pod"]["topologySpreadConstraints"]
    assert spread_keys(brokers) == {
        "kubernetes.io/hostname": "DoNotSchedule",
        "topology.kubernetes.io/zone": "ScheduleAnyway",
    }
    if overlay == "dev":  # one node, perhaps without zone labels
        assert "rack" not in kafka
        assert mongodb["members"] == 1
    else:
        assert kafka["rack"] == {"topologyKey": "topology.kubernetes.io/zone"}
        assert mongodb["members"] == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_outlive_a_mistaken_delete_outside_dev(overlay: str) -> None:
    config = named(render(overlay), "Kafka", "caseflow")["spec"]["kafka"]["config"]
    assert config["delete.topic.enable"] is (overlay == "dev")


# -- backups ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_nightly_backup_dumps_the_replica_set_with_its_oplog_to_its_own_volume(overlay: str) -> None:
    objects = render(overlay)
    cron = named(objects, "CronJob", "caseflow-mongodb-backup")["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    script = container["command"][-1]
    assert {"mongodump", "--oplog", "--archive="} <= set(script.replace("=", "= ").split())
    mongodb = named(objects, "MongoDBCommunity", "caseflow-mongodb")["spec"]
    assert container["image"] == f"mongo:{mongodb['version']}"  # the dump tools of the server's own version
    (uri,) = [e for e in container["env"] if e["name"] == "MONGODB_URI"]
    backup_user = next(u for u in mongodb["users"] if u["name"] == manifests.BACKUP_USER)
    assert uri["valueFrom"]["secretKeyRef"]["name"] == backup_user["connectionStringSecretName"]
    assert {r["name"] for r in backup_user["roles"]} == {"backup", "restore"}
    claim = next(v for v in pod["volumes"] if "persistentVolumeClaim" in v)["persistentVolumeClaim"]["claimName"]
    assert named(objects, "PersistentVolumeClaim", claim)
    policy = named(objects, "NetworkPolicy", "caseflow-mongodb-backup")["spec"]
    assert policy["ingress"] == []
    assert [rule["ports"][0]["port"] for rule in policy["egress"]] == [53, 27017]


def test_the_restore_job_is_valid_and_admitted() -> None:
    job = yaml.safe_load((DEPLOY / "ops" / "restore-job.yaml").read_text())
    kubernetes_validate.validate(job, "1.30", strict=True)
    assert restricted_violations(job["spec"]["template"]["spec"]) == []
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert "mongorestore" in container["command"][-1]
    assert "--oplogReplay" in container["command"][-1]


def test_the_components_are_in_the_overlays_that_document_them() -> None:
    prod = yaml.safe_load((DEPLOY / "overlays" / "prod" / "kustomization.yaml").read_text())
    assert set(prod["components"]) == {
        f"../../components/{c}" for c in ("kafka-metrics", "mongodb-metrics", "cruise-control")
    }
    keda = yaml.safe_load((DEPLOY / "overlays" / "prod-keda" / "kustomization.yaml").read_text())
    assert keda["components"] == ["../../components/keda"]
    assert of_kind(render("prod-keda"), "HorizontalPodAutoscaler") == []
