"""What a timer does to a due clock: warn, publish a breach whose hold has passed (and charge its points)."""

from __future__ import annotations

from .clock import Clock, Decision, Signal, WorkingTime
from .qa import QaEntry, QaPrices, charge_breach


def fire(clock: Clock, time: WorkingTime, prices: QaPrices, now: float) -> tuple[list[Decision], list[QaEntry]]:
    decisions = clock.fire(time, now)
    charges = [
        entry
        for decision in decisions
        if decision.signal == Signal.BREACHED and (entry := charge_breach(clock, decision, prices))
    ]
    return decisions, charges
