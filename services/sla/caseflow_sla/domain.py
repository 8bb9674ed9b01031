"""The clock: pure state transitions over event time (epoch seconds), no I/O.

A clock measures one (case, metric, ladder level). It counts time while
running (working time when it has a calendar), pauses while the case waits on
the customer, and is decided once: warned at most once, breached at most once,
met at most once. `due_at` is the next instant a timer must look at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from caseflow_kit.calendar import Calendar, add_counted, counted_seconds

HOLDER_METRICS = ("callback", "resolution", "customer_update", "escalation_follow_up")
CASE_METRICS = ("email_acknowledgement", "complaint_answer")


class State(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    #: A stop arrived before the start it belongs to (out of order): decided when the start arrives.
    STOP_FIRST = "stop_first"


class Outcome(StrEnum):
    MET = "met"
    LATE = "late"
    UNRESOLVED = "unresolved"
    HANDED_OVER = "handed_over"
    CLOSED = "closed"


class Signal(StrEnum):
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"


@dataclass(frozen=True)
class Decision:
    """An SLA event to emit: which signal, and the counted elapsed seconds when it was decided."""

    signal: Signal
    elapsed: int
    deadline_at: float


def clock_id(case_id: str, metric: str, level: str) -> str:
    return f"{case_id}|{metric}|{level}"


@dataclass
class Clock:
    case_id: str
    metric: str
    level: str
    kind: str
    priority: str
    channel: str | None
    station: str | None
    target_s: int
    warning_s: int
    calendar: str | None
    policy_version: str
    started_at: float
    state: State = State.RUNNING
    counted_before: float = 0.0
    running_since: float | None = None
    last_at: float = 0.0
    warned: bool = False
    breached: bool = False
    met: bool = False
    warn_at: float | None = None
    deadline_at: float | None = None
    due_at: float | None = None
    stopped_at: float | None = None
    elapsed_at_stop: int | None = None
    outcome: Outcome | None = None
    breached_at: float | None = None
    restarts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return clock_id(self.case_id, self.metric, self.level)

    # persistence shape -------------------------------------------------------------

    def to_doc(self, version: int | None = None) -> dict[str, Any]:
        doc = {name: value for name in _FIELDS if (value := getattr(self, name)) is not None}
        doc["state"] = self.state.value
        if self.outcome is not None:
            doc["outcome"] = self.outcome.value
        if self.extra:
            doc["extra"] = dict(self.extra)
        else:
            del doc["extra"]
        doc["_id"] = self.id
        if version is not None:
            doc["_v"] = version
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Clock:
        values = {k: v for k, v in doc.items() if k in _NAMES}
        for name in ("channel", "station", "calendar"):  # absent when None
            values.setdefault(name, None)
        values["state"] = State(values["state"])
        if values.get("outcome") is not None:
            values["outcome"] = Outcome(values["outcome"])
        return cls(**values)

    # arithmetic ---------------------------------------------------------------------

    def elapsed(self, calendar: Calendar | None, at: float) -> float:
        """Counted seconds so far, as of `at`."""
        if self.state == State.RUNNING and self.running_since is not None:
            return self.counted_before + counted_seconds(calendar, self.running_since, max(at, self.running_since))
        return self.counted_before

    def arm(self, calendar: Calendar | None) -> None:
        """Recompute the wall-clock warning and deadline instants and the next timer."""
        if self.state != State.RUNNING or self.running_since is None:
            self.warn_at = self.deadline_at = self.due_at = None
            return
        since, before = self.running_since, self.counted_before
        self.deadline_at = add_counted(calendar, since, self.target_s - before)
        self.warn_at = add_counted(calendar, since, self.warning_s - before)
        if self.breached:
            self.due_at = None
        elif self.warned:
            self.due_at = self.deadline_at
        else:
            self.due_at = self.warn_at

    def projected_deadline(self, calendar: Calendar | None, at: float) -> float:
        """When the target is (or was) reached: from the running segment, or from `at` if not running."""
        remaining = self.target_s - self.counted_before
        if self.state == State.RUNNING and self.running_since is not None:
            return add_counted(calendar, self.running_since, remaining)
        return add_counted(calendar, at, remaining)

    def _clamp(self, at: float) -> float:
        """Event time never runs backwards on a clock: an older time counts as the last one applied."""
        return max(at, self.last_at)


_FIELDS = tuple(f.name for f in fields(Clock))
_NAMES = frozenset(_FIELDS)


def start_clock(clock: Clock, calendar: Calendar | None, at: float, *, paused: bool = False) -> Clock:
    clock.started_at = at
    clock.last_at = at
    clock.counted_before = 0.0
    clock.state = State.PAUSED if paused else State.RUNNING
    clock.running_since = None if paused else at
    clock.arm(calendar)
    return clock


def pause(clock: Clock, calendar: Calendar | None, at: float) -> bool:
    if clock.state != State.RUNNING:
        return False
    at = clock._clamp(at)
    clock.counted_before = clock.elapsed(calendar, at)
    clock.state, clock.running_since, clock.last_at = State.PAUSED, None, at
    clock.arm(calendar)
    return True


def resume(clock: Clock, calendar: Calendar | None, at: float) -> bool:
    if clock.state != State.PAUSED:
        return False
    at = clock._clamp(at)
    clock.state, clock.running_since, clock.last_at = State.RUNNING, at, at
    clock.arm(calendar)
    return True


def restart(clock: Clock, calendar: Calendar | None, at: float, *, paused: bool = False) -> bool:
    """Measure afresh from `at` (reassignment, progress update): the once-only flags stay as they are."""
    if at < clock.started_at:
        return False  # a stale start: the clock already runs from a later one
    clock.restarts += 1
    clock.stopped_at = clock.elapsed_at_stop = None
    clock.outcome = None
    start_clock(clock, calendar, at, paused=paused)
    return True


def stop(clock: Clock, calendar: Calendar | None, at: float, outcome: Outcome, *, can_meet: bool) -> list[Decision]:
    """Stop the clock at event time `at`; decide met (within target) or breached (past it, not yet published)."""
    if clock.state in (State.STOPPED, State.STOP_FIRST):
        return []
    at = clock._clamp(at)
    elapsed = clock.elapsed(calendar, at)
    deadline = clock.projected_deadline(calendar, at)
    clock.counted_before = elapsed
    clock.state, clock.running_since, clock.last_at = State.STOPPED, None, at
    clock.stopped_at, clock.elapsed_at_stop = at, round(elapsed)
    decisions: list[Decision] = []
    if elapsed > clock.target_s:
        if not clock.breached:
            clock.breached, clock.breached_at, clock.warned = True, at, True
            decisions.append(Decision(Signal.BREACHED, round(elapsed), deadline))
        clock.outcome = Outcome.LATE if outcome == Outcome.MET else outcome
    else:
        clock.outcome = outcome
        if can_meet and outcome == Outcome.MET and not clock.breached and not clock.met:
            clock.met = True
            decisions.append(Decision(Signal.MET, round(elapsed), deadline))
    clock.arm(calendar)
    return decisions


def fire(clock: Clock, calendar: Calendar | None, now: float) -> list[Decision]:
    """What a timer decides at wall time `now`: the breach if the deadline passed, else the warning if due."""
    if clock.state != State.RUNNING or clock.deadline_at is None or clock.warn_at is None:
        clock.arm(calendar)
        return []
    elapsed = clock.elapsed(calendar, now)
    decisions: list[Decision] = []
    if not clock.breached and now >= clock.deadline_at:
        clock.breached, clock.breached_at, clock.warned = True, now, True
        decisions.append(Decision(Signal.BREACHED, max(clock.target_s, round(elapsed)), clock.deadline_at))
    elif not clock.warned and now >= clock.warn_at:
        clock.warned = True
        decisions.append(Decision(Signal.WARNING, max(clock.warning_s, round(elapsed)), clock.deadline_at))
    clock.arm(calendar)
    return decisions


def stop_first(clock: Clock, at: float, outcome: Outcome) -> Clock:
    """Remember a stop whose start has not arrived yet."""
    clock.state, clock.stopped_at, clock.outcome, clock.last_at = State.STOP_FIRST, at, outcome, at
    clock.running_since = clock.warn_at = clock.deadline_at = clock.due_at = None
    return clock


def start_after_stop(clock: Clock, calendar: Calendar | None, at: float) -> list[Decision]:
    """The start of a clock whose stop came first: decide it at once if the stop belongs to this start."""
    stopped_at, outcome = clock.stopped_at, clock.outcome or Outcome.MET
    start_clock(clock, calendar, at)
    if stopped_at is not None and stopped_at >= at:
        return stop(clock, calendar, stopped_at, outcome, can_meet=True)
    clock.stopped_at, clock.outcome = None, None
    return []
