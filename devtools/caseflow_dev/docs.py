"""Keep the README's generated tables (topics, metrics, configuration) and each service's OpenAPI and AsyncAPI
documents (`services/<service>/openapi.json`, `asyncapi.json`) in step with the code.

python -m caseflow_dev.docs          rewrite them
python -m caseflow_dev.docs --check  exit 1 when they are stale
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from caseflow_contracts import EVENT_MODELS, TOPICS
from caseflow_contracts.topics import DLQ_RETENTION_DAYS
from caseflow_kit import Runtime
from caseflow_kit.asyncapi import service_document
from caseflow_kit.privacy import PiiSettings, PseudonymSettings
from caseflow_kit.settings import KitSettings

README = Path(__file__).resolve().parents[2] / "README.md"
SERVICES = ("intake", "routing", "sla", "claims", "notify")


def topic_table() -> str:
    rows = [
        "| topic | key | partitions | retention | producers | consumers | events |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in TOPICS:
        events = ", ".join(f"`{e}`" for e in sorted(t.event_types))
        rows.append(
            f"| `{t.name}` | {t.key} | {t.partitions} | {'compacted' if t.compacted else f'{t.retention_days} d'} | {', '.join(t.producers)} "
            f"| {', '.join(t.consumers)} | {events} |"
        )
    rows.append(
        f"\nEvery topic has a dead-letter twin `<topic>.dlq` (1 partition, {DLQ_RETENTION_DAYS} d): the original "
        "bytes, key and headers, plus `x-dlq-reason`, `x-dlq-detail`, `x-dlq-original-topic/partition/offset`."
    )
    faceted = [
        f"`{m.event_type()}` ({', '.join(f'`x-facet-{name}`' for name in m.FACET_FIELDS)})"
        for m in sorted(EVENT_MODELS, key=lambda m: m.event_type())
        if m.FACET_FIELDS
    ]
    rows.append(
        "\nEvery record carries `x-event-type`, `x-schema-version`, `x-event-id`, `x-correlation-id` (and `x-causation-id`) "
        "headers; "
        f"{', '.join(faceted)} also repeat payload fields as headers (`Event.FACET_FIELDS`). A consumer passes over "
        "a type it does not handle, or facet values its subscription's `only` leaves out, by the headers alone on "
        "the topics caseflow writes (sla parses only the e-mails of `notify.deliveries`); on topics written outside "
        "caseflow, and for a record without the headers, the parsed event decides."
    )
    return "\n".join(rows)


#: Registered by FastStream's Prometheus middleware but never counted: events are published by the outbox relay's
#: own producer, not through FastStream (its publishes are `caseflow_events_published_total`).
NEVER_COUNTED_PREFIX = "faststream_published_"


@dataclass(frozen=True)
class Metric:
    name: str  # as exported: a counter's name ends in _total
    kind: str
    meaning: str


async def _registered(service: str, registry_dir: Path) -> CollectorRegistry:
    """The registry a service serves at /metrics: its runtime's (kit, edge, FastStream) plus what its deps add."""
    spec = importlib.import_module(f"caseflow_{service}.app").SPEC
    # Throwaway keys: the deps are built only to see what they register, nothing is sealed with them.
    keys = {name: base64.b64encode(bytes([n]) * 32).decode() for n, name in enumerate(("pii_key", "pseudonym_key"))}
    settings = spec.settings_type.model_validate({**keys, "data_dir": registry_dir})
    runtime = Runtime(spec, settings)
    deps = await spec.build_deps(runtime)
    if spec.close_deps is not None:
        await spec.close_deps(deps)
    await runtime.store.close()
    return runtime.registry


def exported_metrics() -> dict[str, tuple[Metric, list[str]]]:
    """Every metric a service exports, with the services that export it."""
    found: dict[str, tuple[Metric, list[str]]] = {}
    for service in SERVICES:
        with tempfile.TemporaryDirectory() as data_dir:
            registry = asyncio.run(_registered(service, Path(data_dir)))
        for family in registry.collect():
            name = f"{family.name}_total" if family.type == "counter" else family.name
            metric = Metric(name, family.type, family.documentation)
            found.setdefault(name, (metric, []))[1].append(service)
    return found


