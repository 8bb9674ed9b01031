"""Every overlay renders, and every object in it is valid: Kubernetes kinds against the official schemas
(kubernetes-validate, offline, strict), the operators' kinds against their real CRD schemas vendored in
deploy/crds (strict: an unknown field fails)."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest

from .render import DEPLOY, OVERLAYS, render

K8S_VERSION = "1.30"
CRDS = DEPLOY / "crds"
# kubernetes-validate re-reads its (large) definitions file for every object: read each schema file once.
kubernetes_validate.utils.schema_contents = functools.cache(kubernetes_validate.utils.schema_contents)  # type: ignore[assignment]


@functools.cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    """deploy/crds/<group>/<kind>_<version>.json, as the catalog names them; None for a built-in kind."""
    group, _, version = api_version.rpartition("/")
    path = CRDS / group / f"{kind.lower()}_{version}.json"
    return json.loads(path.read_text()) if group and path.is_file() else None


def validate(item: dict[str, Any]) -> None:
    """Raise when the object is invalid (or of a kind nobody can check)."""
    schema = crd_schema(item["apiVersion"], item["kind"])
    if schema is not None:
        jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(item)
    else:
        kubernetes_validate.validate(item, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_of_every_overlay_is_valid(overlay: str) -> None:
    objects = render(overlay)
    assert len(objects) > 50
    problems = []
    for item in objects:
        try:
            validate(item)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            problems.append(f"{item['kind']}/{item['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert problems == []


def test_every_operator_kind_is_checked_against_a_vendored_schema() -> None:
    kinds = {(o["apiVersion"], o["kind"]) for overlay in OVERLAYS for o in render(overlay)}
    operator_kinds = {k for k in kinds if "." in k[0].partition("/")[0] and not k[0].endswith(".k8s.io/v1")}
    missing = {k for k in operator_kinds if crd_schema(*k) is None}
    assert missing == set()
    assert ("kafka.strimzi.io/v1", "Kafka") in operator_kinds  # Strimzi's v1 API, served by 0.49 to 1.0


def first(kind: str, overlay: str = "prod") -> dict[str, Any]:
    return copy.deepcopy(next(o for o in render(overlay) if o["kind"] == kind))


@pytest.mark.parametrize(
    ("kind", "path", "field"),
    [
        ("Kafka", ["spec", "kafka"], "replicas"),  # v1beta2's field, gone in v1 (node pools own replicas)
        ("Kafka", ["spec", "entityOperator", "template", "pod", "securityContext"], "runAsNonroot"),
        ("KafkaNodePool", ["spec", "template", "pod"], "hostNetwork"),
        ("KafkaTopic", ["spec"], "partition"),
        ("KafkaUser", ["spec", "authorization", "acls", 0], "operation"),  # removed in v1
        ("MongoDBCommunity", ["spec", "users", 0], "password"),
        ("PrometheusRule", ["spec", "groups", 0, "rules", 0], "severity"),
        ("ServiceMonitor", ["spec", "endpoints", 0], "scrape_interval"),
        ("ScaledObject", ["spec"], "maxReplicas"),
    ],
)
def test_an_unknown_field_fails(kind: str, path: list[Any], field: str) -> None:
    item = first(kind, "prod-keda")
    node: Any = item
    for step in path:
        node = node[step]
    node[field] = 1
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        validate(item)


def test_the_checks_catch_broken_objects() -> None:
    deployment = first("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["prot"] = 8080
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    topic = first("KafkaTopic")
    topic["spec"]["partitions"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validate(topic)
    kafka = first("Kafka")
    kafka["spec"]["kafka"]["listeners"][0]["port"] = 9000  # below 9092
    with pytest.raises(jsonschema.ValidationError):
        validate(kafka)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate({"apiVersion": "example.com/v1", "kind": "Unknown", "metadata": {"name": "x"}})


def object_nodes(schema: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(schema, dict):
        if "properties" in schema:
            found.append((where, schema))
        for key, value in schema.items():
            found += object_nodes(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for n, value in enumerate(schema):
            found += object_nodes(value, f"{where}/{n}")
    return found


@pytest.mark.parametrize("path", sorted(CRDS.rglob("*.json")), ids=lambda p: str(Path(p).relative_to(CRDS)))
def test_every_vendored_schema_is_closed(path: Path) -> None:
    """Below the top level (which only names apiVersion, kind, metadata, spec, status), no object takes unknown keys."""
    schema = json.loads(path.read_text())
    for where, node in object_nodes(schema):
        if where in ("", "/properties/status") or "oneOf" in where or "/anyOf" in where:
            continue
        assert node.get("additionalProperties") is False, f"{path.name}{where} is open"
    assert "description" not in path.read_text()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_overlay_namespace(overlay: str) -> None:
    objects = render(overlay)
    (namespace,) = [o for o in objects if o["kind"] == "Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        namespace["metadata"]["name"]
    }
