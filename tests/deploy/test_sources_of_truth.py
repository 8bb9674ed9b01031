"""The manifests follow their sources: the topic catalog, the services' settings and rules files, the kit's metrics."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from caseflow_claims.settings import ClaimsSettings
from caseflow_contracts import TOPICS
from caseflow_contracts.topics import DLQ_RETENTION_DAYS
from caseflow_intake.settings import IntakeSettings
from caseflow_kit.metrics import KitMetrics
from caseflow_notify.metrics import NotifyMetrics
from caseflow_notify.settings import NotifySettings
from caseflow_ops import manifests
from caseflow_routing.settings import RoutingSettings
from caseflow_sla.settings import SlaSettings

from .render import DEPLOY, OVERLAYS, ROOT, SERVICES, named, of_kind, render

SETTINGS: dict[str, type[BaseSettings]] = {
    "intake": IntakeSettings,
    "routing": RoutingSettings,
    "sla": SlaSettings,
    "claims": ClaimsSettings,
    "notify": NotifySettings,
}


def test_checked_in_manifests_match_the_generator() -> None:
    """Change a topic, a service's rules file or the generator, and this fails until `make schemas` is run."""
    assert manifests.drift(DEPLOY) == []


def test_drift_is_detected(tmp_path: Path) -> None:
    manifests.write(tmp_path)
    assert manifests.drift(tmp_path) == []
    topics = tmp_path / "base" / "topics.yaml"
    topics.write_text(topics.read_text().replace("partitions: 12", "partitions: 11", 1))
    (tmp_path / "base" / "config" / "routing" / "old.yaml").write_text("stale: true\n")
    assert manifests.drift(tmp_path) == ["base/topics.yaml", "base/config/routing/old.yaml (stale)"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_are_the_catalog_with_its_dead_letter_topics(overlay: str) -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind(render(overlay), "KafkaTopic")}
    expected = {t.name: (t.partitions, t.retention_ms) for t in TOPICS}
    expected |= {t.dlq: (1, DLQ_RETENTION_DAYS * 86_400_000) for t in TOPICS}
    assert {name: (s["partitions"], s["config"]["retention.ms"]) for name, s in topics.items()} == expected
    replicas = {s["replicas"] for s in topics.values()}
    assert replicas == ({1} if overlay == "dev" else {t.replication_factor for t in TOPICS})
    assert all(s["config"]["min.insync.replicas"] < s["replicas"] or s["replicas"] == 1 for s in topics.values())


def test_kafka_users_may_touch_only_what_the_catalog_says() -> None:
    users = {u["metadata"]["name"]: u["spec"]["authorization"]["acls"] for u in of_kind(render("prod"), "KafkaUser")}
    for service in SERVICES:
        acls = users[f"caseflow-{service}"]
        readable = {
            a["resource"]["name"] for a in acls if a["resource"]["type"] == "topic" and "Read" in a["operations"]
        }
        writable = {
            a["resource"]["name"] for a in acls if a["resource"]["type"] == "topic" and "Write" in a["operations"]
        }
        assert readable == {t.name for t in TOPICS if service in t.consumers}
        assert writable == {t.name for t in TOPICS if service in t.producers} | {
            t.dlq for t in TOPICS if service in t.consumers
        }
        groups = {a["resource"]["name"] for a in acls if a["resource"]["type"] == "group"}
        assert groups == {f"caseflow-{service}"}


