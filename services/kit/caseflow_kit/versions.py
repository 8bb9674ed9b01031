"""Every rules file a service loads, published by version on the compacted topic policies.versions.

A replay (`caseflowctl whatif`) finds there the rules that decided a period, whatever file is in force now.
Publishing is idempotent: the record key is `kind:version`, the broker compacts on it, and republishing a
version (each start does) changes nothing. A publish that fails is tried again at the next reload tick.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from caseflow_contracts import deterministic_id
from caseflow_contracts.policies import MAX_CONTENT_CHARS, PolicyVersionLoaded, PolicyVersionPayload
from caseflow_contracts.registry import MAX_EVENT_BYTES

from . import logs
from .publisher import Published
from .rules import RulesFile, file_format
from .store import OutboxMessage
from .uow import event_headers

log = logging.getLogger("caseflow.rules")


def version_event(rules: RulesFile[Any], service: str, now: datetime) -> PolicyVersionLoaded | None:
    """The record that keeps this version; None when the rules declare no version or are too large to keep."""
    if rules.version is None or len(rules.text) > MAX_CONTENT_CHARS:
        return None
    policy_id = f"{rules.kind}:{rules.version}"
    payload = PolicyVersionPayload(
        policy_id=policy_id,
        kind=rules.kind,
        version=rules.version,
        content=rules.text,
        file_format="json" if file_format(rules.path) == "json" else "yaml",
        service=service,
        loaded_at=now,
    )
    # The id is the content's: the same file loaded twice is one event (consumers de-duplicate on ids).
    digest = hashlib.sha256(rules.text.encode()).hexdigest()
    event = PolicyVersionLoaded.create(
        payload, key=policy_id, producer=service, occurred_at=now, event_id=deterministic_id(policy_id, digest)
    )
    return None if len(event.to_bytes()) > MAX_EVENT_BYTES else event


class VersionKeeper:
    """Publishes each (kind, version) of the service's rules files once per process, until the broker has it."""

    def __init__(
        self,
        service: str,
        topic_name: str,
        publish: Callable[[Sequence[OutboxMessage]], Awaitable[Published]],
    ) -> None:
        self.service = service
        self.topic_name = topic_name
        self._publish = publish
        self.kept: set[str] = set()

    async def keep(self, files: Sequence[RulesFile[Any]], now: datetime) -> bool:
        """Publish the versions not published yet; True when none is left to publish."""
        events = []
        for rules in files:
            event = version_event(rules, self.service, now)
            if event is None:
                if rules.version is not None and f"{rules.kind}:{rules.version}" not in self.kept:
                    self.kept.add(f"{rules.kind}:{rules.version}")
                    log.warning(
                        "rules file too large for policies.versions; keep it in a folder for replays",
                        extra=logs.log_fields(kind=rules.kind, version=rules.version, chars=len(rules.text)),
                    )
                continue
            if event.key not in self.kept:
                events.append(event)
        if not events:
            return True
        messages = [OutboxMessage(self.topic_name, e.key, e.to_bytes(), event_headers(e)) for e in events]
        try:
            result = await self._publish(messages)
        except Exception as exc:  # noqa: BLE001 - the broker is away: the next tick tries again
            log.warning("rules versions not published yet", extra=logs.log_fields(error=str(exc)[:200]))
            return False
        for index in result.sent:
            self.kept.add(events[index].key)
        for index, why in result.refused.items():
            self.kept.add(events[index].key)  # refused for good: telling it once is enough
            log.error(
                "rules version refused by the broker",
                extra=logs.log_fields(policy_id=events[index].key, reason=why),
            )
        return not result.unsent
