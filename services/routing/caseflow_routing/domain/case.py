"""A case as routing sees it: the station that holds it, the oversight added above it, its state and history.

The holder is the station that must solve the case (seed 000: it answers for the 2-hour callback and the
48-hour resolution); escalation stacks supervisors on top of it (`oversight`) and never takes the case away.
Only HQ reassigns a case to another station, which then starts afresh (a new `epoch`: fresh clocks, no
oversight). Pure data: every operation on it (ladder.py, stations.py) returns an `Outcome`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from caseflow_contracts import Event
from caseflow_contracts.cases import EscalationTrigger
from caseflow_contracts.common import Area, CaseKind, Channel, Contract, LadderLevel, Priority
from caseflow_contracts.errors import Refusal

from .directory import StationDirectory
from .policy import HqRules
from .workflow import State

Emit = tuple[type[Event], Contract]
Detail = str | int | bool | None
RequestKind = Literal["rejection", "transfer"]


@dataclass(frozen=True)
class Oversight:
    """One level of oversight added above the holder: who supervises, and what added them."""

    level: LadderLevel
    supervisor: str
    trigger_key: str
    at: datetime


@dataclass(frozen=True)
class BreachSeen:
    """A breach sla published for this case (its deadline judges whether the holder's actions came late)."""

    metric: str
    level: LadderLevel
    deadline_at: datetime
    event_id: str
    withdrawn: bool = False

    @property
    def ref(self) -> str:
        return f"{self.metric}:{self.level}"


@dataclass(frozen=True)
class Request:
    """A holder's rejection or transfer request waiting for HQ's ruling."""

    kind: RequestKind
    station: str
    reason_code: str
    reason: str
    event_id: str
    at: datetime
    to_station: str | None = None


@dataclass(frozen=True)
class Entry:
    """One line of the case's history."""

    at: datetime
    action: str
    holder: str
    level: LadderLevel
    details: Mapping[str, Detail] = field(default_factory=dict)


@dataclass
class CaseFile:
    case_id: str
    kind: CaseKind
    priority: Priority
    channel: Channel
    holder: str
    holder_level: LadderLevel
    state: State
    opened_at: datetime
    assigned_at: datetime  # when the holder got the case: its clocks start here
    area: Area | None = None
    epoch: int = 0  # one more at each reassignment and reopening: triggers count per epoch
    reopen_count: int = 0
    closed_at: datetime | None = None
    oversight: list[Oversight] = field(default_factory=list)
    breaches: list[BreachSeen] = field(default_factory=list)
    pending: Request | None = None
    triggers: list[str] = field(default_factory=list)
    history: list[Entry] = field(default_factory=list)

    @property
    def level(self) -> LadderLevel:
        """The level of the case's oversight: the holder's own level until a supervisor is added."""
        return self.oversight[-1].level if self.oversight else self.holder_level

    @property
    def supervisor(self) -> str | None:
        return self.oversight[-1].supervisor if self.oversight else None

    def copy(self) -> CaseFile:
        """A copy that can change without touching this one (its records are immutable)."""
        return replace(
            self,
            oversight=list(self.oversight),
            breaches=list(self.breaches),
            triggers=list(self.triggers),
            history=list(self.history),
        )

    def record(self, at: datetime, action: str, **details: Detail) -> None:
        self.history.append(Entry(at, action, self.holder, self.level, details))

    def trigger_key(self, trigger: EscalationTrigger, ref: str) -> str:
        return f"{trigger.value}:{ref}#{self.epoch}"

    def supervises(self, unit: str) -> bool:
        """Whether `unit` was added as a supervisor of the holder (and may follow the case up)."""
        return unit != self.holder and any(step.supervisor == unit for step in self.oversight)

    def start_afresh(self, holder: str, holder_level: LadderLevel, at: datetime) -> None:
        """A new assignment (HQ's reassignment, a reopening): fresh clocks, no request pending."""
        self.holder, self.holder_level, self.assigned_at = holder, holder_level, at
        self.epoch += 1
        self.breaches = []
        self.pending = None


@dataclass(frozen=True)
class Trigger:
    """What adds oversight: its kind, its id (each adds at most one level per epoch) and why."""

    kind: EscalationTrigger
    ref: str
    why: str


@dataclass(frozen=True)
class Facts:
    """What an operation knows besides the case and the input: the rules in force and two times.

    `received_at` is when the input reached the suite (a station's action is stamped with it, so that the
    suite's own lag is never charged to the station); `now` is when routing decides."""

    directory: StationDirectory
    policy: HqRules
    event_id: str
    received_at: datetime
    now: datetime


@dataclass
class Outcome:
    """The case after an input, the events it causes, and a note when nothing changed.

    `refusal` is an input refused with a record of it (e.g. a station text holding forbidden words): the
    case and the events are saved, and the input goes back to its sender as a dead letter."""

    case: CaseFile
    emits: list[Emit] = field(default_factory=list)
    note: str = ""
    refusal: Refusal | None = None
    tags: list[str] = field(default_factory=list)  # what operations count (metrics)
