"""The case state machine: its transitions are data; property tests over any sequence of actions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseflow_routing.domain.workflow import OPEN, STAY, TRANSITIONS, Action, State, step

states = st.sampled_from(list(State))
actions = st.sampled_from(list(Action))


def run(start: State, sequence: list[Action]) -> State:
    state = start
    for action in sequence:
        state = step(state, action).state
    return state


def test_every_action_has_a_row_and_every_target_is_a_state() -> None:
    assert set(TRANSITIONS) == set(Action)
    for row in TRANSITIONS.values():
        assert all(target == STAY or isinstance(target, State) for target in row.values())


@pytest.mark.parametrize(
    ("state", "action", "outcome", "target"),
    [
        (State.ASSIGNED, Action.ACKNOWLEDGE, "move", State.ACKNOWLEDGED),
        (State.IN_PROGRESS, Action.ACKNOWLEDGE, "stay", State.IN_PROGRESS),  # a late acknowledgement
        (State.CLOSED, Action.ACKNOWLEDGE, "refuse", State.CLOSED),
        (State.ACKNOWLEDGED, Action.CALL_BACK, "move", State.IN_PROGRESS),
        (State.AWAITING_CUSTOMER, Action.CALL_BACK, "move", State.IN_PROGRESS),
        (State.IN_PROGRESS, Action.AWAIT_CUSTOMER, "move", State.AWAITING_CUSTOMER),
        (State.AWAITING_CUSTOMER, Action.CUSTOMER_RESPONDED, "move", State.IN_PROGRESS),
        (State.IN_PROGRESS, Action.CUSTOMER_RESPONDED, "stay", State.IN_PROGRESS),
        (State.IN_PROGRESS, Action.PROPOSE_RESOLUTION, "move", State.RESOLUTION_PROPOSED),
        (State.RESOLUTION_PROPOSED, Action.RESOLVE_PENDING, "move", State.RESOLUTION_PENDING),
        (State.RESOLUTION_PENDING, Action.RESOLVE, "move", State.CLOSED),
        (State.ASSIGNED, Action.RESOLVE, "move", State.CLOSED),
        (State.CLOSED, Action.RESOLVE, "stay", State.CLOSED),  # a duplicate resolution
        (State.CLOSED, Action.REASSIGN, "refuse", State.CLOSED),
        (State.IN_PROGRESS, Action.REASSIGN, "move", State.ASSIGNED),  # HQ's reassignment starts afresh
        (State.CLOSED, Action.ESCALATE, "stay", State.CLOSED),  # a breach that raced the resolution
        (State.CLOSED, Action.NOTE_PROGRESS, "stay", State.CLOSED),  # a supervisor's push that crossed the close
        (State.CLOSED, Action.CALL_BACK, "stay", State.CLOSED),
        (State.IN_PROGRESS, Action.ESCALATE, "move", State.IN_PROGRESS),  # oversight keeps the holder's work
        (State.AWAITING_CUSTOMER, Action.REQUEST, "move", State.AWAITING_CUSTOMER),
        (State.CLOSED, Action.REQUEST, "refuse", State.CLOSED),
        (State.CLOSED, Action.REOPEN, "move", State.ASSIGNED),
        (State.IN_PROGRESS, Action.REOPEN, "stay", State.IN_PROGRESS),
    ],
)
def test_transition_table(state: State, action: Action, outcome: str, target: State) -> None:
    result = step(state, action)
    assert (result.outcome, result.state) == (outcome, target)


@given(states, actions)
def test_every_action_is_idempotent(state: State, action: Action) -> None:
    """A duplicated update leads where the first one did: duplicates never change the outcome."""
    once = step(state, action).state
    assert step(once, action).state == once


@given(states, actions)
def test_refused_and_ignored_actions_leave_the_state_alone(state: State, action: Action) -> None:
    result = step(state, action)
    if result.outcome != "move":
        assert result.state == state
        assert result.reason


@given(st.lists(actions, max_size=40))
def test_any_sequence_stays_in_known_states_and_only_resolve_closes(sequence: list[Action]) -> None:
    state = State.ASSIGNED
    for action in sequence:
        before = state
        state = step(state, action).state
        assert state in State
        if state is State.CLOSED and before is not State.CLOSED:
            assert action is Action.RESOLVE
        if before is State.CLOSED and state is not State.CLOSED:
            assert action is Action.REOPEN


@given(st.lists(actions, max_size=30), st.lists(st.integers(min_value=0, max_value=29), max_size=10))
def test_duplicating_updates_in_place_changes_nothing(sequence: list[Action], dups: list[int]) -> None:
    """Redelivering any update right after itself (at-least-once delivery) ends in the same state."""
    with_dups = list(sequence)
    for index in sorted({i for i in dups if i < len(sequence)}, reverse=True):
        with_dups.insert(index, with_dups[index])
    assert run(State.ASSIGNED, with_dups) == run(State.ASSIGNED, sequence)


@given(states, st.sampled_from([Action.ESCALATE, Action.REQUEST]))
def test_oversight_and_requests_never_change_the_holders_work(state: State, action: Action) -> None:
    result = step(state, action)
    assert result.state == state


@given(states)
def test_only_a_reassignment_or_a_reopening_starts_over(state: State) -> None:
    for action in Action:
        result = step(state, action)
        if result.state is State.ASSIGNED and state is not State.ASSIGNED:
            assert action in (Action.REASSIGN, Action.REOPEN)


def test_open_is_every_state_but_closed() -> None:
    assert frozenset(State) - OPEN == {State.CLOSED}
