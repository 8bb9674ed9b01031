"""The clock: one (case, metric, level, episode), its pure transitions over event time (epoch seconds).

A clock counts time while running (working time when it keeps a calendar), pauses while the case
waits on the customer, and is decided once: warned at most once, breached at most once, met at
most once. A breach is held for the clock's allowed lateness after the deadline before a timer
publishes it, and a stop stamped before the deadline that arrives after the breach went out
withdraws it. `due_at` is the next instant a timer must look at the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

from caseflow_contracts import deterministic_id


class WorkingTime(Protocol):
    """Counted time: wall-clock, or a unit's working hours (the kit's calendar, adapted by the policies)."""

    def counted(self, start: float, end: float) -> float:
        """Counted seconds in [start, end)."""

    def add(self, start: float, seconds: float) -> float:
        """The instant when `seconds` counted seconds have passed since `start`."""


class WallTime:
    def counted(self, start: float, end: float) -> float:
        return max(0.0, end - start)

    def add(self, start: float, seconds: float) -> float:
        return start + max(0.0, seconds)


WALL = WallTime()


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
    #: HQ gave the case to another station: the clock ends without met (a breach before it stands).
    REASSIGNED = "reassigned"
    CLOSED = "closed"
    #: A follow-up clock for an escalation whose cause (a breach) was withdrawn.
    CANCELLED = "cancelled"
    #: Clocks stored before 1.2, when an escalation ended the lower level's clocks; no longer decided.
    HANDED_OVER = "handed_over"


class Signal(StrEnum):
    WARNING = "warning"
    BREACHED = "breached"
    MET = "met"
    WITHDRAWN = "breach_withdrawn"


@dataclass(frozen=True)
class Decision:
    """An SLA event to emit: its signal, the counted seconds when decided, the deadline; for a withdrawal,
    when the stop that disproved the breach happened; `held` when a timer published a breach it had held."""

    signal: Signal
    elapsed: int
    deadline_at: float
    stopped_at: float | None = None
    held: bool = False


@dataclass(frozen=True)
class QaMark:
    """The points a clock's breach cost its station (kept to give them back if the breach is withdrawn)."""

    duty: str
    points: int
    period: str
    table_version: str
    at: float  # when the duty was missed: the deadline


@lru_cache(maxsize=4096)  # a breach's id is asked for by its event, its QA line and the line's cause
def _event_id(case_id: str, metric: str, level: str, episode: int, signal: str) -> str:
    return deterministic_id(case_id, metric, level, *((f"e{episode}",) if episode else ()), signal)


