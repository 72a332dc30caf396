"""ACM imports into a team's own account, as IAM decides them, evaluated by the policy
simulator (iam_sim): the issuer's role may assume only the wildcert-acm-import roles of
AcmImportAccountIds; deploy/acm-import-role.yaml's role may be assumed only by the issuer's role
with the team's external id (its trust and the issuer's identity policy evaluated together,
across accounts), and may import only certificates tagged wildcert-name, re-import and describe
only certificates that carry that tag, and nothing else."""

from __future__ import annotations

from typing import Any

from .iam_sim import Principal, Stack, evaluate, key_types
from .infra_template import REPO, Resolver, load_sam, resolved_stack
from .test_iam_condition_keys import conditions, single_valued_on_multivalued

TEAM_ACCOUNT = "222222222222"
ACM_ROLE = f"arn:aws:iam::{TEAM_ACCOUNT}:role/wildcert-acm-import-alpha"
EXTERNAL_ID = "alpha-acm-51be"
ROLE_TEMPLATE = REPO / "deploy" / "acm-import-role.yaml"
CERTIFICATE = f"arn:aws:acm:eu-west-1:{TEAM_ACCOUNT}:certificate/0d8a6c2e-alpha"
NAME_TAG = "wildcert-name"


def issuer(params: dict[str, Any]) -> tuple[Stack, Principal]:
    stack = Stack(resolved_stack(params))
    return stack, stack.role("IssuerRole", "issuer")


def acm_role(issuer_arn: str) -> tuple[Principal, dict[str, Any]]:
    """The role a team deployed: (it, as a principal; its trust policy)."""
    params = {"IssuerRoleArn": issuer_arn, "ExternalId": EXTERNAL_ID, "RoleSuffix": "-alpha"}
    stack = Stack(Resolver(load_sam(ROLE_TEMPLATE), params,
                           account=TEAM_ACCOUNT).resources())
    props = stack.resources["AcmImportRole"]["Properties"]
    assert props["RoleName"] == "wildcert-acm-import-alpha"
    role = stack.role("AcmImportRole", "ACM import role")
    return Principal(role.label, ACM_ROLE, role.policies), props["AssumeRolePolicyDocument"]


def allowed(stack: Stack, asks: list[tuple[Principal, str, str, dict[str, Any], Any]]
            ) -> list[bool]:
    return [d.allowed for d in evaluate([
        stack.ask(who, action, resource, context, resource_policy=policy)
        for who, action, resource, context, policy in asks])]


def test_the_issuer_assumes_no_acm_role_unless_team_accounts_are_listed() -> None:
    stack, me = issuer({"ZoneAccountIds": [TEAM_ACCOUNT]})
    _, trust = acm_role(me.arn)
    assert allowed(stack, [(me, "sts:AssumeRole", ACM_ROLE,
                            {"sts:ExternalId": EXTERNAL_ID}, trust)]) == [False]


def test_the_issuer_assumes_the_acm_role_with_its_external_id_and_nothing_else() -> None:
    stack, me = issuer({"AcmImportAccountIds": [TEAM_ACCOUNT, "333333333333"]})
    _, trust = acm_role(me.arn)
    stranger = Principal("a role beside the issuer", "arn:aws:iam::111122223333:role/other",
                         me.policies)
    asks = [
        (me, "sts:AssumeRole", ACM_ROLE, {"sts:ExternalId": EXTERNAL_ID}, trust),  # yes
        (me, "sts:AssumeRole", ACM_ROLE, {"sts:ExternalId": "beta-acm-0c11"}, trust),
        (me, "sts:AssumeRole", ACM_ROLE, {}, trust),
        (stranger, "sts:AssumeRole", ACM_ROLE, {"sts:ExternalId": EXTERNAL_ID}, trust),
        (me, "sts:AssumeRole", f"arn:aws:iam::{TEAM_ACCOUNT}:role/admin", {}, None),
        (me, "sts:AssumeRole", f"arn:aws:iam::{TEAM_ACCOUNT}:role/wildcert-zone-access", {},
         None),
        (me, "sts:AssumeRole", "arn:aws:iam::444444444444:role/wildcert-acm-import", {},
         None),
    ]
    assert allowed(stack, asks) == [True] + [False] * 6


def _tags(**tags: str) -> dict[str, Any]:
    return {**{f"aws:RequestTag/{k}": v for k, v in tags.items()}, "aws:TagKeys": list(tags)}


def test_the_acm_role_imports_and_reimports_only_wildcert_certificates() -> None:
    stack, me = issuer({})
    role, _ = acm_role(me.arn)
    imp, tag, describe = ("acm:ImportCertificate", "acm:AddTagsToCertificate",
                          "acm:DescribeCertificate")
    ours = {f"aws:ResourceTag/{NAME_TAG}": "alpha.www"}
    asks = [
        (role, imp, CERTIFICATE, _tags(**{NAME_TAG: "alpha.www"}), None),  # a first import
        (role, tag, CERTIFICATE, _tags(**{NAME_TAG: "alpha.www"}), None),  # ... and its tag
        (role, imp, CERTIFICATE, ours, None),  # a re-import of one wildcert imported
        (role, describe, CERTIFICATE, ours, None),
        (role, imp, CERTIFICATE, {}, None),  # an untagged import, or another certificate
        (role, describe, CERTIFICATE, {}, None),
        (role, imp, CERTIFICATE, _tags(**{NAME_TAG: "alpha.www", "owner": "x"}), None),
        (role, tag, CERTIFICATE, _tags(owner="x"), None),
        (role, imp, "arn:aws:acm:eu-west-1:333333333333:certificate/other", ours, None),
        (role, "acm:DeleteCertificate", CERTIFICATE, ours, None),
        (role, "acm:ExportCertificate", CERTIFICATE, ours, None),
        (role, "acm:RemoveTagsFromCertificate", CERTIFICATE, ours, None),
        (role, "iam:PassRole", f"arn:aws:iam::{TEAM_ACCOUNT}:role/admin", {}, None),
    ]
    assert allowed(stack, asks) == [True] * 4 + [False] * 9


def test_the_role_template_uses_set_operators_on_multivalued_keys() -> None:
    found = list(conditions(load_sam(ROLE_TEMPLATE), ROLE_TEMPLATE.name))
    assert found, "the role template has no conditions to check"
    assert single_valued_on_multivalued(found, key_types({k for _, _, k in found})) == []
