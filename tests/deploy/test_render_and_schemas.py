"""Every overlay renders, and every object in it is valid: Kubernetes kinds against the official schemas
(kubernetes-validate, offline, strict), operator kinds against minimal schemas of the fields we rely on."""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest

from .render import OVERLAYS, render

K8S_VERSION = "1.30"
# kubernetes-validate re-reads its (large) definitions file for every object: read each schema file once.
kubernetes_validate.utils.schema_contents = functools.cache(kubernetes_validate.utils.schema_contents)  # type: ignore[assignment]

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_META = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _NAME, "namespace": {"type": "string"}, "labels": {"type": "object"}},
}


def crd(spec: dict[str, Any], *, api: str, cluster_label: bool = False) -> dict[str, Any]:
    meta = copy.deepcopy(_META)
    if cluster_label:
        meta["required"] = ["name", "labels"]
        meta["properties"]["labels"] = {"type": "object", "required": ["strimzi.io/cluster"]}
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"apiVersion": {"const": api}, "metadata": meta, "spec": spec},
    }


def obj(required: list[str], properties: dict[str, Any], *, closed: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "required": required, "properties": properties}
    if closed:
        schema["additionalProperties"] = False
    return schema


POSITIVE = {"type": "integer", "minimum": 1}
ACL = obj(
    ["resource", "operations"],
    {
        "resource": obj(
            ["type", "name"],
            {
                "type": {"enum": ["topic", "group", "cluster", "transactionalId"]},
                "patternType": {"enum": ["literal", "prefix"]},
            },
        ),
        "operations": {
            "type": "array",
            "minItems": 1,
            "items": {"enum": ["Read", "Write", "Create", "Delete", "Alter", "Describe", "All", "IdempotentWrite"]},
        },
    },
)
RULE = {
    "oneOf": [
        obj(["record", "expr"], {"record": {"type": "string"}, "expr": {"type": "string", "minLength": 1}}),
        obj(
            ["alert", "expr", "labels", "annotations"],
            {
                "alert": {"type": "string", "pattern": "^[A-Z][A-Za-z]+$"},
                "expr": {"type": "string", "minLength": 1},
                "for": {"type": "string", "pattern": r"^[0-9]+[smh]$"},
                "labels": obj(["severity"], {"severity": {"enum": ["warning", "critical"]}}),
                "annotations": obj(["summary", "runbook_url"], {"runbook_url": {"type": "string", "format": "uri"}}),
            },
        ),
    ]
}
ENDPOINT = obj(["port", "path"], {"port": {"type": "string"}, "path": {"const": "/metrics"}})

#: The fields of the operators' resources that caseflow relies on (Strimzi v1beta2, MongoDB Community v1,
#: Prometheus Operator v1), with the values their CRDs accept.
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "KafkaTopic": crd(
        obj(
            ["topicName", "partitions", "replicas", "config"],
            {
                "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
                "partitions": POSITIVE,
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": obj(["retention.ms", "min.insync.replicas"], {"retention.ms": POSITIVE}),
            },
            closed=True,
        ),
        api="kafka.strimzi.io/v1beta2",
        cluster_label=True,
    ),
    "KafkaUser": crd(
        obj(
            ["authentication", "authorization"],
            {
                "authentication": obj(["type"], {"type": {"enum": ["scram-sha-512", "tls", "tls-external"]}}),
                "authorization": obj(
                    ["type", "acls"], {"type": {"const": "simple"}, "acls": {"type": "array", "items": ACL}}
                ),
            },
        ),
        api="kafka.strimzi.io/v1beta2",
        cluster_label=True,
    ),
    "KafkaNodePool": crd(
        obj(
            ["replicas", "roles", "storage"],
            {"replicas": POSITIVE, "roles": {"type": "array", "items": {"enum": ["controller", "broker"]}}},
        ),
        api="kafka.strimzi.io/v1beta2",
        cluster_label=True,
    ),
    "Kafka": crd(
        obj(
            ["kafka", "entityOperator"],
            {
                "kafka": obj(
                    ["listeners"],
                    {"listeners": {"type": "array", "minItems": 1, "items": obj(["name", "port", "type", "tls"], {})}},
                ),
                "kafkaExporter": obj([], {"groupRegex": {"type": "string"}}),
            },
        ),
        api="kafka.strimzi.io/v1beta2",
    ),
    "MongoDBCommunity": crd(
        obj(
            ["members", "type", "version", "security", "users"],
            {
                "members": POSITIVE,
                "type": {"const": "ReplicaSet"},
                "version": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$"},
                "users": {
                    "type": "array",
                    "items": obj(
                        ["name", "db", "passwordSecretRef", "roles", "scramCredentialsSecretName"],
                        {
                            "passwordSecretRef": obj(["name"], {"name": {"type": "string"}}, closed=True),
                            "roles": {"type": "array", "minItems": 1, "items": obj(["name", "db"], {})},
                        },
                    ),
                },
            },
        ),
        api="mongodbcommunity.mongodb.com/v1",
    ),
    "ServiceMonitor": crd(
        obj(["selector", "endpoints"], {"endpoints": {"type": "array", "minItems": 1, "items": ENDPOINT}}),
        api="monitoring.coreos.com/v1",
    ),
    "PodMonitor": crd(
        obj(["selector", "podMetricsEndpoints"], {"podMetricsEndpoints": {"type": "array", "items": ENDPOINT}}),
        api="monitoring.coreos.com/v1",
    ),
    "PrometheusRule": crd(
        obj(
            ["groups"],
            {
                "groups": {
                    "type": "array",
                    "items": obj(["name", "rules"], {"rules": {"type": "array", "minItems": 1, "items": RULE}}),
                }
            },
        ),
        api="monitoring.coreos.com/v1",
    ),
}


def validate(item: dict[str, Any]) -> None:
    """Raise when the object is invalid (or of a kind nobody can check)."""
    kind = item["kind"]
    if kind in CRD_SCHEMAS:
        jsonschema.validate(item, CRD_SCHEMAS[kind], format_checker=jsonschema.FormatChecker())
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


def test_the_checks_catch_broken_objects() -> None:
    objects = render("prod")
    deployment = copy.deepcopy(next(o for o in objects if o["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["prot"] = 8080
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    topic = copy.deepcopy(next(o for o in objects if o["kind"] == "KafkaTopic"))
    topic["spec"]["partitions"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validate(topic)
    rule = copy.deepcopy(next(o for o in objects if o["kind"] == "PrometheusRule"))
    del rule["spec"]["groups"][1]["rules"][0]["annotations"]["runbook_url"]
    with pytest.raises(jsonschema.ValidationError):
        validate(rule)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate({"apiVersion": "example.com/v1", "kind": "Unknown", "metadata": {"name": "x"}})


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_overlay_namespace(overlay: str) -> None:
    objects = render(overlay)
    (namespace,) = [o for o in objects if o["kind"] == "Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        namespace["metadata"]["name"]
    }
