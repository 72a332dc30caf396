"""A team's `acm` in teams.toml: regions in the issuer's account (a list), or regions in the
team's own account through a role there (a table with role_arn and external_id)."""

from __future__ import annotations

import pytest

from wildcert.adapters.acm import same_account
from wildcert.logic.teams import TeamsError, parse_teams

TEAM = """
[teams.alpha]
sources = ["wildcert.team.alpha"]
accounts = ["222222222222"]
suffixes = ["alpha.example.com"]
"""
ROLE = "arn:aws:iam::222222222222:role/wildcert-acm-import-alpha"


def test_a_list_imports_into_the_issuers_account() -> None:
    team = parse_teams(TEAM + 'acm = ["eu-west-1", "cloudfront"]\n').teams["alpha"]
    assert team.acm == ("eu-west-1", "cloudfront") and team.acm_access is None


def test_a_table_names_the_role_in_the_teams_own_account() -> None:
    team = parse_teams(TEAM + "[teams.alpha.acm]\nregions = [\"eu-west-1\"]\n"
                       f'role_arn = "{ROLE}"\nexternal_id = "alpha-acm-51be"\n').teams["alpha"]
    assert team.acm == ("eu-west-1",)
    assert team.acm_access is not None and team.acm_access.role_arn == ROLE
    assert team.acm_access.account == "222222222222"
    assert "alpha-acm-51be" not in repr(team)


@pytest.mark.parametrize(("table", "problem"), [
    ('regions = ["eu-west-1"]\nrole_arn = "arn:aws:iam::222222222222:role/admin"\n'
     'external_id = "alpha-acm-51be"',
     "must be the ARN of a role named wildcert-acm-import* (deploy/acm-import-role.yaml"),
    ('regions = ["eu-west-1"]\nrole_arn = "arn:aws:iam::333333333333:role/wildcert-acm-import"'
     '\nexternal_id = "alpha-acm-51be"',
     "is in account 333333333333, not one of the team's accounts"),
    (f'regions = ["eu-west-1"]\nrole_arn = "{ROLE}"\nexternal_id = "x"',
     "external_id must be 2 to 1224"),
    (f'regions = ["eu-west-1"]\nrole_arn = "{ROLE}"', "role_arn and external_id must be given"),
    (f'regions = ["mars"]\nrole_arn = "{ROLE}"\nexternal_id = "alpha-acm-51be"',
     "which is not an AWS region"),
    (f'regions = ["eu-west-1"]\nrole = "{ROLE}"\nexternal_id = "alpha-acm-51be"',
     "acm has unknown key 'role'"),
])
def test_a_wrong_acm_role_is_named(table: str, problem: str) -> None:
    with pytest.raises(TeamsError) as raised:
        parse_teams(f"{TEAM}[teams.alpha.acm]\n{table}\n")
    assert problem in str(raised.value)


def test_only_arns_in_the_target_account_are_reimported() -> None:
    arns = {"eu-west-1": "arn:aws:acm:eu-west-1:123456789012:certificate/a",
            "us-east-1": "arn:aws:acm:us-east-1:222222222222:certificate/b"}
    assert same_account(arns, "222222222222") == {"us-east-1": arns["us-east-1"]}
    assert same_account(arns, None) == arns
