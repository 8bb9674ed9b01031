"""caseflow's small shared runtime: app factory, settings, store port, outbox, dead letters, health, metrics, logs."""

from .consumer import Context, Subscription
from .errors import CaseflowError, Refusal
from .runtime import Runtime, ServiceSpec, serve
from .settings import KitSettings

__all__ = [
    "CaseflowError",
    "Context",
    "KitSettings",
    "Refusal",
    "Runtime",
    "ServiceSpec",
    "Subscription",
    "serve",
]
