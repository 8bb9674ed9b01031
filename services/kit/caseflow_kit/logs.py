"""Structured JSON logs with correlation ids, scrubbed of personal data."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
event_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)

# A safety net, not the policy: code never logs personal data, and this masks
# what slips through (mobile numbers, 18-digit ID numbers, e-mail addresses).
_SCRUBBERS = (
    (re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)"), r"\1********\2"),
    (re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)"), r"\1****\2"),
    (re.compile(r"\b([A-Za-z0-9])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})\b"), r"\1***@\2"),
)


#: One pass that says whether any scrubber could match: most log lines hold nothing to mask.
_MAYBE = re.compile(r"@|(?<!\d)1[3-9]\d{9}(?!\d)|(?<!\d)\d{17}[\dXx](?!\d)")


def scrub(text: str) -> str:
    if not _MAYBE.search(text):
        return text
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        if cid := correlation_id.get():
            entry["correlation_id"] = cid
        if eid := event_id.get():
            entry["event_id"] = eid
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class ConsoleFormatter(JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        line = f"{record.levelname[0]} {self.service:8} {scrub(record.getMessage())} {fields}".rstrip()
        if record.exc_info:
            line += "\n" + scrub(self.formatException(record.exc_info))
        return line


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else ConsoleFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "kafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def log_fields(**fields: Any) -> dict[str, Any]:
    """`logger.info("...", extra=log_fields(case_id=...))`: never pass personal data."""
    return {"fields": fields}
