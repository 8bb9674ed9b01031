"""A service's own AsyncAPI document: the channels it really uses and the messages it really handles and sends.

Built from the catalog and the service's spec: it receives, on each topic it subscribes to, the event types it
has handlers for; it sends the event types it declares (`ServiceSpec.emits`, checked when it emits), and
dead letters on the `.dlq` twins of what it consumes. Descriptions and schemas come from the contracts.
The document is served at /docs/asyncapi (page) and /docs/asyncapi.json, and written into the repository
(`services/<name>/asyncapi.json`, checked fresh by a test).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from caseflow_contracts import Event, topic_for
from caseflow_contracts.generate import Role, asyncapi_document
from caseflow_contracts.registry import EVENTS_BY_TYPE

if TYPE_CHECKING:
    from .runtime import ServiceSpec


def roles_of(spec: ServiceSpec[Any, Any]) -> list[tuple[str, Role]]:
    roles: list[tuple[str, Role]] = []
    for subscription in spec.subscriptions:
        handled = tuple(EVENTS_BY_TYPE[t] for t in sorted(subscription.handlers))
        roles.append(("receive", Role(spec.name, subscription.topic, handled)))
    by_topic: dict[str, list[type[Event]]] = defaultdict(list)
    topics = {}
    for model in spec.emits or _catalog_sends(spec.name):
        topic = topic_for(model)
        topics[topic.name] = topic
        by_topic[topic.name].append(model)
    roles += [("send", Role(spec.name, topics[name], tuple(models))) for name, models in sorted(by_topic.items())]
    return roles


def _catalog_sends(service: str) -> list[type[Event]]:
    """Until a service declares what it emits: everything on the topics the catalog says it produces to."""
    from caseflow_contracts import TOPICS

    return [model for topic in TOPICS if service in topic.producers for model in topic.events]


def service_document(spec: ServiceSpec[Any, Any], description: str = "") -> dict[str, Any]:
    return asyncapi_document(
        roles_of(spec),
        title=f"caseflow {spec.name}",
        description=description or f"What the {spec.name} service consumes and publishes, from the contracts.",
    )


class _Json:
    """What FastStream's page renderer asks of a specification: its JSON."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._text = json.dumps(document, ensure_ascii=False)

    def to_json(self) -> str:
        return self._text


def page(document: dict[str, Any]) -> str:
    from faststream.specification.asyncapi.site import get_asyncapi_html

    # No "try it out": that would let any HTTP caller publish to the broker.
    return get_asyncapi_html(_Json(document), try_it_out_path=None)  # type: ignore[arg-type]
