"""The fault-rule model every fault proxy of the local stack shares.

A rule is what it matches, when it fires and what it answers. Only the middle part is common:
the ACME front matches endpoint kinds and answers ACME problems, the AWS fault proxy matches
service/operation and answers AWS errors, so each subclasses `FaultRule` with those fields.
When a rule fires is the same everywhere: after `skip` matches went through, for the next
`count` matches, with `probability` (reproducible with `seed`), or on every match until
cleared. A `RuleBook` holds the rules of one proxy; the control APIs add, list and clear them
in one JSON form: `FaultRule.as_json()`, with `id` and `fired` (how often it has fired).
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
    id: int = 0
    skip: int | None = None
    count: int | None = None
    probability: float | None = None
    seed: int | None = None
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    # Fields the proxy sets itself, never a control request; not in the JSON form either
    # when listed in `PRIVATE`.
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

    @property
    def spent(self) -> bool:
        return self.count is not None and self.count <= 0

    def as_json(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in self.PRIVATE and getattr(self, f.name) is not None
        }

    @classmethod
    def control_fields(cls) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(cls)) - cls.OWN

    @classmethod
    def checked(cls, wanted: Mapping[str, Any]) -> dict[str, Any]:
        """The given (not None) fields of a control request, checked so that a typo fails
        loudly, not silently; the proxy checks its own fields' values."""
        fields = {key: value for key, value in wanted.items() if value is not None}
        known = cls.control_fields()
        unknown = set(fields) - known
        if unknown:
            raise ValueError(f"unknown rule fields {sorted(unknown)}; known: {sorted(known)}")
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
            self._rules = [rule for rule in self._rules if not rule.spent]
