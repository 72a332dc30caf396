"""The policy docs/TEAMS.md tells a team to attach is the one the stack enforces (TeamPolicy)."""

from __future__ import annotations

import json
import re
from typing import Any

from .iam_matrix import PARAMS
from .iam_sim import Principal, evaluate
from .iam_world import ALPHA_ACCOUNT, Row, World, role_arn, source
from .infra_template import REPO, resolved_stack

TEAMS_DOC = REPO / "docs" / "TEAMS.md"


def documented_policy() -> dict[str, Any]:
    text = TEAMS_DOC.read_text()
    step = text.index("**3. Attach this policy to those roles**")
    block = re.search(r"```json\n(.*?)\n```", text[step:], re.DOTALL)
    assert block, "docs/TEAMS.md step 3 has no JSON policy"
    return json.loads(block.group(1))


def _shape(statement: dict[str, Any]) -> tuple[Any, ...]:
    """What a statement grants, less the account-specific ARN prefixes."""
    resource = str(statement["Resource"])
    tail = resource.split("/", 1)[1] if "/" in resource else resource
    service = resource.split(":")[2] if resource.startswith("arn:") else resource
    condition = json.dumps(statement.get("Condition", {}), sort_keys=True)
    condition = re.sub(r"\w+\.eu-west-1\.amazonaws\.com", "VIA", condition)
    return (statement["Sid"], statement["Effect"], statement["Action"], service, tail, condition)


def test_documented_team_policy_is_the_stacks() -> None:
    stack = resolved_stack({})
    template = stack["TeamPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    ours = {s["Sid"]: s for s in template}
    for statement in documented_policy()["Statement"]:
        mine = dict(ours[statement["Sid"]])
        # Tokens of the resolved template stand for the stack's own names.
        mine["Resource"] = {
            "<RequestBus.Arn>": "arn:aws:events:eu-west-1:1:event-bus/wildcert-requests",
            "<CertBucket.Arn>/${aws:PrincipalTag/wildcert-team}.*":
                "arn:aws:s3:::wildcert-certificates/${aws:PrincipalTag/wildcert-team}.*",
            "<CertKey.Arn>": "arn:aws:kms:eu-west-1:1:key/…",
        }[mine["Resource"]]
        assert _shape(statement) == _shape(mine), statement["Sid"]
    assert [s["Sid"] for s in documented_policy()["Statement"]] == list(ours)


def documented_own_account_policy(team: str, bus: str, role: str) -> dict[str, Any]:
    """Step 3b's document, for `team`, with the stack's bus and team role."""
    text = TEAMS_DOC.read_text()
    step = text.index("**3b. A team in an account of its own**")
    block = re.search(r"```json\n(.*?)\n```", text[step:], re.DOTALL)
    assert block, "docs/TEAMS.md step 3b has no JSON policy"
    document = block.group(1).replace("payments", team)
    document = re.sub(r"arn:aws:events:[^\"]*", bus, document)
    document = re.sub(r"arn:aws:iam::[^\"]*", role, document)
    policy: dict[str, Any] = json.loads(document)
    return policy


def test_the_documented_own_account_policy_works_and_no_further() -> None:
    """A role of alpha's account with exactly step 3b's policy asks and reads as alpha, and
    as nobody else (decided by the policy simulator)."""
    world = World(PARAMS)
    policy = documented_own_account_policy(
        "alpha", world.resources["the request bus"], world.resources["alpha's team role"])
    world.principals["documented"] = Principal(
        "a role of alpha's account with step 3b's policy",
        role_arn(ALPHA_ACCOUNT, "payments-ci"), (policy,))
    rows = [
        Row("documented", "sts:AssumeRole", "alpha's team role", allowed=True),
        Row("documented", "events:PutEvents", "the request bus", source("wildcert.team.alpha"),
            allowed=True),
        Row("documented", "events:PutEvents", "the request bus", source("wildcert.team.beta")),
        Row("documented", "sts:AssumeRole", "beta's team role"),
        Row("documented", "s3:GetObject", "alpha's private key"),
    ]
    decisions = evaluate([world.ask(row) for row in rows])
    assert [(d.ask.describe(), d.allowed) for d in decisions] == [
        (d.ask.describe(), row.allowed) for row, d in zip(rows, decisions, strict=True)]