def metrics_table() -> str:
    rows = ["| metric | type | exported by | meaning |", "|---|---|---|---|"]
    never_counted = []
    for name, (metric, services) in sorted(exported_metrics().items()):
        if name.startswith(NEVER_COUNTED_PREFIX):
            never_counted.append(f"`{name}`")
            continue
        who = "all services" if len(services) == len(SERVICES) else ", ".join(services)
        meaning = metric.meaning.replace("|", "\\|").replace("<", "&lt;")
        rows.append(f"| `{name}` | {metric.kind} | {who} | {meaning} |")
    rows.append(
        f"\nFastStream's middleware also registers {', '.join(never_counted)}: they stay empty, because events are "
        "published by the outbox relay's own producer, not through FastStream (`caseflow_events_published_total` "
        "counts them)."
    )
    return "\n".join(rows)


def _env_name(settings: type[BaseSettings], name: str, info: FieldInfo) -> str:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    prefix = settings.model_config.get("env_prefix", "")
    return f"{prefix}{name}".upper()


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None or value in ({}, []):
        return ""
    text = str(value)
    root = str(README.parent)
    if text.startswith(root):  # packaged data files: show where they sit in the repository
        text = text[len(root) + 1 :]
    return f"`{text}`"


def _rows(settings: type[BaseSettings], names: list[str], who: str) -> list[str]:
    rows = []
    for name in names:
        info = settings.model_fields[name]
        description = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{_env_name(settings, name, info)}` | {_default(info)} | {who} | {description} |")
    return rows


def config_table() -> str:
    rows = ["| variable | default | used by | meaning |", "|---|---|---|---|"]
    rows += _rows(KitSettings, list(KitSettings.model_fields), "all services")
    rows += _rows(PiiSettings, list(PiiSettings.model_fields), "intake, notify")
    rows += _rows(PseudonymSettings, list(PseudonymSettings.model_fields), "intake")
    shared = KitSettings.model_fields.keys() | PiiSettings.model_fields.keys() | PseudonymSettings.model_fields.keys()
    for service in SERVICES:
        module = importlib.import_module(f"caseflow_{service}.settings")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, KitSettings) and value is not KitSettings:
                own = [n for n in value.model_fields if n not in shared]
                rows += _rows(value, own, service)
    return "\n".join(rows)


def render(text: str) -> str:
    for marker, body in (
        ("topics", topic_table()),
        ("metrics", metrics_table()),
        ("config", config_table()),
    ):
        start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{body}\n{end}{tail}"
    return text


def openapi_file(service: str) -> Path:
    return README.parent / "services" / service / "openapi.json"


def openapi_document(service: str) -> str:
    """The service's OpenAPI document, as FastAPI serves it at /openapi.json (and renders at /docs)."""
    spec = importlib.import_module(f"caseflow_{service}.app").SPEC
    # Defaults only: the document does not depend on the environment (and needs no keys).
    runtime = Runtime(spec, spec.settings_type.model_construct())
    return json.dumps(runtime.asgi().openapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def asyncapi_file(service: str) -> Path:
    return README.parent / "services" / service / "asyncapi.json"


def asyncapi_text(service: str) -> str:
    """The service's AsyncAPI document, as it serves it at /docs/asyncapi.json."""
    spec = importlib.import_module(f"caseflow_{service}.app").SPEC
    return json.dumps(service_document(spec), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def expected_files() -> dict[Path, str]:
    files = {README: render(README.read_text(encoding="utf-8"))}
    files |= {openapi_file(s): openapi_document(s) for s in SERVICES}
    files |= {asyncapi_file(s): asyncapi_text(s) for s in SERVICES}
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caseflow_dev.docs")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = {
        path: text
        for path, text in expected_files().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    }
    if args.check:
        for path in stale:
            print(f"{path.relative_to(README.parent)} is stale: run `make schemas`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in stale.items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
