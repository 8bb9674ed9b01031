"""Keep the README's generated tables (topics, configuration) and each service's OpenAPI and AsyncAPI
documents (`services/<service>/openapi.json`, `asyncapi.json`) in step with the code.

python -m caseflow_dev.docs          rewrite them
python -m caseflow_dev.docs --check  exit 1 when they are stale
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from caseflow_contracts import TOPICS
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
            f"| `{t.name}` | {t.key} | {t.partitions} | {t.retention_days} d | {', '.join(t.producers)} "
            f"| {', '.join(t.consumers)} | {events} |"
        )
    rows.append(
        f"\nEvery topic has a dead-letter twin `<topic>.dlq` (1 partition, {DLQ_RETENTION_DAYS} d): the original "
        "bytes, key and headers, plus `x-dlq-reason`, `x-dlq-detail`, `x-dlq-original-topic/partition/offset`."
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
    for marker, body in (("topics", topic_table()), ("config", config_table())):
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
