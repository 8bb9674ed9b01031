"""caseflowctl's pure parts: client security options, dead-letter headers, metrics parsing, the catalog view."""

from __future__ import annotations

import base64
import importlib
import io
import json
import ssl
from pathlib import Path

import pytest

from caseflow_contracts import TOPICS
from caseflow_dev.broker import free_port
from caseflow_kit.settings import KitSettings
from caseflow_ops.catalog import SERVICES, GroupTopics, default_groups, topics_of_group
from caseflow_ops.cli import run
from caseflow_ops.dlq import DeadLetter, dlq_name, summarize
from caseflow_ops.kafka import Cluster, security_options
from caseflow_ops.status import headline


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {"security_protocol": "PLAINTEXT"}),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_plain_username": "u",
                "sasl_plain_password": "p",
            },
        ),
    ],
)
def test_security_options_follow_the_services_settings(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert security_options(KitSettings()) == expected


def test_sasl_ssl_gets_a_tls_context_and_scram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    options = security_options(KitSettings())
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"


def test_topic_names_take_the_prefix() -> None:
    cluster = Cluster("b:9092", "t1.")
    assert dlq_name(cluster, "cases.lifecycle") == "t1.cases.lifecycle.dlq"
    assert dlq_name(cluster, "cases.lifecycle.dlq") == "t1.cases.lifecycle.dlq"
    assert cluster.unprefixed("t1.sla.breaches") == "sla.breaches"


def letter(headers: list[tuple[str, bytes]], value: bytes = b"{}") -> DeadLetter:
    return DeadLetter("t.dlq", 0, 5, b"k", value, tuple(headers))


def test_original_headers_come_back_byte_for_byte_from_the_kit_copy() -> None:
    original = [("x-event-id", b"e1"), ("bin", bytes([0, 255]))]
    kept = json.dumps([[n, base64.b64encode(v).decode()] for n, v in original]).encode()
    parked = letter([("x-event-id", b"e1"), ("bin", b"\xef\xbf\xbd"), ("x-dlq-original-headers", kept)])
    assert parked.original_headers() == original


def test_without_a_kept_copy_the_non_dlq_headers_are_the_original_ones() -> None:
    parked = letter([("x-event-id", b"e1"), ("x-dlq-reason", b"delivery_failed"), ("x-dlq-channel", b"sms")])
    assert parked.original_headers() == [("x-event-id", b"e1")]
    broken = letter([("x-event-id", b"e1"), ("x-dlq-original-headers", b"not json")])
    assert broken.original_headers() == [("x-event-id", b"e1")]


@pytest.mark.parametrize(
    ("value", "seen"),
    [
        (
            b'{"type": "case.opened", "event_id": "e1", "schema_version": "1.0", "key": "CF-1"}',
            {"parsed": True, "type": "case.opened", "event_id": "e1", "schema_version": "1.0", "key": "CF-1"},
        ),
        (b"[1, 2]", {"parsed": False, "size": 6}),
        (b"\xff\xfe", {"parsed": False, "size": 2}),
    ],
)
def test_a_dead_letter_is_described_without_trusting_its_bytes(value: bytes, seen: dict[str, object]) -> None:
    assert letter([], value).event() == seen


def test_summary_counts_reasons() -> None:
    letters = [letter([("x-dlq-reason", r)]) for r in (b"a", b"b", b"a")] + [letter([])]
    assert summarize(letters) == {"a": 2, "b": 1, "unknown": 1}


def test_headline_sums_metrics_and_splits_outcomes_and_dead_letters() -> None:
    text = """# TYPE caseflow_events_handled_total counter
caseflow_events_handled_total{topic="a",event_type="x",outcome="handled"} 3.0
caseflow_events_handled_total{topic="b",event_type="y",outcome="handled"} 2.0
caseflow_events_handled_total{topic="a",event_type="invalid",outcome="dead_lettered"} 1.0
# TYPE caseflow_dead_letters_total counter
caseflow_dead_letters_total{topic="a",reason="malformed_json"} 1.0
# TYPE caseflow_outbox_backlog gauge
caseflow_outbox_backlog 7.0
# TYPE caseflow_notify_dead_letters_total counter
caseflow_notify_dead_letters_total{channel="sms"} 2.0
"""
    found = headline(text)
    assert found.totals == {
        "caseflow_events_handled_total": 6.0,
        "caseflow_dead_letters_total": 1.0,
        "caseflow_outbox_backlog": 7.0,
    }
    assert found.outcomes == {"handled": 5.0, "dead_lettered": 1.0}
    assert found.dead_letters == {"a/malformed_json": 1.0, "sms/delivery_failed": 2.0}  # notify parks its own


def test_every_service_has_a_group_and_every_consumed_topic_a_reader() -> None:
    groups = default_groups()
    assert set(groups) == {f"caseflow-{s}" for s in SERVICES}
    assert all(g.own for g in groups.values())
    read = {name for g in groups.values() for name in g.topics}
    assert read == {t.name for t in TOPICS if set(t.consumers) & set(SERVICES)}


def test_the_replay_group_reads_the_dead_letter_topics_and_another_group_anything() -> None:
    assert topics_of_group("caseflow-dlq-replay") == GroupTopics(tuple(t.dlq for t in TOPICS), own=True)
    anyone = topics_of_group("someone-else")
    assert not anyone.own
    assert set(anyone.topics) == {t.name for t in TOPICS} | {t.dlq for t in TOPICS}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_default_ports_are_the_services_own(service: str) -> None:
    app = importlib.import_module(f"caseflow_{service}.app")
    assert app.SPEC.name == service
    assert app.SPEC.http_port == SERVICES[service]


async def test_an_unreachable_broker_is_an_error_message_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    assert await run(["--bootstrap", f"127.0.0.1:{port}", "lag"], io.StringIO()) == 2
    assert "caseflowctl: Kafka:" in capsys.readouterr().err


async def test_caseflowctl_token_mints_a_short_lived_token_the_services_accept(tmp_path: Path) -> None:

    from caseflow_kit.auth import Principal, StaticKey, TokenVerifier
    from caseflow_kit.settings import KitSettings, token_verifier
    from caseflow_ops.cli import run
    from caseflow_ops.tokens import LocalIssuer

    out = io.StringIO()
    assert await run(["token", "--role", "claims.reviewer", "--data-dir", str(tmp_path)], out) == 2  # no stack yet
    issuer = LocalIssuer.ensure(tmp_path)
    args = ["token", "--role", "station.agent", "--station", "SH-PD-01", "--subject", "agent-7", "--data-dir"]
    assert await run([*args, str(tmp_path)], out) == 0
    verifier = token_verifier(KitSettings.model_validate(issuer.settings()))
    assert isinstance(verifier, TokenVerifier)
    assert isinstance(verifier.keys, StaticKey)
    who = await verifier.verify(out.getvalue().strip())
    assert who == Principal("agent-7", frozenset({"station.agent"}), frozenset({"SH-PD-01"}))
    assert oct(issuer.private_key_file.stat().st_mode & 0o777) == "0o600"
    assert await run([*args, str(tmp_path), "--ttl", "999999"], out) == 2  # not a long-lived token
