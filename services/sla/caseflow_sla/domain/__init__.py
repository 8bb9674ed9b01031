"""sla's domain, pure (no kit, no I/O): clocks, the case aggregate, the QA scorecard and the KPIs.

Inputs are contract payloads, typed records and the time as a parameter; the policies and the QA table
come in through the `Rules` and `QaPrices` protocols, calendars through `WorkingTime`.
"""

from .case import (
    CASE_LEVEL,
    CASE_METRICS,
    FOLLOW_UP,
    STATION_METRICS,
    CaseClocks,
    CaseFacts,
    Cause,
    Chargeback,
    Emitted,
    Rules,
    Subject,
    Target,
)
from .clock import WALL, Clock, Decision, Outcome, QaMark, Signal, State, WallTime, WorkingTime, clock_id
from .qa import QaEntry, QaPrices, charge_breach
from .timer import fire

__all__ = [
    "CASE_LEVEL",
    "CASE_METRICS",
    "FOLLOW_UP",
    "STATION_METRICS",
    "WALL",
    "CaseClocks",
    "CaseFacts",
    "Cause",
    "Chargeback",
    "Clock",
    "Decision",
    "Emitted",
    "Outcome",
    "QaEntry",
    "QaMark",
    "QaPrices",
    "Rules",
    "Signal",
    "State",
    "Subject",
    "Target",
    "WallTime",
    "WorkingTime",
    "charge_breach",
    "clock_id",
    "fire",
]
