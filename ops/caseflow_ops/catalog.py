"""What the operator tools know about the suite: its services, their ports, groups and input topics."""

from __future__ import annotations

from caseflow_contracts import TOPICS, Topic

#: Each service and its default HTTP port (CASEFLOW_HTTP_PORT overrides; 8080 in Kubernetes).
SERVICES: dict[str, int] = {"intake": 8081, "routing": 8082, "sla": 8083, "claims": 8084, "notify": 8085}


def group_of(service: str) -> str:
    return f"caseflow-{service}"


def inputs_of(service: str) -> list[Topic]:
    """The catalog topics a service consumes."""
    return [t for t in TOPICS if service in t.consumers]


def default_groups() -> dict[str, list[Topic]]:
    """The consumer group of every service, with the topics it consumes."""
    return {group_of(s): inputs_of(s) for s in SERVICES}
