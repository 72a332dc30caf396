"""zone_for: the hosted zone covering a name is the longest whole-label suffix."""

from __future__ import annotations

import pytest

from wildcert.logic.teams import TEAM_ID
from wildcert.logic.zones import (
    OtherAccountZone,
    ZoneAccess,
    foreign_zone_problem,
    parse_other_account_zones,
    session_name,
    zone_for,
)

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


# -- zones in other accounts ------------------------------------------------------------------
ROLE = "arn:aws:iam::222222222222:role/wildcert-zone-access-alpha"
ALPHA = """
[teams.alpha]
sources = ["wildcert.team.alpha"]
accounts = ["222222222222"]
suffixes = ["alpha.example.org"]
"""


def test_a_teams_zone_in_its_own_account_is_read_from_teams_toml() -> None:
    from wildcert.logic.teams import parse_teams

    policy = parse_teams(ALPHA + f"""
[[teams.alpha.zones]]
id = "/hostedzone/Z0ALPHA123"
name = "Example.ORG."
role = "{ROLE}"
external_id = "alpha-zone-7f3a"
""")
    zone = policy.teams["alpha"].zones[0]
    assert zone == OtherAccountZone("Z0ALPHA123", "example.org",
                                    ZoneAccess(ROLE, "alpha-zone-7f3a"), team="alpha")
    assert zone.access.account == "222222222222"
    assert "alpha-zone-7f3a" not in repr(zone)


def test_every_problem_of_a_zone_entry_is_named() -> None:
    from wildcert.logic.teams import TeamsError, parse_teams

    with pytest.raises(TeamsError) as raised:
        parse_teams(ALPHA + """
[[teams.alpha.zones]]
id = "not a zone"
name = "example.org"
external_id = "x y"
role = "arn:aws:iam::222222222222:role/admin"
colour = "red"

[[teams.alpha.zones]]
id = "Z1"
""")
    problems = "\n".join(raised.value.problems)
    assert "unknown key 'colour'" in problems
    assert "id 'not a zone' is not a hosted zone id" in problems
    assert "must be the ARN of a role named wildcert-zone-access*" in problems
    assert "external_id must be 2 to 1224" in problems
    assert "zones[1]: name, role, external_id must be given as text" in problems


def test_the_operators_zones_in_other_accounts_are_one_setting() -> None:
    zones, problems = parse_other_account_zones(
        f"Z0OPS1 ops.example.org {ROLE} ext-1, Z0OPS2 net.example {ROLE} ext-2 ,")
    assert problems == []
    assert [(z.id, z.name, z.team) for z in zones] == [
        ("Z0OPS1", "ops.example.org", None), ("Z0OPS2", "net.example", None)]
    _, problems = parse_other_account_zones(f"Z0OPS1 {ROLE} ext-1")
    assert problems == ["OTHER_ACCOUNT_ZONES entry 1 must be '<zone id> <zone name> <role ARN> "
                        "<external id>'; it has 3 part(s)"]


def test_the_session_name_names_team_and_request_within_stss_limits() -> None:
    assert session_name("alpha", "6a7e8feb-b491") == "wildcert-alpha.6a7e8feb-b491"
    assert session_name(None, None) == "wildcert-operators.direct"
    long = session_name("alpha", "x" * 100 + "/#?")
    assert len(long) == 64 and long.startswith("wildcert-alpha.x")
    assert session_name("alpha", "é/#?") == "wildcert-alpha.----"  # STS's ASCII only
    # The longest team id a teams.toml may hold keeps its whole name and the dot after it.
    team = "t" + "0" * 30
    assert TEAM_ID.fullmatch(team)
    assert session_name(team, "x" * 100).startswith(f"wildcert-{team}.x")


def test_a_teams_zone_serves_only_that_teams_certificates() -> None:
    assert foreign_zone_problem("a.example.org", "zone", None, "beta") is None
    assert foreign_zone_problem("a.example.org", "zone", "alpha", "alpha") is None
    refused = foreign_zone_problem("a.example.org", "hosted zone example.org (Z1)", "alpha",
                                   "beta")
    assert refused is not None and refused.startswith(
        "a.example.org is in hosted zone example.org (Z1), which belongs to team alpha: it "
        "never serves team beta's certificates.")
    assert "the operators'" in str(foreign_zone_problem("a", "z", "alpha", None))