def env_names(settings: type[BaseSettings]) -> set[str]:
    """Every environment variable a settings class reads."""
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice) for choice in alias.choices}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add((prefix + name).upper())
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_given_to_a_service_is_one_it_reads(overlay: str) -> None:
    """A renamed setting fails here instead of being silently ignored in production."""
    objects = render(overlay)
    config_maps = {c["metadata"]["name"]: c["data"] for c in of_kind(objects, "ConfigMap")}
    for service, settings in SETTINGS.items():
        accepted = env_names(settings)
        container = named(objects, "Deployment", f"caseflow-{service}")["spec"]["template"]["spec"]["containers"][0]
        given = {var["name"] for var in container["env"]}
        for source in container["envFrom"]:
            given |= set(config_maps[source["configMapRef"]["name"]])
        assert given - accepted == set(), service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_config_map_values_parse_as_the_services_settings(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in a literal (a port that is not a number, a protocol Kafka does not know) fails here, not at start."""
    objects = render(overlay)
    config_maps = {c["metadata"]["name"]: c["data"] for c in of_kind(objects, "ConfigMap")}
    monkeypatch.setenv("CASEFLOW_PII_KEY", base64.b64encode(bytes(32)).decode())  # from a Secret in the cluster
    monkeypatch.setenv("CASEFLOW_PSEUDONYM_KEY", base64.b64encode(bytes(range(32))).decode())  # from another
    for service, settings in SETTINGS.items():
        container = named(objects, "Deployment", f"caseflow-{service}")["spec"]["template"]["spec"]["containers"][0]
        with monkeypatch.context() as env:
            for source in container["envFrom"]:
                for name, value in config_maps[source["configMapRef"]["name"]].items():
                    env.setenv(name, value)
            for var in container["env"]:
                if "value" in var:
                    env.setenv(var["name"], var["value"])
            parsed: Any = settings()
        assert parsed.http_port == 8080
        assert parsed.kafka_security_protocol == "SASL_SSL"


def test_rules_files_are_mounted_where_the_settings_point() -> None:
    objects = render("prod")
    for service in SERVICES:
        spec = named(objects, "Deployment", f"caseflow-{service}")["spec"]["template"]["spec"]
        container = spec["containers"][0]
        mounted: dict[str, set[str]] = {}
        volumes = {v["name"]: v for v in spec["volumes"]}
        config_maps = {c["metadata"]["name"]: c["data"] for c in of_kind(objects, "ConfigMap")}
        for mount in container["volumeMounts"]:
            volume = volumes[mount["name"]]
            if "configMap" in volume:
                keys = set(config_maps[volume["configMap"]["name"]])
            elif "projected" in volume:
                keys = {i["path"] for s in volume["projected"]["sources"] for i in s["configMap"]["items"]}
            else:
                continue
            mounted[mount["mountPath"]] = keys
        for var, path in manifests.RULES_SETTINGS[service].items():
            value = next(v["value"] for v in container["env"] if v["name"] == var)
            assert value == f"/etc/caseflow/{path}"
            folder, _, file = value.rpartition("/")
            if file.endswith(".yaml"):
                assert file in mounted[folder], f"{service}: {value} is not mounted"
            else:
                assert mounted[value], f"{service}: {value} is empty"
        packaged = manifests.data_files(service)
        shipped = {f"{m.removeprefix('/etc/caseflow/')}/{k}" for m, keys in mounted.items() for k in keys}
        assert set(packaged) <= {s.removeprefix("rules/") for s in shipped}, service


# -- monitoring ----------------------------------------------------------------------------------------

KNOWN_EXTERNAL = {"up", "kafka_consumergroup_lag", "kafka_consumergroup_current_offset"}


def exported_metric_names() -> set[str]:
    """What the kit and the services export (notify adds its delivery worker's metrics)."""
    registry = CollectorRegistry()
    KitMetrics(registry)
    NotifyMetrics(registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    return {family.name + suffix for family in registry.collect() for suffix in suffixes[family.type]}


def metrics_in(expr: str) -> set[str]:
    """Metric names in a PromQL expression, by its parse tree (a syntax error raises ValueError)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def rules(path: str = "monitoring/prometheusrule.yaml") -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / path).read_text())
    return [rule for group in doc["spec"]["groups"] for rule in group["rules"]]


def jmx_metric_names() -> set[str]:
    """The broker metrics the JMX exporter rules of the kafka-metrics component produce (lower-cased names)."""
    config = yaml.safe_load((DEPLOY / "components" / "kafka-metrics" / "jmx-exporter.yaml").read_text())
    assert config["lowercaseOutputName"] is True
    names = set()
    for rule in config["rules"]:
        (alternatives,) = re.findall(r"name=\(([A-Za-z|]+)\)", rule["pattern"])
        names |= {rule["name"].replace("$1", alt).lower() for alt in alternatives.split("|")}
    return names


def test_kafkas_alerts_use_only_metrics_the_brokers_export() -> None:
    used = set().union(*(metrics_in(r["expr"]) for r in rules("components/kafka-metrics/prometheusrule.yaml")))
    kubelet = {"kubelet_volume_stats_available_bytes", "kubelet_volume_stats_capacity_bytes"}
    assert used - kubelet <= jmx_metric_names()
    assert "kafka_controller_kafkacontroller_activecontrollercount" in used


#: Every PrometheusRule caseflow ships: the suite's, and the kafka-metrics and mongodb-metrics components'.
RULE_FILES = (
    "monitoring/prometheusrule.yaml",
    "components/kafka-metrics/prometheusrule.yaml",
    "components/mongodb-metrics/prometheusrule.yaml",
)


def test_alerts_cover_the_operational_risks_and_each_has_a_runbook() -> None:
    alerts = {r["alert"]: r for path in RULE_FILES for r in rules(path) if "alert" in r}
    assert set(alerts) >= {
        "CaseflowSlaBreachRateHigh",
        "CaseflowConsumerLagHigh",
        "CaseflowDeadLettersGrowing",
        "CaseflowOutboxBacklog",
        "CaseflowNotificationFailures",
        "CaseflowKafkaUnderReplicatedPartitions",
        "CaseflowKafkaOfflinePartitions",
        "CaseflowKafkaNoActiveController",
        "CaseflowKafkaDiskFilling",
        "CaseflowMongoDBMemberDown",
        "CaseflowMongoDBReplicationLag",
        "CaseflowMongoDBNoPrimary",
    }
    headings = {
        line.lstrip("#").strip().lower()
        for line in (DEPLOY / "README.md").read_text().splitlines()
        if line.startswith("#")
    }
    for name, rule in alerts.items():
        anchor = rule["annotations"]["runbook_url"].rpartition("#")[2]
        assert anchor == name.lower()
        assert name.lower() in headings, f"deploy/README.md has no runbook section '### {name}'"


def test_rules_and_dashboard_use_only_metrics_that_exist() -> None:
    """Every expression parses, and every metric in it is exported by someone (a renamed one never fires)."""
    recorded = {r["record"] for r in rules() if "record" in r}
    known = exported_metric_names() | KNOWN_EXTERNAL | recorded | {"faststream_received_messages_total"}
    dashboard = json.loads((DEPLOY / "monitoring" / "dashboard.json").read_text())
    exprs = [r["expr"] for r in rules()]
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = set().union(*(metrics_in(e) for e in exprs))
    assert used, "no metric found: the pattern is broken"
    assert used - known == set()
    assert {
        "caseflow_dead_letters_total",
        "caseflow_outbox_backlog",
        "kafka_consumergroup_lag",
        "caseflow_notify_outcomes_total",
    } <= used


def test_dashboard_is_a_grafana_dashboard_with_unique_panels() -> None:
    dashboard = json.loads((DEPLOY / "monitoring" / "dashboard.json").read_text())
    assert dashboard["uid"] == "caseflow-suite"
    ids = [p["id"] for p in dashboard["panels"]]
    assert ids
    assert len(ids) == len(set(ids))
    assert all(p["targets"] and p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
    (config_map,) = [c for c in of_kind(render("prod"), "ConfigMap") if c["metadata"]["name"] == "caseflow-dashboard"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["caseflow.json"]) == dashboard


# -- image and compose -----------------------------------------------------------------------------------


def test_image_is_multi_stage_non_root_and_runs_any_service() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2
    (user,) = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert not user.startswith(("0", "root"))
    entrypoint = (DEPLOY / "entrypoint.sh").read_text()
    for service in SERVICES:
        assert service in entrypoint
    copied = re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M)
    assert copied
    assert all((ROOT / path.rstrip("/")).exists() for path in copied), copied


def test_the_image_installs_from_the_lock_file(tmp_path: Path) -> None:
    """The build stage runs deploy/install.sh on the committed uv.lock (no resolving): run it the same way."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY pyproject.toml uv.lock ./" in dockerfile
    assert re.search(r"^RUN sh deploy/install.sh /opt/caseflow ", dockerfile, re.M)
    assert "pip install ./" not in dockerfile
    uv = ROOT / ".uv" / "bin" / "uv"
    env = {**os.environ, "UV": str(uv if uv.exists() else "uv")}
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["/bin/sh", str(DEPLOY / "install.sh"), str(venv), "claims"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    probe = "import caseflow_claims, caseflow_ops.cli; import importlib.util as u; print(u.find_spec('caseflow_dev'))"
    found = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert found.stdout.strip() == "None"  # the dev tools stay out of the image
    refused = subprocess.run(
        ["/bin/sh", str(DEPLOY / "install.sh"), str(venv), "billing"], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2


def test_compose_runs_the_suite_on_kafka_and_a_mongodb_replica_set() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(SERVICES) <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka")
    assert "--replSet" in " ".join(map(str, services["mongodb"]["command"]))
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"].startswith("kafka:")
        assert "replicaSet=" in env["MONGODB_URL"]
        assert services[name].get("read_only") is True
        assert set(env) - env_names(SETTINGS[name]) == set(), name


def test_compose_publishes_ports_on_the_loopback_only() -> None:
    """A laptop on a shared network exposes nothing: every published port is bound to 127.0.0.1."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    published = [(name, str(port)) for name, svc in compose["services"].items() for port in svc.get("ports", [])]
    assert {name for name, _ in published} >= {*SERVICES, "kafka", "mongodb", "mailpit"}
    assert [p for p in published if not p[1].startswith("127.0.0.1:")] == []


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (job, le) (rate(caseflow_nope_bucket{job="x", topic=~"a\\\\.b"}[5m])) > 1e-6',
            {"caseflow_nope_bucket"},
        ),
        ("max(a_total) / clamp_min(b_total offset 1h, 1) and on (job) up == 0", {"a_total", "b_total", "up"}),
        ("caseflow:recorded:rate1h > 30", {"caseflow:recorded:rate1h"}),
    ],
)
def test_metric_names_are_found_in_promql(expr: str, names: set[str]) -> None:
    assert metrics_in(expr) == names


def test_a_promql_syntax_error_is_caught() -> None:
    with pytest.raises(ValueError, match="parenthesis"):
        metrics_in("sum(rate(caseflow_dead_letters_total[5m]) > 0")
