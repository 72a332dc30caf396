"""Stand-ins shared by unit tests of pure logic (never used on the end-to-end path)."""

from __future__ import annotations

from dataclasses import dataclass, field

from wildcert.deadline import Deadline


@dataclass
class FakeTime:
    """A clock that only moves when something sleeps, so waits are measured, not waited."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def deadline(self, seconds: float) -> Deadline:
        return Deadline.after(seconds, clock=self.clock, sleeper=self.sleep)
