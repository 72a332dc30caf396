"""The fault-rule model of every fault proxy of the local stack: ACME front, AWS fault proxy.

A rule is what it matches, when it fires and its `action` (one of the proxy's `ACTIONS`).
Each proxy subclasses `FaultRule` with what it matches and how it answers; when is shared:
after `skip` matches went through, for the next `count` matches, with `probability`
(repeatable with `seed`), or on every match until cleared. A `RuleBook` holds one proxy's
rules; the control APIs list them as `as_json()`.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from local_stack import http_plumbing


@dataclass(kw_only=True)
class FaultRule:
    action: str
    id: int = 0
    skip: int | None = None
    count: int | None = None
    probability: float | None = None
    seed: int | None = None
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    # Fields the proxy sets, never a control request; PRIVATE ones are not shown either.
    ACTIONS: ClassVar[frozenset[str]] = frozenset()
    OWN: ClassVar[frozenset[str]] = frozenset({"id", "fired", "rng"})
    PRIVATE: ClassVar[frozenset[str]] = frozenset({"rng"})

    def __post_init__(self) -> None:
        if self.seed is not None:
            self.rng = random.Random(self.seed)

    def fires(self) -> bool:
        """Whether this match fails; consumes one of `skip`, then of `count`."""
        if self.skip:
            self.skip -= 1
            return False
        fired, self.count = http_plumbing.fire(self.count, self.probability, self.rng.random)
        self.fired += fired
        return fired

    def as_json(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in self.PRIVATE and getattr(self, f.name) is not None
        }

    @classmethod
    def checked(cls, wanted: Mapping[str, Any]) -> dict[str, Any]:
        """The given (not None) fields of a control request, checked so that a typo fails
        loudly, not silently; the proxy checks its own fields' values."""
        fields = {key: value for key, value in wanted.items() if value is not None}
        known = frozenset(f.name for f in dataclasses.fields(cls)) - cls.OWN
        unknown = set(fields) - known
        if unknown:
            raise ValueError(f"unknown rule fields {sorted(unknown)}; known: {sorted(known)}")
        if fields.get("action") not in cls.ACTIONS:
            raise ValueError(f"action {fields.get('action')!r} is not one of {sorted(cls.ACTIONS)}")
        probability = fields.get("probability")
        if probability is not None and not 0.0 <= float(probability) <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        for name in ("skip", "count"):
            if name in fields and int(fields[name]) < 0:
                raise ValueError(f"{name} must not be negative")
        return fields


Rule = TypeVar("Rule", bound=FaultRule)


class RuleBook(Generic[Rule]):
    """One proxy's rules, in the order added; safe to use from every serving thread.

    `drop_spent`: forget a rule once its `count` is used up (else it stays listed, so that
    its `fired` can be read back)."""

    def __init__(self, *, drop_spent: bool = False) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._next_id = 1
        self._drop_spent = drop_spent

    def add(self, make: Callable[[int], Rule]) -> Rule:
        """Add the rule `make` builds from its new id."""
        with self._lock:
            rule = make(self._next_id)
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def take(self, matches: Callable[[Rule], bool]) -> Rule | None:
        """The first rule that matches and fires this time."""
        with self._lock:
            chosen = next((r for r in self._rules if matches(r) and r.fires()), None)
            self._forget_spent()
            return chosen

    def take_all(self, matches: Callable[[Rule], bool]) -> list[Rule]:
        """Every rule that matches and fires this time."""
        with self._lock:
            chosen = [r for r in self._rules if matches(r) and r.fires()]
            self._forget_spent()
            return chosen

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def as_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.as_json() for rule in self._rules]

    def _forget_spent(self) -> None:
        if self._drop_spent:
            self._rules = [r for r in self._rules if r.count is None or r.count > 0]
