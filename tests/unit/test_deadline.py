"""Deadline: budgets from the Lambda context, sleeps that stop at the deadline."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.fakes import FakeTime
from wildcert.deadline import DEFAULT_BUDGET_SECONDS, Deadline


@dataclass
class FakeContext:
    millis: int

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def deadline(t: FakeTime, context: FakeContext | None = None, **kw: float) -> Deadline:
    return Deadline.from_context(context, clock=t.clock, sleeper=t.sleep, **kw)


def test_context_budget_keeps_the_reserve() -> None:
    t = FakeTime(now=1000.0)
    assert deadline(t, FakeContext(900_000)).remaining() == pytest.approx(880.0)
    assert deadline(t, FakeContext(900_000), reserve=60).remaining() == pytest.approx(840.0)


def test_short_timeout_still_gets_half_its_time() -> None:
    assert deadline(FakeTime(now=1000.0), FakeContext(10_000)).remaining() == pytest.approx(5.0)


def test_no_context_uses_the_default_budget() -> None:
    t = FakeTime(now=1000.0)
    assert deadline(t).remaining() == DEFAULT_BUDGET_SECONDS
    assert deadline(t, default=30).remaining() == 30


def test_remaining_and_expired_follow_the_clock() -> None:
    t = FakeTime(now=1000.0)
    d = Deadline.after(10, clock=t.clock, sleeper=t.sleep)
    t.now += 4
    assert d.remaining() == pytest.approx(6)
    assert not d.expired()
    t.now += 7
    assert d.remaining() == 0
    assert d.expired()


def test_sleep_never_passes_the_deadline() -> None:
    t = FakeTime(now=1000.0)
    d = Deadline.after(5, clock=t.clock, sleeper=t.sleep)
    assert d.sleep(2) == 2
    assert d.sleep(10) == pytest.approx(3)
    assert d.sleep(1) == 0
    assert t.slept == [2, pytest.approx(3)]
    assert d.expired()


def test_sleep_ignores_negative_durations() -> None:
    t = FakeTime(now=1000.0)
    assert Deadline.after(5, clock=t.clock, sleeper=t.sleep).sleep(-1) == 0
    assert t.slept == []


def test_child_is_bounded_by_its_parent() -> None:
    t = FakeTime(now=1000.0)
    parent = Deadline.after(10, clock=t.clock, sleeper=t.sleep)
    assert parent.child(3).remaining() == pytest.approx(3)
    assert parent.child(60).remaining() == pytest.approx(10)
    t.now += 8
    assert parent.child(5).remaining() == pytest.approx(2)


def test_real_clock_is_monotonic_and_sleeps_for_real() -> None:
    d = Deadline.after(0.05)
    assert 0 < d.remaining() <= 0.05
    d.sleep(1)
    assert d.expired()


@given(
    budget=st.floats(0, 1e4),
    sleeps=st.lists(st.floats(-10, 1e4), max_size=20),
)
def test_total_sleep_never_exceeds_the_budget(budget: float, sleeps: list[float]) -> None:
    t = FakeTime(now=1000.0)
    d = Deadline.after(budget, clock=t.clock, sleeper=t.sleep)
    for s in sleeps:
        d.sleep(s)
    assert sum(t.slept) <= budget + 1e-6
    assert all(s > 0 for s in t.slept)
