"""Rate limit and circuit breaker, as small clock-driven state machines (the caller supplies the time)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; `reserve` takes one and says how long to wait for it."""

    rate: float
    burst: int
    _tokens: float = field(init=False)
    _at: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)

    def reserve(self, now: float) -> float:
        if self._at is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Opens after `failures` consecutive failures; after `reset_s` lets one trial through (half-open)."""

    failures: int
    reset_s: float
    state: BreakerState = BreakerState.CLOSED
    consecutive: int = 0
    opened_at: float = 0.0
    _trial_out: bool = False
    _trial_at: float = 0.0

    def allow(self, now: float) -> float | None:
        """None when a send may go now; else the time at which to ask again."""
        if self.state is BreakerState.CLOSED:
            return None
        if self.state is BreakerState.OPEN and now >= self.opened_at + self.reset_s:
            self.state = BreakerState.HALF_OPEN
            self._trial_out = False
        if self.state is BreakerState.HALF_OPEN and (not self._trial_out or now >= self._trial_at + self.reset_s):
            # one trial at a time; a trial that never reported back (its send was never made) is replaced
            self._trial_out = True
            self._trial_at = now
            return None
        return self.opened_at + self.reset_s if self.state is BreakerState.OPEN else now + self.reset_s / 4

    def open_until(self, now: float) -> float | None:
        """While open (not yet due for a trial): when it may let a trial through; else None. Changes nothing."""
        if self.state is BreakerState.OPEN and now < self.opened_at + self.reset_s:
            return self.opened_at + self.reset_s
        return None

    def success(self) -> None:
        self.state = BreakerState.CLOSED
        self.consecutive = 0
        self._trial_out = False

    def failure(self, now: float) -> None:
        self.consecutive += 1
        if self.state is BreakerState.HALF_OPEN or self.consecutive >= self.failures:
            self.state = BreakerState.OPEN
            self.opened_at = now
            self._trial_out = False
