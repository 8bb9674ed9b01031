"""caseflow's small shared runtime: app factory, settings, store port, outbox, dead letters, health, metrics, logs.

The names below load on first use, so that importing a pure module of the kit (`caseflow_kit.calendar`,
`caseflow_kit.rules`) does not pull FastStream, aiokafka and PyMongo in with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .consumer import Context as Context
    from .consumer import Subscription as Subscription
    from .errors import CaseflowError as CaseflowError
    from .errors import Refusal as Refusal
    from .runtime import Runtime as Runtime
    from .runtime import ServiceSpec as ServiceSpec
    from .runtime import serve as serve
    from .settings import KitSettings as KitSettings

_HOME = {
    "CaseflowError": "errors",
    "Context": "consumer",
    "KitSettings": "settings",
    "Refusal": "errors",
    "Runtime": "runtime",
    "ServiceSpec": "runtime",
    "Subscription": "consumer",
    "serve": "runtime",
}

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


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
