"""Generate the JSON Schemas and the AsyncAPI document from the models and the catalog.

python -m caseflow_contracts.generate          write them
python -m caseflow_contracts.generate --check  exit 1 when the checked-in files are stale
python -m caseflow_contracts.generate --publish  also record the current schemas as release VERSION

Every release stays in published/<release>/: the current schemas must stay compatible with all of them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from . import __name__ as package_name
from .envelope import Event
from .registry import EVENT_MODELS
from .topics import DAY_MS, DLQ_RETENTION_DAYS, TOPICS, Topic

HERE = Path(__file__).parent
SCHEMA_DIR = HERE / "schemas"
PUBLISHED_DIR = HERE / "published"
ASYNCAPI_FILE = HERE / "asyncapi.json"
#: The release of the catalogue (AsyncAPI info.version). 1.1.0: `actor` on the envelope (events 1.1),
#: claim.audited, and the schemas say what parse_event accepts (type required, the major version fixed,
#: date-times with an offset, the contact reference rule). 1.2.0: stations keep their cases (case.escalated adds
#: a supervisor), HQ rulings, the complaint property and claimants, callbacks that count only when the customer
#: was told the result, the case record, satisfaction answers, contacts after closure, breaches withdrawn,
#: the QA scorecard (topic qa.scorecard). 1.3.0: the rules versions the services load (topic policies.versions).
VERSION = "1.3.0"


def schema_file_name(model: type[Event]) -> str:
    return f"{model.event_type()}.v{model.MAJOR}.json"


def event_schema(model: type[Event]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://caseflow.example/schemas/{schema_file_name(model)}",
        **schema,
    }


@dataclass(frozen=True)
class Role:
    """One party's use of one topic: the event types it receives from it or sends to it."""

    party: str
    topic: Topic
    events: tuple[type[Event], ...]


def catalog_roles() -> list[tuple[str, Role]]:
    """Every producer and consumer the catalog names, with every event type of the topic."""
    roles = []
    for topic in TOPICS:
        roles += [("send", Role(producer, topic, topic.events)) for producer in topic.producers]
        roles += [("receive", Role(consumer, topic, topic.events)) for consumer in topic.consumers]
    return roles


def asyncapi_document(
    roles: Sequence[tuple[str, Role]] | None = None,
    *,
    title: str = "caseflow events",
    description: str = "Events of the caseflow customer-service case pipeline. "
    "Every event travels in the same envelope; consumers accept any minor version of a major they know.",
) -> dict[str, Any]:
    """AsyncAPI 3.0: a channel per topic used (and its dead-letter topic), a message per event type used, and
    an operation per (party, action, topic). Without `roles`, the whole catalog."""
    roles = list(roles) if roles is not None else catalog_roles()
    used = {model for _, role in roles for model in role.events}
    models = [model for model in EVENT_MODELS if model in used]
    _, defs = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    messages = {
        model.event_type(): {
            "name": model.event_type(),
            "title": model.__name__,
            "summary": (model.__doc__ or model.event_type()).strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            **_facet_headers(model),
        }
        for model in models
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for action, role in roles:
        topic = role.topic
        channel_id = topic.name.replace(".", "-")
        described = channels.setdefault(channel_id, _channel(topic))
        for model in role.events:
            described["messages"][model.event_type()] = {"$ref": f"#/components/messages/{model.event_type()}"}
        channels.setdefault(channel_id + "-dlq", _dlq_channel(topic))
        operations[f"{_slug(role.party)}-{action}s-{channel_id}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "title": f"{role.party} {'publishes' if action == 'send' else 'consumes'}",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{model.event_type()}"} for model in role.events],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": VERSION, "description": description},
        "defaultContentType": "application/json",
        "servers": {"kafka": {"host": "kafka:9092", "protocol": "kafka", "description": "KAFKA_BOOTSTRAP_SERVERS"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": defs.get("$defs", {})},
    }


def _facet_headers(model: type[Event]) -> dict[str, Any]:
    """The headers that repeat payload fields for consumers to filter on unparsed (Event.FACET_FIELDS)."""
    if not model.FACET_FIELDS:
        return {}
    fields = {
        f"x-facet-{name}": {"type": "string", "description": f"payload.{name}, a hint to filter on without parsing"}
        for name in model.FACET_FIELDS
    }
    return {"headers": {"type": "object", "properties": fields}}


def _channel(topic: Topic) -> dict[str, Any]:
    return {
        "address": topic.name,
        "description": f"{topic.description}. Key: {topic.key}.",
        "messages": {},
        "bindings": {
            "kafka": {
                "topic": topic.name,
                "partitions": topic.partitions,
                "replicas": topic.replication_factor,
                "topicConfiguration": {"retention.ms": topic.retention_ms, "cleanup.policy": [topic.cleanup_policy]},
                "bindingVersion": "0.5.0",
            }
        },
    }


def _dlq_channel(topic: Topic) -> dict[str, Any]:
    return {
        "address": topic.dlq,
        "description": f"Dead letters of {topic.name}: original bytes and headers, plus x-dlq-* headers with the reason.",
        "bindings": {
            "kafka": {
                "topic": topic.dlq,
                "partitions": 1,
                "topicConfiguration": {"retention.ms": DLQ_RETENTION_DAYS * DAY_MS},
                "bindingVersion": "0.5.0",
            }
        },
    }


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def expected_files() -> dict[Path, str]:
    files = {SCHEMA_DIR / schema_file_name(m): _dump(event_schema(m)) for m in EVENT_MODELS}
    files[ASYNCAPI_FILE] = _dump(asyncapi_document())
    return files


def published_releases() -> dict[str, Path]:
    """Every published release and its folder, oldest first."""
    folders = [p for p in PUBLISHED_DIR.iterdir() if p.is_dir()] if PUBLISHED_DIR.exists() else []
    return {p.name: p for p in sorted(folders, key=lambda p: tuple(int(n) for n in p.name.split(".")))}


def publish() -> None:
    """Record the current schemas as release VERSION; a release once published never changes."""
    folder = PUBLISHED_DIR / VERSION
    current = {schema_file_name(m): _dump(event_schema(m)) for m in EVENT_MODELS}
    if folder.exists():
        recorded = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.json")}
        if recorded != current:
            raise SystemExit(f"release {VERSION} is published and differs: raise VERSION in {Path(__file__).name}")
        return
    folder.mkdir(parents=True)
    for name, text in current.items():
        (folder / name).write_text(text, encoding="utf-8")


def stale_files() -> list[Path]:
    expected = expected_files()
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    stale += [p for p in SCHEMA_DIR.glob("*.json") if p not in expected]
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {package_name}.generate")
    parser.add_argument("--check", action="store_true", help="fail when checked-in files are stale")
    parser.add_argument("--publish", action="store_true", help="record the current schemas as published")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path.relative_to(HERE.parent)}", file=sys.stderr)
        return 1 if stale else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for old in SCHEMA_DIR.glob("*.json"):
        old.unlink()
    for path, text in expected_files().items():
        path.write_text(text, encoding="utf-8")
    if args.publish:
        publish()
    print(f"wrote {len(EVENT_MODELS)} schemas and {ASYNCAPI_FILE.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
