"""Zones in other accounts, as IAM decides them, evaluated by the policy simulator (iam_sim):
the issuer's role may assume only the zone roles of ZoneAccountIds; deploy/zone-access-role.yaml's
role may be assumed only by the issuer's role with the zone's external id (its trust and the
issuer's identity policy evaluated together, across accounts), and may only create and delete
_acme-challenge TXT records in its zones. Also: no single-valued operator on a multivalued key
in the role template."""

from __future__ import annotations

from typing import Any

import pytest

from wildcert.logic.zones import session_name

from .iam_sim import Principal, Stack, evaluate, key_types
from .infra_template import REPO, Resolver, load_sam, resolved_stack
from .test_iam_condition_keys import conditions, single_valued_on_multivalued

ZONE = "ZALPHA0000001"
ZONE_ACCOUNT = "222222222222"
ZONE_ROLE = f"arn:aws:iam::{ZONE_ACCOUNT}:role/wildcert-zone-access-alpha"
EXTERNAL_ID = "alpha-zone-7f3a"
ROLE_TEMPLATE = REPO / "deploy" / "zone-access-role.yaml"
ZONE_ARN = f"arn:aws:route53:::hostedzone/{ZONE}"


def issuer(params: dict[str, Any]) -> tuple[Stack, Principal]:
    stack = Stack(resolved_stack(params))
    return stack, stack.role("IssuerRole", "issuer")


def zone_role(issuer_arn: str, team: str | None = None) -> tuple[Principal, dict[str, Any]]:
    """The role deployed for one zone (of `team`, or of no team in particular): (it, as a
    principal; its trust policy)."""
    params = {"IssuerRoleArn": issuer_arn, "ExternalId": EXTERNAL_ID,
              "HostedZoneIds": [ZONE], "RoleSuffix": "-alpha", **({"TeamId": team} if team else {})}
    stack = Stack(Resolver(load_sam(ROLE_TEMPLATE), params).resources())
    props = stack.resources["ZoneAccessRole"]["Properties"]
    assert props["RoleName"] == "wildcert-zone-access-alpha"
    role = stack.role("ZoneAccessRole", "zone role")
    return Principal(role.label, ZONE_ROLE, role.policies), props["AssumeRolePolicyDocument"]


def allowed(stack: Stack, asks: list[tuple[Principal, str, str, dict[str, Any], Any]]
            ) -> list[bool]:
    # A Route 53 ARN names no account: the zones are in the asking role's own account.
    return [d.allowed for d in evaluate([
        stack.ask(who, action, resource, context, resource_policy=policy,
                  resource_account=who.account if ":route53:" in resource else None)
        for who, action, resource, context, policy in asks])]


def test_the_issuer_assumes_no_role_unless_zone_accounts_are_listed() -> None:
    stack, me = issuer({})
    _, trust = zone_role(me.arn)
    assert allowed(stack, [(me, "sts:AssumeRole", ZONE_ROLE,
                            {"sts:ExternalId": EXTERNAL_ID}, trust)]) == [False]


def test_the_issuer_assumes_the_zone_role_with_its_external_id_and_nothing_else() -> None:
    stack, me = issuer({"ZoneAccountIds": [ZONE_ACCOUNT, "333333333333"]})
    _, trust = zone_role(me.arn)
    stranger = Principal("a role beside the issuer", "arn:aws:iam::111122223333:role/other",
                         me.policies)
    asks = [
        (me, "sts:AssumeRole", ZONE_ROLE, {"sts:ExternalId": EXTERNAL_ID}, trust),  # yes
        (me, "sts:AssumeRole", ZONE_ROLE, {"sts:ExternalId": "beta-zone-91c2"}, trust),
        (me, "sts:AssumeRole", ZONE_ROLE, {}, trust),
        (stranger, "sts:AssumeRole", ZONE_ROLE, {"sts:ExternalId": EXTERNAL_ID}, trust),
        (me, "sts:AssumeRole", f"arn:aws:iam::{ZONE_ACCOUNT}:role/admin", {}, None),
        (me, "sts:AssumeRole", "arn:aws:iam::444444444444:role/wildcert-zone-access", {},
         None),
    ]
    assert allowed(stack, asks) == [True, False, False, False, False, False]


def test_a_teams_zone_role_admits_only_sessions_that_name_the_team() -> None:
    """With TeamId, the trust admits the issuer only as a session wildcert names after that
    team (logic.zones.session_name): not the operators', and not a team whose id merely
    starts with it. Without, any session (the operators' zones serve every team)."""
    stack, me = issuer({"ZoneAccountIds": [ZONE_ACCOUNT]})
    sessions = [session_name("alpha", "6a7e8feb-b491"), session_name("alpha", "x" * 100),
                session_name(None, "m-1"), session_name("alpha-beta", "e-1"),
                session_name("beta", "e-1"), "wildcert-alpha", "alpha.e-1"]
    for team, expected in (("alpha", [True, True] + [False] * 5), (None, [True] * 7)):
        _, trust = zone_role(me.arn, team)
        asks = [(me, "sts:AssumeRole", ZONE_ROLE,
                 {"sts:ExternalId": EXTERNAL_ID, "sts:RoleSessionName": name}, trust)
                for name in sessions]
        assert allowed(stack, asks) == expected, team


def _change(names: list[str], types: list[str], actions: list[str]) -> dict[str, Any]:
    return {"route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
            "route53:ChangeResourceRecordSetsRecordTypes": types,
            "route53:ChangeResourceRecordSetsActions": actions}


def test_the_zone_role_creates_and_deletes_only_acme_challenge_txt_records() -> None:
    stack, me = issuer({})
    role, _ = zone_role(me.arn)
    challenge = "_acme-challenge.www.a.example.org"
    write = "route53:ChangeResourceRecordSets"
    asks = [
        (role, write, ZONE_ARN, _change([challenge], ["TXT"], ["DELETE", "CREATE"]), None),
        (role, "route53:GetHostedZone", ZONE_ARN, {}, None),
        (role, "route53:ListResourceRecordSets", ZONE_ARN, {}, None),
        (role, write, ZONE_ARN, _change([challenge], ["TXT"], ["UPSERT"]), None),
        (role, write, ZONE_ARN, _change([challenge, "www.a.example.org"], ["TXT"], ["CREATE"]),
         None),
        (role, write, ZONE_ARN, _change([challenge], ["TXT", "CNAME"], ["CREATE"]), None),
        (role, write, ZONE_ARN, _change(["www.a.example.org"], ["A"], ["CREATE"]), None),
        (role, write, "arn:aws:route53:::hostedzone/ZOTHER0000001",
         _change([challenge], ["TXT"], ["CREATE"]), None),
        (role, "route53:DeleteHostedZone", ZONE_ARN, {}, None),
        (role, "iam:PassRole", "arn:aws:iam::222222222222:role/admin", {}, None),
    ]
    assert allowed(stack, asks) == [True, True, True] + [False] * 7


@pytest.mark.parametrize("path", [ROLE_TEMPLATE])
def test_the_role_template_uses_set_operators_on_multivalued_keys(path) -> None:
    found = list(conditions(load_sam(path), path.name))
    assert found, "the role template has no conditions to check"
    assert single_valued_on_multivalued(found, key_types({k for _, _, k in found})) == []
