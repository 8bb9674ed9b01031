"""What the operator tools know about the suite: its services, their ports, groups and topics."""

from __future__ import annotations

from dataclasses import dataclass

from caseflow_contracts import TOPICS, Topic

#: Each service and its default HTTP port (CASEFLOW_HTTP_PORT overrides; 8080 in Kubernetes).
SERVICES: dict[str, int] = {"intake": 8081, "routing": 8082, "sla": 8083, "claims": 8084, "notify": 8085}
#: The group `caseflowctl dlq replay` commits its cursor in: it reads the dead-letter topics.
REPLAY_GROUP = "caseflow-dlq-replay"


def group_of(service: str) -> str:
    return f"caseflow-{service}"


def inputs_of(service: str) -> list[Topic]:
    """The catalog topics a service consumes."""
    return [t for t in TOPICS if service in t.consumers]


@dataclass(frozen=True)
class GroupTopics:
    """The topics a consumer group reads; `own`: they are its inputs (shown even before a first commit)."""

    topics: tuple[str, ...]
    own: bool


def topics_of_group(group: str) -> GroupTopics:
    """A service's group reads its inputs, the replay group the dead-letter topics; any other, maybe anything."""
    for service in SERVICES:
        if group == group_of(service):
            return GroupTopics(tuple(t.name for t in inputs_of(service)), own=True)
    if group == REPLAY_GROUP:
        return GroupTopics(tuple(t.dlq for t in TOPICS), own=True)
    return GroupTopics(tuple(name for t in TOPICS for name in (t.name, t.dlq)), own=False)


def default_groups() -> dict[str, GroupTopics]:
    """The consumer group of every service, with the topics it consumes."""
    return {group_of(s): topics_of_group(group_of(s)) for s in SERVICES}
