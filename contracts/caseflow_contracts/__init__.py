"""caseflow event contracts: install with pydantic as the only dependency."""

from .common import Money
from .envelope import Event, deterministic_id
from .registry import EVENT_MODELS, EVENTS_BY_TYPE, ContractError, parse_event
from .topics import TOPICS, Topic, topic_for

__all__ = [
    "EVENTS_BY_TYPE",
    "EVENT_MODELS",
    "TOPICS",
    "ContractError",
    "Event",
    "Money",
    "Topic",
    "deterministic_id",
    "parse_event",
    "topic_for",
]
