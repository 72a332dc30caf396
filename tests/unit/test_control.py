"""local_stack.control: how a fault proxy's control routes are answered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from local_stack import control
from local_stack.control import ControlApi, Query, Route


class Counts:
    def __init__(self) -> None:
        self.limits: dict[str, Any] = {}

    def stats(self) -> dict[str, Any]:
        return {"total": 3}

    def limits_json(self) -> dict[str, Any]:
        return self.limits

    def set_limits(self, wanted: Mapping[str, Any]) -> dict[str, Any]:
        self.limits = {**self.limits, **wanted}
        return self.limits


def _named(state: Counts, query: Query, wanted: dict[str, Any]) -> Any:
    return {"name": wanted["name"], "query": dict(query)}


ROUTES: dict[tuple[str, str], Route[Counts]] = {**control.COUNTED, ("POST", "named"): _named}


def _api() -> ControlApi[Counts]:
    return ControlApi("/_test/", ROUTES, Counts(), indent=2)


def test_the_shared_routes_answer_counts_and_limits() -> None:
    api = _api()
    assert api.answer("GET", "/_test/stats", b"").json() == {"total": 3}
    assert api.answer("POST", "/_test/limits", b'{"route53": 5}').json() == {"route53": 5}
    assert api.answer("GET", "/_test/limits/", b"").json() == {"route53": 5}


def test_a_route_gets_its_query_and_body() -> None:
    answer = _api().answer("POST", "/_test/named?kind=a&kind=b", b'{"name": "x"}')
    assert (answer.status, answer.json()) == (200, {"name": "x", "query": {"kind": ["a", "b"]}})
    assert answer.body.startswith(b"{\n  ")  # the proxy's indent


def test_wrong_requests_are_400_and_unknown_routes_404_with_what_was_asked() -> None:
    api = _api()
    missing = api.answer("POST", "/_test/named", b"{}")
    assert (missing.status, missing.json()) == (400, {"error": "'name'"})
    assert api.answer("POST", "/_test/named", b"[1]").json() == {"error": "expected a JSON object"}
    assert api.answer("POST", "/_test/named", b"{").status == 400
    unknown = api.answer("DELETE", "/_test/stats", b"")
    assert (unknown.status, unknown.json()) == (404, {"error": "no control endpoint DELETE "
                                                               "/_test/stats"})
    assert api.handles("/_test/x?y=1") and not api.handles("/dir")
