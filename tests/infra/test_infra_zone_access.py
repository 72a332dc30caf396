"""Zones in other accounts, as IAM decides them: the issuer's role may assume only the zone
roles of ZoneAccountIds, and deploy/zone-access-role.yaml's role may only be assumed by the
issuer with the zone's external id, and may only create and delete _acme-challenge TXT records
in its zones. Evaluated by the IAM policy simulator (infra_invariants.decide) on the resolved
templates."""

from __future__ import annotations

from typing import Any

import pytest

from .infra_invariants import ISSUER, Request, Statement, as_list, decide, identity_statements
from .infra_template import REPO, Resolver, load_sam, resolved_stack

ISSUER_ROLE = "arn:aws:iam::111122223333:role/wildcert-IssuerRole-ABC"
ZONE = "ZALPHA0000001"
ZONE_ACCOUNT = "222222222222"
ROLE_TEMPLATE = REPO / "deploy" / "zone-access-role.yaml"
ZONE_ROLE = f"arn:aws:iam::{ZONE_ACCOUNT}:role/wildcert-zone-access-alpha"


def issuer_can_assume(params: dict[str, Any], role_arn: str) -> bool:
    resources = resolved_stack(params)
    identity = identity_statements(resources, ISSUER.role)
    # The role's side (its trust, in the zone's account) admits the issuer: its own policy
    # decides.
    trust = [Statement("trust", {"Effect": "Allow", "Action": "sts:AssumeRole",
                                 "Principal": {"AWS": f"<{ISSUER.role}.Arn>"},
                                 "Resource": role_arn})]
    return decide(identity, trust, Request(f"<{ISSUER.role}.Arn>", "sts:AssumeRole", role_arn),
                  resources)


def test_the_issuer_assumes_no_role_unless_zone_accounts_are_listed() -> None:
    assert not issuer_can_assume({}, f"arn:aws:iam::{ZONE_ACCOUNT}:role/wildcert-zone-access")


def test_the_issuer_assumes_only_zone_access_roles_in_the_listed_accounts() -> None:
    params = {"ZoneAccountIds": [ZONE_ACCOUNT, "333333333333"]}
    for account in (ZONE_ACCOUNT, "333333333333"):
        for name in ("wildcert-zone-access", "wildcert-zone-access-alpha"):
            assert issuer_can_assume(params, f"arn:aws:iam::{account}:role/{name}")
    for arn in (f"arn:aws:iam::{ZONE_ACCOUNT}:role/admin",
                f"arn:aws:iam::{ZONE_ACCOUNT}:role/OrganizationAccountAccessRole",
                "arn:aws:iam::444444444444:role/wildcert-zone-access"):
        assert not issuer_can_assume(params, arn), arn


@pytest.fixture(scope="module")
def zone_role() -> tuple[list[Statement], list[Statement]]:
    """(its permissions, its trust policy) as deployed for one zone."""
    params = {"IssuerRoleArn": ISSUER_ROLE, "ExternalId": "alpha-zone-7f3a",
              "HostedZoneIds": [ZONE], "RoleSuffix": "-alpha"}
    resources = Resolver(load_sam(ROLE_TEMPLATE), params).resources()
    role = resources["ZoneAccessRole"]["Properties"]
    assert role["RoleName"] == "wildcert-zone-access-alpha"
    # A trust policy's resource is the role itself.
    trust = [Statement("trust", {**raw, "Resource": ZONE_ROLE})
             for raw in as_list(role["AssumeRolePolicyDocument"]["Statement"])]
    return identity_statements(resources, "ZoneAccessRole"), trust


def test_only_the_issuer_with_the_external_id_may_assume_the_zone_role(zone_role) -> None:
    _, trust = zone_role
    arn = ZONE_ROLE

    # The caller's own policy allows it (another account: both sides must): the trust decides.
    own = [Statement("own", {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})]

    def may(principal: str, external_id: str | None) -> bool:
        context = {} if external_id is None else {"sts:ExternalId": external_id}
        return decide(own, trust, Request(principal, "sts:AssumeRole", arn, context))

    assert may(ISSUER_ROLE, "alpha-zone-7f3a")
    assert not may(ISSUER_ROLE, "beta-zone-91c2")
    assert not may(ISSUER_ROLE, None)
    assert not may("arn:aws:iam::111122223333:role/someone-else", "alpha-zone-7f3a")
    assert not may(f"arn:aws:iam::{ZONE_ACCOUNT}:role/admin", "alpha-zone-7f3a")


def _change(names: list[str], types: list[str], actions: list[str],
            zone: str = ZONE) -> Request:
    return Request(ZONE_ROLE, "route53:ChangeResourceRecordSets",
                   f"arn:aws:route53:::hostedzone/{zone}", {
                       "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
                       "route53:ChangeResourceRecordSetsRecordTypes": types,
                       "route53:ChangeResourceRecordSetsActions": actions})


def test_the_zone_role_writes_only_acme_challenge_txt_records_with_create_and_delete(
        zone_role) -> None:
    identity, _ = zone_role
    challenge = "_acme-challenge.www.a.example.org"
    assert decide(identity, [], _change([challenge], ["TXT"], ["DELETE", "CREATE"]))
    for request in (
        _change([challenge], ["TXT"], ["UPSERT"]),
        _change([challenge, "www.a.example.org"], ["TXT"], ["CREATE"]),
        _change([challenge], ["TXT", "CNAME"], ["CREATE"]),
        _change(["www.a.example.org"], ["A"], ["CREATE"]),
        _change([challenge], ["TXT"], ["CREATE"], zone="ZOTHER0000001"),
    ):
        assert not decide(identity, [], request), request.context
    for action in ("route53:GetHostedZone", "route53:ListResourceRecordSets"):
        assert decide(identity, [], Request(ZONE_ROLE, action,
                                            f"arn:aws:route53:::hostedzone/{ZONE}"))
    for action in ("route53:DeleteHostedZone", "route53:ChangeTagsForResource"):
        assert not decide(identity, [], Request(ZONE_ROLE, action,
                                                f"arn:aws:route53:::hostedzone/{ZONE}"))
    assert not decide(identity, [], Request(ZONE_ROLE, "iam:PassRole", ZONE_ROLE))
