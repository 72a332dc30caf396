"""local_stack.fault_rules: when a fault rule fires, and the rule book both proxies keep."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from local_stack.fault_rules import FaultRule, RuleBook


@dataclass(kw_only=True)
class NamedRule(FaultRule):
    ACTIONS = frozenset({"fail"})
    name: str

    def matches(self, name: str) -> bool:
        return self.name == name


def _book(*rules: dict[str, object], drop_spent: bool = False) -> RuleBook[NamedRule]:
    book: RuleBook[NamedRule] = RuleBook(drop_spent=drop_spent)
    for fields in rules:
        checked = NamedRule.checked({"action": "fail", **fields})
        book.add(lambda rule_id, checked=checked: NamedRule(id=rule_id, **checked))
    return book


def test_skip_then_count_then_never() -> None:
    book = _book({"name": "a", "skip": 1, "count": 2})
    fired = [book.take(lambda r: r.matches("a")) is not None for _ in range(5)]
    assert fired == [False, True, True, False, False]
    assert book.as_json() == [
        {"action": "fail", "id": 1, "name": "a", "skip": 0, "count": 0, "fired": 2}
    ]


def test_only_matching_rules_fire_first_one_wins() -> None:
    book = _book({"name": "a", "count": 1}, {"name": "b"}, {"name": "b"})
    rule = book.take(lambda r: r.matches("b"))
    assert rule is not None and rule.id == 2
    assert [r["fired"] for r in book.as_json()] == [0, 1, 0]
    assert len(book.take_all(lambda r: r.matches("b"))) == 2


def test_spent_rules_are_dropped_when_asked() -> None:
    book = _book({"name": "a", "count": 1}, {"name": "a"}, drop_spent=True)
    assert book.take(lambda r: r.matches("a")) is not None
    assert [r["id"] for r in book.as_json()] == [2]
    book.clear()
    assert book.as_json() == [] and book.take(lambda r: True) is None


def test_probability_with_a_seed_repeats() -> None:
    def pattern() -> list[bool]:
        book = _book({"name": "a", "probability": 0.5, "seed": 7})
        return [book.take(lambda r: True) is not None for _ in range(40)]

    first = pattern()
    assert first == pattern() and 5 < sum(first) < 35


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "fail", "name": "a", "colour": "red"}, "unknown rule fields"),
        ({"action": "fail", "name": "a", "fired": 3}, "unknown rule fields"),
        ({"action": "explode", "name": "a"}, "action 'explode' is not one of"),
        ({"name": "a"}, "action None is not one of"),
        ({"action": "fail", "name": "a", "probability": 2}, "probability"),
        ({"action": "fail", "name": "a", "count": -1}, "count"),
    ],
)
def test_control_fields_are_checked(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NamedRule.checked(fields)


def test_none_means_not_given() -> None:
    wanted = {"action": "fail", "name": "a", "count": None}
    assert NamedRule.checked(wanted) == {"action": "fail", "name": "a"}


def test_a_count_is_shared_by_every_thread() -> None:
    book = _book({"name": "a", "count": 100})
    taken: list[NamedRule | None] = []

    def worker() -> None:
        for _ in range(50):
            taken.append(book.take(lambda r: True))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(rule is not None for rule in taken) == 100
