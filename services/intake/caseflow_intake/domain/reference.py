"""A reference (one waybill, else one platform order): its open and closed cases, and the merge decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from ..rules import IntakeRules
from .inputs import Incoming


@dataclass(frozen=True)
class CaseRef:
    case_id: str
    problem: str
    at: datetime  # opened (open cases) or closed (closed cases)


class Action(StrEnum):
    DUPLICATE = "duplicate"
    OPEN = "open"
    MERGE = "merge"
    REOPEN = "reopen"


@dataclass(frozen=True)
class Decision:
    action: Action
    case_id: str = ""
    linked_case_id: str | None = None


@dataclass
class Reference:
    """What intake knows about one waybill (or order): its open and closed cases, the sources taken in.

    intake's view of which cases are closed is a copy of routing's (routing owns the case's state) and lags
    it: a merge into a case routing has closed comes back as case.contact_after_closure (see IntakeCase).
    """

    key: str
    open: list[CaseRef] = field(default_factory=list)
    closed: list[CaseRef] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    version: int = 0  # the stored version (0: not stored yet)

    def decide(self, item: Incoming, rules: IntakeRules) -> Decision:
        """Seen before → duplicate; same problem open → merge; closed → reopen (contacts in the window) or link.

        The window is judged on event times: the contact's time (Incoming.at) against the close's time.
        """
        if item.source_key in self.sources:
            return Decision(Action.DUPLICATE)
        problem = rules.problem_of(item.kind)
        generic = item.contact and item.kind in rules.generic_contact_kinds

        def matches(c: CaseRef) -> bool:
            return generic or c.problem == problem

        for case in _newest_first(self.open):
            if matches(case):
                return Decision(Action.MERGE, case.case_id)
        for case in _newest_first(self.closed):
            if matches(case):
                if item.contact and within_window(item.at, case.at, rules):
                    return Decision(Action.REOPEN, case.case_id)
                return Decision(Action.OPEN, linked_case_id=case.case_id)
        return Decision(Action.OPEN)

    def took_in(self, source_key: str) -> None:
        self.sources.append(source_key)

    def case_opened(self, case_id: str, problem: str, at: datetime) -> None:
        self.open.append(CaseRef(case_id, problem, at))

    def case_reopened(self, case_id: str, problem: str, at: datetime) -> None:
        self.closed = [c for c in self.closed if c.case_id != case_id]
        if all(c.case_id != case_id for c in self.open):
            self.open.append(CaseRef(case_id, problem, at))

    def case_closed(self, case_id: str, problem: str, at: datetime) -> None:
        self.open = [c for c in self.open if c.case_id != case_id]
        self.closed = [c for c in self.closed if c.case_id != case_id] + [CaseRef(case_id, problem, at)]


def within_window(contact_at: datetime, closed_at: datetime, rules: IntakeRules) -> bool:
    """A contact reopens a closed case when made at most `reopen_window_hours` after the close (or before it:
    a contact that crossed the close)."""
    return contact_at - closed_at <= timedelta(hours=rules.reopen_window_hours)


def _newest_first(cases: list[CaseRef]) -> list[CaseRef]:
    """By time, and among cases of the same moment, the one recorded last first."""
    ranked = sorted(enumerate(cases), key=lambda ic: (ic[1].at, ic[0]), reverse=True)
    return [case for _, case in ranked]
