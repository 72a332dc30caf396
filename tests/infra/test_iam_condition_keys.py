"""Every condition in template.yaml uses an operator fit for its key's type.

A multivalued key (ArrayOf... in AWS's service authorization reference, as the simulator's
iam-data package carries it) compared with a single-valued operator (StringEquals, StringLike,
...) does not mean what it reads as: AWS's IAM guide asks for ForAllValues / ForAnyValue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .iam_sim import key_types
from .iam_world import SCP_FILE, TEAM_ACCOUNT_IDS, sam_with_teams
from .infra_template import REPO, Resolver, load_sam, resolved_stack

PARAMETER_SETS = ({}, {"TeamAccountIds": TEAM_ACCOUNT_IDS, "ZoneAccountIds": ["222222222222"],
                       "AcmImportAccountIds": ["222222222222"]})
ZONE_ROLE_TEMPLATE = REPO / "deploy" / "zone-access-role.yaml"
ACM_ROLE_TEMPLATE = REPO / "deploy" / "acm-import-role.yaml"


def conditions(node: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """(where, operator, key) of every Condition block under `node`."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "Condition" and isinstance(value, dict):
                for operator, block in value.items():
                    if isinstance(block, dict):
                        for key in block:
                            yield where, operator, key
            else:
                yield from conditions(value, f"{where}.{name}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from conditions(value, f"{where}[{i}]")


def single_valued_on_multivalued(found: list[tuple[str, str, str]],
                                 types: dict[str, str | None]) -> list[str]:
    return sorted({f"{where}: {operator} on {key} ({types[key]})" for where, operator, key in found
            if (types.get(key) or "").startswith("ArrayOf")
            and not operator.startswith(("ForAllValues:", "ForAnyValue:"))
            and operator != "Null"})


def template_conditions() -> list[tuple[str, str, str]]:
    """Every condition of template.yaml (with teams' generated resources), of the zone-access
    role the zones' accounts deploy, of the ACM import role the teams deploy, and of the
    organisation's SCP."""
    found: list[tuple[str, str, str]] = []
    for params in PARAMETER_SETS:
        for name, resource in resolved_stack(params, sam_with_teams()).items():
            found.extend(conditions(resource["Properties"], name))
    zone_params = {"IssuerRoleArn": "arn:aws:iam::111122223333:role/issuer",
                   "ExternalId": "x", "HostedZoneIds": ["Z0111AAAAAAAAA"], "RoleSuffix": ""}
    for name, resource in Resolver(load_sam(ZONE_ROLE_TEMPLATE), zone_params).resources().items():
        found.extend(conditions(resource["Properties"], f"zone-access-role.yaml:{name}"))
    acm_params = {"IssuerRoleArn": "arn:aws:iam::111122223333:role/issuer", "ExternalId": "x",
                  "RoleSuffix": ""}
    for name, resource in Resolver(load_sam(ACM_ROLE_TEMPLATE), acm_params).resources().items():
        found.extend(conditions(resource["Properties"], f"acm-import-role.yaml:{name}"))
    found.extend(conditions(json.loads(SCP_FILE.read_text()), SCP_FILE.name))
    return found


def test_no_single_valued_operator_on_a_multivalued_key() -> None:
    found = template_conditions()
    types = key_types(key for _, _, key in found)
    assert single_valued_on_multivalued(found, types) == []
    # A key AWS does not know (a typo) matches nothing: every one has a type.
    assert sorted({key for _, _, key in found if types.get(key) is None}) == []


def test_the_check_knows_events_source_is_multivalued() -> None:
    """The check can fail: the simulator's data types events:source as ArrayOfString."""
    found = [("Bus.Statement", "StringEquals", "events:source"),
             ("Bus.Statement", "ForAllValues:StringEquals", "events:source"),
             ("Bus.Statement", "StringEquals", "aws:PrincipalArn")]
    types = key_types(key for _, _, key in found)
    assert single_valued_on_multivalued(found, types) == [
        "Bus.Statement: StringEquals on events:source (ArrayOfString)"]
