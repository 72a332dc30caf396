"""zone_for: the hosted zone covering a name is the longest whole-label suffix."""

from __future__ import annotations

import pytest

from wildcert.logic.zones import zone_for

ZONES = ("example.com", "team.example.com", "example.org", "com.example.net", "xn--bcher-kva.de")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("example.com", "example.com"),
        ("www.example.com", "example.com"),
        ("a.b.c.example.com", "example.com"),
        ("*.example.com", "example.com"),
        ("team.example.com", "team.example.com"),
        ("www.team.example.com", "team.example.com"),
        ("*.team.example.com", "team.example.com"),
        ("*.a.team.example.com", "team.example.com"),
        ("steam.example.com", "example.com"),
        ("team.example.com.evil.org", None),
        ("notexample.com", None),
        ("www.notexample.com", None),
        ("*.notexample.com", None),
        ("example.com.au", None),
        ("com", None),
        ("*.com", None),
        ("org", None),
        ("example.net", None),
        ("com.example.net", "com.example.net"),
        ("x.com.example.net", "com.example.net"),
        ("www.xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("bcher-kva.de", None),
        ("", None),
        ("*", None),
    ],
)
def test_longest_label_suffix(name: str, expected: str | None) -> None:
    assert zone_for(name, ZONES) == expected


def test_order_of_zones_does_not_matter() -> None:
    assert zone_for("a.team.example.com", reversed(ZONES)) == "team.example.com"
    assert zone_for("a.team.example.com", ["team.example.com", "example.com"]) == (
        "team.example.com"
    )


def test_wildcard_falls_back_to_parent_zone_without_sub_zone() -> None:
    assert zone_for("*.team.example.com", ["example.com"]) == "example.com"


def test_no_zones_covers_nothing() -> None:
    assert zone_for("example.com", []) is None


def test_zone_is_returned_as_the_caller_spelled_it() -> None:
    # Route 53 lists zone names with a trailing dot; the caller keys its data by that spelling.
    assert zone_for("www.example.com", ["Example.COM."]) == "Example.COM."
    assert zone_for("*.example.com", {"example.com.": 1}) == "example.com."


def test_root_zone_is_ignored() -> None:
    assert zone_for("example.com", ["", "."]) is None


def test_accepts_any_iterable_once() -> None:
    assert zone_for("www.example.org", (z for z in ZONES)) == "example.org"
