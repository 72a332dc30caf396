"""What the issuance answers: an outcome, or a failure tagged with the stage it happened in.

Stages, as users see them in Slack, in outcome events and in errors:
    validation  the request itself
    policy      the team's policy (teams.toml): who sent it, names, hosts, key types, caps
    precheck    bucket writable with our key, CAA allows the CA, the name's lease
    dns         challenge records in Route 53 and their propagation
    acme        the CA: account, order, validation, finalization, the certificate's checks
    storage     writing the certificate set (or the order's journal) to the bucket
    internal    an error wildcert did not expect outside every other stage (a bug): logged
                with its traceback, told like any failure, the request retried
An unexpected error inside a stage is that stage's failure, said to be unexpected.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from wildcert.adapters.bucket.leases import Busy
from wildcert.errors import WildcertError
from wildcert.logic.teams import Refusal

P = ParamSpec("P")
T = TypeVar("T")


class StageFailure(WildcertError):
    """A failure after bounded retries, tagged with the stage it happened in."""

    def __init__(self, stage: str, message: str, *, retry_after: float | None = None,
                 deferred: bool = False, told: bool | None = None):
        super().__init__(f"[{stage}] {message}")
        self.stage = stage
        self.message = message
        self.retry_after = retry_after
        # Deferred: the CA said to wait (a rate limit): nothing failed, the request comes back
        # after `retry_after`. Told: Slack already heard of that wait from the run that met it.
        self.deferred = deferred
        self.told = deferred if told is None else told
        self.outcome: dict[str, Any] | None = None  # as told, set by Issuer.handle


class Refused(WildcertError):
    """The request is refused (validation, team policy, CAA): nothing was created anywhere."""

    def __init__(self, stage_name: str, problems: Sequence[str | Refusal]):
        super().__init__(f"[{stage_name}] " + "; ".join(str(p) for p in problems))
        self.stage = stage_name
        self.problems = [str(p) for p in problems]
        self.rules = [p.rule for p in problems if isinstance(p, Refusal)]


@dataclass(frozen=True)
class Outcome:
    status: str  # issued | renewed | skipped | rejected | busy (returned); failed (told, raised)
    name: str | None
    domains: tuple[str, ...]
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "name": self.name, "domains": list(self.domains),
                **self.details}


# Outcomes of their own, never a stage's failure: another attempt holds the name, a refusal.
PASSED_ON = (Busy,)
INTERNAL = "internal"
# The innermost stage an unexpected error left, for `unexpected` to name.
_FAILED_IN: ContextVar[tuple[BaseException, str] | None] = ContextVar("wildcert_failed_in",
                                                                      default=None)
MAX_UNEXPECTED_TEXT = 200


def unexpected(exc: Exception) -> StageFailure:
    """An error no step expected, as a failure of the stage it came out of (else `internal`):
    a bug must end in an outcome like any failure, never in silence."""
    found = _FAILED_IN.get()
    where = found[1] if found is not None and found[0] is exc else INTERNAL
    said = " ".join(str(exc).split())[:MAX_UNEXPECTED_TEXT]
    return StageFailure(where, f"unexpected {type(exc).__name__}" + (f": {said}" if said else "")
                        + "; the request is retried, and if it fails again the operators must "
                        "look at the issuer's log (it has the traceback)")


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Turn an outside system's expected failure into a StageFailure naming `name`."""
    try:
        yield
    except (StageFailure, Refused, *PASSED_ON):
        raise
    except (WildcertError, TimeoutError) as exc:
        raise StageFailure(name, str(exc), retry_after=getattr(exc, "retry_after", None)) from exc
    except Exception as exc:
        found = _FAILED_IN.get()
        if found is None or found[0] is not exc:  # the innermost stage names it
            _FAILED_IN.set((exc, name))
        raise


def in_stage(name: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """A pipeline step whose expected failures are reported as stage `name`."""

    def decorate(step: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(step)
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            with stage(name):
                return step(*args, **kwargs)

        return run

    return decorate
