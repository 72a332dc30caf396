"""A time budget for one invocation, taken from the Lambda context.

Every wait in wildcert (backoff, INSYNC polling, DNS propagation, ACME polling) goes through a
Deadline so the function stops in time to clean up and report instead of being killed by the
Lambda timeout halfway through.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

DEFAULT_BUDGET_SECONDS = 600.0
SAFETY_RESERVE_SECONDS = 20.0

Clock = Callable[[], float]
Sleeper = Callable[[float], None]


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Deadline:
    """A point on a monotonic clock; the clock and sleep are injectable for tests."""

    expires_at: float
    clock: Clock = field(default=time.monotonic, repr=False, compare=False)
    sleeper: Sleeper = field(default=time.sleep, repr=False, compare=False)

    @classmethod
    def after(
        cls, seconds: float, *, clock: Clock = time.monotonic, sleeper: Sleeper = time.sleep
    ) -> Deadline:
        return cls(clock() + max(0.0, seconds), clock, sleeper)

    @classmethod
    def from_context(
        cls,
        context: LambdaContext | None,
        *,
        reserve: float = SAFETY_RESERVE_SECONDS,
        default: float = DEFAULT_BUDGET_SECONDS,
        clock: Clock = time.monotonic,
        sleeper: Sleeper = time.sleep,
    ) -> Deadline:
        """The invocation's remaining time minus a reserve for cleanup and the failure report.

        Without a context (local runs, tests) the budget is `default`.
        """
        if context is None:
            return cls.after(default, clock=clock, sleeper=sleeper)
        remaining = context.get_remaining_time_in_millis() / 1000.0
        # A function configured with a short timeout still gets half its time to work.
        budget = remaining - min(reserve, remaining / 2)
        return cls.after(budget, clock=clock, sleeper=sleeper)

    def remaining(self) -> float:
        return max(0.0, self.expires_at - self.clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def sleep(self, seconds: float) -> float:
        """Sleep `seconds` or until the deadline, whichever is sooner; return the time slept."""
        duration = max(0.0, min(seconds, self.remaining()))
        if duration > 0:
            self.sleeper(duration)
        return duration

    def child(self, seconds: float) -> Deadline:
        """A sub-budget of at most `seconds` that never outlives this deadline."""
        expires_at = min(self.expires_at, self.clock() + max(0.0, seconds))
        return Deadline(expires_at, self.clock, self.sleeper)