def clock_id(case_id: str, metric: str, level: str, episode: int = 0) -> str:
    """Episode 0 keeps the key (and event ids) clocks had before episodes existed."""
    base = f"{case_id}|{metric}|{level}"
    return f"{base}|{episode}" if episode else base


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
    lateness_s: int = 0
    #: A new episode starts with each reassignment and reopening: new clocks, new event ids.
    episode: int = 0
    state: State = State.RUNNING
    counted_before: float = 0.0
    running_since: float | None = None
    last_at: float = 0.0
    warned: bool = False
    breached: bool = False
    met: bool = False
    withdrawn: bool = False
    warn_at: float | None = None
    deadline_at: float | None = None
    due_at: float | None = None
    stopped_at: float | None = None
    elapsed_at_stop: int | None = None
    outcome: Outcome | None = None
    breached_at: float | None = None
    restarts: int = 0
    correlation_id: str | None = None
    #: For a follow-up clock: the trigger of the escalation it follows (e.g. "callback:station").
    cause_ref: str | None = None
    qa: QaMark | None = None

    @property
    def id(self) -> str:
        return clock_id(self.case_id, self.metric, self.level, self.episode)

    def event_id(self, signal: Signal | str) -> str:
        """One id per (case, metric, level, episode, signal): a re-emission is recognisably the same event."""
        return _event_id(self.case_id, self.metric, self.level, self.episode, str(signal))

    @property
    def live(self) -> bool:
        return self.state in (State.RUNNING, State.PAUSED)

    # arithmetic ---------------------------------------------------------------------------------

    def elapsed(self, time: WorkingTime, at: float) -> float:
        """Counted seconds so far, as of `at`."""
        if self.state == State.RUNNING and self.running_since is not None:
            return self.counted_before + time.counted(self.running_since, max(at, self.running_since))
        return self.counted_before

    def arm(self, time: WorkingTime) -> None:
        """Recompute the warning and deadline instants and the next timer: the warning, then the end of the hold."""
        if self.state != State.RUNNING or self.running_since is None:
            self.warn_at = self.deadline_at = self.due_at = None
            return
        since, before = self.running_since, self.counted_before
        self.deadline_at = time.add(since, self.target_s - before)
        self.warn_at = time.add(since, self.warning_s - before)
        if self.breached:
            self.due_at = None
        elif self.warned:
            self.due_at = self.deadline_at + self.lateness_s
        else:
            self.due_at = self.warn_at

    def _projected_deadline(self, time: WorkingTime, at: float) -> float:
        remaining = self.target_s - self.counted_before
        if self.state == State.RUNNING and self.running_since is not None:
            return time.add(self.running_since, remaining)
        return time.add(at, remaining)

    def _clamp(self, at: float) -> float:
        """Event time never runs backwards on a clock: an older time counts as the last one applied."""
        return max(at, self.last_at)

    # transitions --------------------------------------------------------------------------------

    def start(self, time: WorkingTime, at: float, *, paused: bool = False) -> None:
        self.started_at = self.last_at = at
        self.counted_before = 0.0
        self.state = State.PAUSED if paused else State.RUNNING
        self.running_since = None if paused else at
        self.arm(time)

    def pause(self, time: WorkingTime, at: float) -> bool:
        if self.state != State.RUNNING:
            return False
        at = self._clamp(at)
        self.counted_before = self.elapsed(time, at)
        self.state, self.running_since, self.last_at = State.PAUSED, None, at
        self.arm(time)
        return True

    def resume(self, time: WorkingTime, at: float) -> bool:
        if self.state != State.PAUSED:
            return False
        at = self._clamp(at)
        self.state, self.running_since, self.last_at = State.RUNNING, at, at
        self.arm(time)
        return True

    def restart(self, time: WorkingTime, at: float, *, paused: bool = False) -> bool:
        """Measure afresh from `at` (a progress update, a new escalation to the level): once-only flags stay."""
        if at < self.started_at or (at == self.started_at and self.live):
            return False  # a stale start: the clock already runs from this one or a later one
        self.restarts += 1
        self.stopped_at = self.elapsed_at_stop = None
        self.outcome = None
        self.start(time, at, paused=paused)
        return True

    def stop(self, time: WorkingTime, at: float, outcome: Outcome, *, can_meet: bool = True) -> list[Decision]:
        """Stop at event time `at`: met within the target, breached past it (if not published yet); a breach
        already published is withdrawn when the stop happened before the deadline."""
        if self.state in (State.STOPPED, State.STOP_FIRST):
            return []
        at = self._clamp(at)
        elapsed = self.elapsed(time, at)
        deadline = self._projected_deadline(time, at)
        self.counted_before = elapsed
        self.state, self.running_since, self.last_at = State.STOPPED, None, at
        self.stopped_at, self.elapsed_at_stop = at, round(elapsed)
        decisions: list[Decision] = []
        if elapsed > self.target_s:
            if not self.breached:
                self.breached, self.breached_at, self.warned = True, at, True
                decisions.append(Decision(Signal.BREACHED, round(elapsed), deadline))
            self.outcome = Outcome.LATE if outcome == Outcome.MET else outcome
        else:
            self.outcome = outcome
            if self.breached and not self.withdrawn:
                self.withdrawn = True
                decisions.append(Decision(Signal.WITHDRAWN, round(elapsed), deadline, stopped_at=at))
            elif can_meet and outcome == Outcome.MET and not self.breached and not self.met:
                decisions.append(Decision(Signal.MET, round(elapsed), deadline))
            self.met = self.met or (can_meet and outcome == Outcome.MET)
        self.arm(time)
        return decisions

    def fire(self, time: WorkingTime, now: float) -> list[Decision]:
        """What a timer decides at `now`: the breach once the deadline and its allowed lateness have passed,
        else the warning if due (never a warning once the deadline has passed)."""
        if self.state != State.RUNNING or self.deadline_at is None or self.warn_at is None:
            self.arm(time)
            return []
        elapsed = self.elapsed(time, now)
        decisions: list[Decision] = []
        if not self.breached and now >= self.deadline_at + self.lateness_s:
            self.breached, self.breached_at, self.warned = True, now, True
            elapsed_s = max(self.target_s, round(elapsed))
            decisions.append(Decision(Signal.BREACHED, elapsed_s, self.deadline_at, held=self.lateness_s > 0))
        elif not self.warned and now >= self.deadline_at:
            self.warned = True  # the hold has begun: a warning now would be stale
        elif not self.warned and now >= self.warn_at:
            self.warned = True
            decisions.append(Decision(Signal.WARNING, max(self.warning_s, round(elapsed)), self.deadline_at))
        self.arm(time)
        return decisions

    def cancel(self, at: float) -> bool:
        """End a live clock without deciding it (its cause was disproved): no met, no breach."""
        if not self.live:
            return False
        self.state, self.running_since, self.outcome = State.STOPPED, None, Outcome.CANCELLED
        self.stopped_at = self.last_at = max(at, self.last_at)
        self.warn_at = self.deadline_at = self.due_at = None
        return True

    def stop_first(self, at: float, outcome: Outcome) -> None:
        """Remember a stop whose start has not arrived yet."""
        self.state, self.stopped_at, self.outcome, self.last_at = State.STOP_FIRST, at, outcome, at
        self.running_since = self.warn_at = self.deadline_at = self.due_at = None

    def start_after_stop(self, time: WorkingTime, at: float) -> list[Decision]:
        """The start of a clock whose stop came first: decided at once if the stop belongs to this start."""
        stopped_at, outcome = self.stopped_at, self.outcome or Outcome.MET
        self.start(time, at)
        if stopped_at is not None and stopped_at >= at:
            return self.stop(time, stopped_at, outcome)
        self.stopped_at, self.outcome = None, None
        return []
