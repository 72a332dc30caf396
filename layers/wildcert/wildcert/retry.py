"""Bounded exponential backoff with full jitter, inside a Deadline.

Full jitter (a uniform wait between 0 and the exponential step) spreads concurrent callers
apart, which matters for Route 53's account-wide request limit and for lock-free record merges.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from wildcert.deadline import Deadline

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """A retry policy: how many attempts, first step and largest step in seconds."""

    attempts: int = 5
    base: float = 0.2
    cap: float = 10.0

    def call(self, fn: Callable[[], T], *, is_transient: Callable[[BaseException], bool],
             deadline: Deadline, what: str, rng: random.Random | None = None) -> T:
        """`call` under this policy."""
        return call(fn, is_transient=is_transient, deadline=deadline, attempts=self.attempts,
                    base=self.base, cap=self.cap, what=what, rng=rng)


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter wait before retry number `attempt` (1 for the first retry)."""
    return rng.uniform(0.0, min(cap, base * 2 ** (attempt - 1)))


def retry_after(error: BaseException) -> float | None:
    """A server's hint of how long to wait: a `retry_after` attribute or a Retry-After header."""
    hint = getattr(error, "retry_after", None)
    if hint is None:
        response: Mapping[str, Any] = getattr(error, "response", None) or {}
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
        hint = headers.get("retry-after")
    try:
        seconds = float(hint) if hint is not None else None
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def call(
    fn: Callable[[], T],
    *,
    is_transient: Callable[[BaseException], bool],
    deadline: Deadline,
    attempts: int = 5,
    base: float = 0.2,
    cap: float = 10.0,
    what: str = "call",
    rng: random.Random | None = None,
) -> T:
    """Call `fn` until it succeeds, retrying transient errors.

    The first attempt always runs, even on an expired deadline (cleanup must get its one try).
    A retry happens only if attempts remain and its wait ends before the deadline; otherwise the
    last error is re-raised unchanged.
    """
    rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as error:
            if not is_transient(error) or attempt >= attempts:
                raise
            delay = backoff(attempt, base=base, cap=cap, rng=rng)
            hint = retry_after(error)
            if hint is not None:
                delay = max(delay, hint)
            if delay >= deadline.remaining():
                log.warning("giving up on %s: no time left to retry after %r", what, error)
                raise
            log.info("retrying %s in %.2fs (attempt %d of %d): %r", what, delay, attempt + 1,
                     attempts, error)
            deadline.sleep(delay)
            attempt += 1
