"""retry.call: bounded full-jitter backoff inside a deadline, without sleeping for real."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.fakes import FakeTime
from wildcert import retry
from wildcert.deadline import Deadline


class Transient(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("try again")
        self.retry_after = retry_after


class Fatal(Exception):
    pass


@dataclass
class Flaky:
    """Fails with the given errors, in order, then returns "ok"."""

    errors: list[Exception]
    calls: int = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def transient(error: BaseException) -> bool:
    return isinstance(error, Transient)


def run(fn: Flaky, t: FakeTime, budget: float = 100.0, **kw: object) -> str:
    deadline = Deadline.after(budget, clock=t.clock, sleeper=t.sleep)
    return retry.call(fn, is_transient=transient, deadline=deadline,
                      rng=random.Random(7), **kw)  # type: ignore[arg-type]


def test_success_needs_no_sleep() -> None:
    t = FakeTime()
    assert run(Flaky([]), t) == "ok"
    assert t.slept == []


def test_transient_errors_are_retried_until_success() -> None:
    t, fn = FakeTime(), Flaky([Transient(), Transient()])
    assert run(fn, t, base=1.0, cap=10.0) == "ok"
    assert fn.calls == 3
    assert len(t.slept) == 2
    assert 0 <= t.slept[0] <= 1.0
    assert 0 <= t.slept[1] <= 2.0


def test_non_transient_error_is_raised_at_once() -> None:
    t, fn = FakeTime(), Flaky([Fatal("no")])
    with pytest.raises(Fatal):
        run(fn, t)
    assert fn.calls == 1
    assert t.slept == []


def test_last_error_is_reraised_when_attempts_run_out() -> None:
    errors: list[Exception] = [Transient() for _ in range(5)]
    last = errors[2]
    t, fn = FakeTime(), Flaky(errors)
    with pytest.raises(Transient) as caught:
        run(fn, t, attempts=3)
    assert caught.value is last
    assert fn.calls == 3


def test_retry_after_hint_is_honoured() -> None:
    t, fn = FakeTime(), Flaky([Transient(retry_after=7.5)])
    assert run(fn, t, base=0.1, cap=0.1) == "ok"
    assert t.slept == [7.5]


def test_retry_after_header_of_a_botocore_error_is_read() -> None:
    error = Exception("throttled")
    error.response = {  # type: ignore[attr-defined]
        "ResponseMetadata": {"HTTPHeaders": {"retry-after": "3"}}
    }
    assert retry.retry_after(error) == 3.0
    assert retry.retry_after(Exception("plain")) is None
    assert retry.retry_after(Transient(retry_after=-1)) is None


def test_gives_up_instead_of_sleeping_past_the_deadline() -> None:
    t, fn = FakeTime(), Flaky([Transient(retry_after=30)])
    with pytest.raises(Transient):
        run(fn, t, budget=10)
    assert fn.calls == 1
    assert t.slept == []


def test_first_attempt_runs_even_on_an_expired_deadline() -> None:
    t, fn = FakeTime(), Flaky([])
    assert run(fn, t, budget=0) == "ok"


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    class Max(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    steps = [retry.backoff(n, base=0.5, cap=3.0, rng=Max()) for n in range(1, 6)]
    assert steps == [0.5, 1.0, 2.0, 3.0, 3.0]


@given(
    budget=st.floats(0, 100),
    attempts=st.integers(1, 10),
    base=st.floats(0.01, 5),
    cap=st.floats(0.01, 20),
    seed=st.integers(0, 2**32),
)
def test_never_exceeds_attempts_or_deadline(
    budget: float, attempts: int, base: float, cap: float, seed: int
) -> None:
    t = FakeTime()
    fn = Flaky([Transient() for _ in range(20)])
    deadline = Deadline.after(budget, clock=t.clock, sleeper=t.sleep)
    with pytest.raises(Transient):
        retry.call(fn, is_transient=transient, deadline=deadline, attempts=attempts,
                   base=base, cap=cap, rng=random.Random(seed))
    assert fn.calls <= attempts
    assert t.now <= budget
    assert all(0 <= s <= cap for s in t.slept)


def test_a_backoff_policy_bounds_attempts_and_steps() -> None:
    t, fn = FakeTime(), Flaky([Transient() for _ in range(5)])
    policy = retry.Backoff(attempts=3, base=0.5, cap=0.6)
    with pytest.raises(Transient):
        policy.call(fn, is_transient=transient, deadline=t.deadline(100.0), what="policy",
                    rng=random.Random(7))
    assert fn.calls == 3
    assert len(t.slept) == 2 and all(0 <= s <= 0.6 for s in t.slept)
