"""The case workflow as an explicit state machine: the allowed transitions are data.

For each action, `TRANSITIONS` maps the states it applies in to the state it
leads to; `STAY` marks a late or repeated action that changes nothing (it is
ignored, deterministically); a state missing from an action's row refuses it.
Every action is idempotent: applying it twice leads where applying it once did.

The state is the holder's work on the case. Oversight added up the ladder does not
change it (the station keeps its case and its progress); only HQ's reassignment to
another station and a reopening start over at "assigned".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal


class State(StrEnum):
    ASSIGNED = "assigned"  # handed to a holder, not yet acknowledged
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"  # called back or worked on
    AWAITING_CUSTOMER = "awaiting_customer"  # SLA clocks paused
    RESOLUTION_PROPOSED = "resolution_proposed"
    RESOLUTION_PENDING = "resolution_pending"  # resolved with result "pending": the resolution clock stopped
    CLOSED = "closed"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    CALL_BACK = "call_back"
    NOTE_PROGRESS = "note_progress"
    AWAIT_CUSTOMER = "await_customer"
    PROPOSE_RESOLUTION = "propose_resolution"
    RESOLVE_PENDING = "resolve_pending"
    RESOLVE = "resolve"  # result resolved or unresolved: the case closes
    CUSTOMER_RESPONDED = "customer_responded"
    ESCALATE = "escalate"  # oversight added (breach, repeat contact, request, overturned rejection)
    REQUEST = "request"  # the holder rejects the case or asks for a transfer: HQ rules on it
    REASSIGN = "reassign"  # HQ gives the case to another station
    REOPEN = "reopen"


STAY: Final = "stay"
Target = State | Literal["stay"]

A, K, P, W, R, N, C = (
    State.ASSIGNED,
    State.ACKNOWLEDGED,
    State.IN_PROGRESS,
    State.AWAITING_CUSTOMER,
    State.RESOLUTION_PROPOSED,
    State.RESOLUTION_PENDING,
    State.CLOSED,
)
OPEN: Final = frozenset({A, K, P, W, R, N})


def _all_open(target: Target) -> dict[State, Target]:
    return dict.fromkeys(OPEN, target)


def _unchanged() -> dict[State, Target]:
    return {state: state for state in OPEN}


TRANSITIONS: Final[dict[Action, dict[State, Target]]] = {
    Action.ACKNOWLEDGE: {A: K, K: STAY, P: STAY, W: STAY, R: STAY, N: STAY},
    # A callback or note that crossed the close (a supervisor pushing a station that had just resolved the case)
    # is stale knowledge, not bad input: the case records it and stays closed.
    Action.CALL_BACK: {A: P, K: P, P: P, W: P, R: R, N: N, C: STAY},
    Action.NOTE_PROGRESS: {A: P, K: P, P: P, W: P, R: R, N: N, C: STAY},
    Action.AWAIT_CUSTOMER: _all_open(W),
    Action.PROPOSE_RESOLUTION: {A: R, K: R, P: R, W: R, R: R, N: STAY},
    Action.RESOLVE_PENDING: {A: N, K: N, P: N, W: N, R: N, N: STAY},
    Action.RESOLVE: {**_all_open(C), C: STAY},
    Action.CUSTOMER_RESPONDED: {A: STAY, K: STAY, P: STAY, W: P, R: STAY, N: STAY},
    # Oversight and requests leave the holder's work where it is; a breach that raced the close is ignored.
    Action.ESCALATE: {**_unchanged(), C: STAY},
    Action.REQUEST: _unchanged(),
    Action.REASSIGN: _all_open(A),
    Action.REOPEN: {**_all_open(STAY), C: A},
}


@dataclass(frozen=True)
class Step:
    """The outcome of one action in one state."""

    outcome: Literal["move", "stay", "refuse"]
    state: State
    reason: str = ""


def step(state: State, action: Action) -> Step:
    target = TRANSITIONS[action].get(state)
    if target is None:
        why = "the case is closed" if state is State.CLOSED else f"not allowed when {state}"
        return Step("refuse", state, f"{action} refused: {why}")
    if target == STAY:
        return Step("stay", state, f"{action} changes nothing when {state}")
    return Step("move", State(target))
