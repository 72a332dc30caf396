"""docs/ZONES.md's commands, run as shown with the AWS CLI against the local stack, and what
they set up used for a certificate: the zone-access role deployed in a zone's own account
(moto's CloudFormation; its trust as read back evaluated by the IAM simulator), the teams.toml
entry naming it, and a CNAME delegating a challenge.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import urllib.parse
import uuid
from pathlib import Path

import pytest

from local_stack import Stack
from tests.e2e.support import ISSUER, REPO, assert_valid_stored, invoke, unique
from tests.infra import iam_sim
from tests.infra.infra_tools import tool
from wildcert import container
from wildcert.logic.zones import session_name

DOC = REPO / "docs" / "ZONES.md"
ZONE_ACCOUNT = "222222222222"
ISSUER_ROLE = "arn:aws:iam::123456789012:role/wildcert-IssuerRole-LOCAL"
ALPHA = """
[teams.alpha]
sources = ["wildcert.team.alpha"]
accounts = ["{account}"]
suffixes = ["{suffix}"]
"""


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.DOTALL)


def run(command: str, stack: Stack, env: dict[str, str]) -> str:
    """A doc's shell block, with the AWS CLI of the tools venv, against the local stack."""
    path = f"{tool('aws').parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command], cwd=REPO, capture_output=True, text=True,
        timeout=120, check=False,
        env={**os.environ, "PATH": path, "AWS_ENDPOINT_URL": stack.env["AWS_ENDPOINT_URL"],
             "AWS_DEFAULT_REGION": "us-east-1", **env})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def account_credentials(stack: Stack, account: str) -> dict[str, str]:
    """Who runs a command in `account`: a role assumed there (moto keeps accounts apart)."""
    credentials = stack.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/zone-admin", RoleSessionName="docs")["Credentials"]
    return {"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"]}


def admitted_sessions(stack: Stack, owner: dict[str, str], role: str,
                      external_id: str) -> list[bool]:
    """Whether the deployed role's trust (as `aws iam get-role` reads it back), evaluated by
    the IAM simulator, admits the issuer as team alpha's session, the operators' and team
    alpha-beta's."""
    trust = json.loads(run(f"aws iam get-role --role-name {role.rsplit('/', 1)[-1]} --query "
                           "Role.AssumeRolePolicyDocument --output json", stack, owner))
    if isinstance(trust, str):
        trust = json.loads(urllib.parse.unquote(trust))
    issuer = iam_sim.Principal("the issuer", ISSUER_ROLE, (iam_sim.FULL_AWS_ACCESS,))
    names = [session_name("alpha", "e-1"), session_name(None, "m-1"),
             session_name("alpha-beta", "e-1")]
    return [d.allowed for d in iam_sim.evaluate([
        iam_sim.Stack({}).ask(issuer, "sts:AssumeRole", role, {
            "sts:ExternalId": external_id, "sts:RoleSessionName": name}, resource_policy=trust)
        for name in names])]


def test_a_zone_in_another_account_set_up_as_the_docs_show(
        stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = account_credentials(stack, ZONE_ACCOUNT)
    zone_name = f"alpha-{uuid.uuid4().hex[:8]}.example.org"
    zone_id = run(f"aws route53 create-hosted-zone --name {zone_name} --caller-reference "
                  f"{uuid.uuid4()} --query HostedZone.Id --output text", stack, owner
                  ).strip().rsplit("/", 1)[-1]
    external_id = uuid.uuid4().hex
    deploy = next(b for b in blocks("sh") if "zone-access-role.yaml" in b)
    role = run(deploy, stack, {**owner, "ISSUER_ROLE_ARN": ISSUER_ROLE,
                               "EXTERNAL_ID": external_id, "ZONE_ID": zone_id}).split()[-1]
    assert role == f"arn:aws:iam::{ZONE_ACCOUNT}:role/wildcert-zone-access-alpha"
    assert admitted_sessions(stack, owner, role, external_id) == [True, False, False]

    entry = next(b for b in blocks("toml") if "[[teams.alpha.zones]]" in b)
    for key, value in (("id", zone_id), ("name", zone_name), ("role", role),
                       ("external_id", external_id)):
        entry = re.sub(rf'^{key} = ".*"$', f'{key} = "{value}"', entry, flags=re.MULTILINE)
    teams = tmp_path / "teams.toml"
    teams.write_text(ALPHA.format(account=ZONE_ACCOUNT, suffix=zone_name) + entry)
    monkeypatch.setenv("TEAMS_FILE", str(teams))
    container.start_afresh()
    label = unique("docs")
    domains = [f"www.{zone_name}"]
    result = invoke(ISSUER, {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "wildcert.certificate.requested",
        "source": "wildcert.team.alpha", "account": ZONE_ACCOUNT,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": "eu-west-1",
        "resources": [], "detail": {"domains": domains, "name": f"alpha.{label}"}})
    assert result["status"] == "issued", result
    assert_valid_stored(f"alpha.{label}", domains)


def test_the_cname_delegation_example_as_the_docs_show(stack: Stack) -> None:
    delegate = next(b for b in blocks("sh") if "CNAME" in b)
    zone = {"PRODUCTION_ZONE_ID": stack.zone_id("example.com")}
    run(delegate, stack, zone)
    try:
        result = invoke(ISSUER, {"domains": ["www.example.com"], "name": unique("docs-www")})
        assert result["status"] == "issued", result
        assert_valid_stored(result["name"], ["www.example.com"])
    finally:
        run(delegate.replace('"Action": "CREATE"', '"Action": "DELETE"'), stack, zone)
