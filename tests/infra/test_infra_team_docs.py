"""The policy docs/TEAMS.md tells a team to attach is the one the stack enforces (TeamPolicy)."""

from __future__ import annotations

import json
import re
from typing import Any

from .infra_template import REPO, resolved_stack

TEAMS_DOC = REPO / "docs" / "TEAMS.md"


def documented_policy() -> dict[str, Any]:
    text = TEAMS_DOC.read_text()
    step = text.index("**3. Attach this policy to those roles.**")
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
