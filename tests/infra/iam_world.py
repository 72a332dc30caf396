"""Who asks what of the deployed stack: the principals the IAM matrix evaluates.

Three teams (teams.toml below): alpha and beta in accounts of their own, gamma in the stack's
account. The template is rendered with their generated resources (scripts/team_resources.py).
Everyone in a team's account holds AdministratorAccess there (what its administrators may grant
themselves) and may tag its roles as it likes: only the stack's policies keep teams apart.
The organisation's SCP (deploy/scp-wildcert-teams.json) applies where a row says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from scripts.team_resources import render
from wildcert.logic.teams import parse_teams

from .iam_sim import S3_VIA, Ask, Principal, Stack
from .infra_template import (
    ACCOUNT,
    BASE_PARAMS,
    PARTITION,
    REGION,
    REPO,
    STACK,
    TEMPLATE,
    parse_sam,
    resolved_stack,
)

ALPHA_ACCOUNT = "444455556666"
BETA_ACCOUNT = "777788889999"
STRANGER_ACCOUNT = "999988887777"
TEAM_ACCOUNT_IDS = f"{ALPHA_ACCOUNT},{BETA_ACCOUNT}"
TAG = "wildcert-team"
OPERATOR = f"arn:{PARTITION}:iam::{ACCOUNT}:role/wildcert-operators"
SCP_FILE = REPO / "deploy" / "scp-wildcert-teams.json"


def bus_arn(account: str, name: str) -> str:
    return f"arn:{PARTITION}:events:{REGION}:{account}:event-bus/{name}"


ALPHA_OUTCOME_BUS = bus_arn(ALPHA_ACCOUNT, "wildcert-outcomes")  # teams.toml's outcome_bus_arn


def admits_the_stacks_account(bus: str, only: str | None = None) -> dict[str, Any]:
    """A bus of another account whose policy lets the stack's whole account put events on it
    (what a team's outcome bus must admit, at its widest: only the stack's IAM then decides),
    or, with `only`, that one role of it."""
    statement: dict[str, Any] = {
        "Effect": "Allow", "Principal": {"AWS": f"arn:{PARTITION}:iam::{ACCOUNT}:root"},
        "Action": "events:PutEvents", "Resource": bus}
    if only:
        statement["Condition"] = {"ArnEquals": {"aws:PrincipalArn": only}}
    return {"Version": "2012-10-17", "Statement": [statement]}

TEAMS_TOML = f"""
[teams.alpha]
sources = ["wildcert.team.alpha"]
accounts = ["{ALPHA_ACCOUNT}"]
suffixes = ["alpha.example.com"]
outcome_bus_arn = "{ALPHA_OUTCOME_BUS}"

[teams.beta]
sources = ["wildcert.team.beta"]
accounts = ["{BETA_ACCOUNT}"]
suffixes = ["beta.example.net"]

[teams.gamma]
sources = ["wildcert.team.gamma"]
accounts = ["{ACCOUNT}"]
suffixes = ["gamma.example.org"]
"""

ADMINISTRATOR = {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def role_arn(account: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:role/{name}"


@cache
def sam_with_teams() -> dict[str, Any]:
    """template.yaml with the test teams' generated resources."""
    return parse_sam(render(TEMPLATE.read_text(), parse_teams(TEAMS_TOML)))


def scp() -> dict[str, Any]:
    """The documented SCP, its placeholders filled in for the test stack."""
    text = SCP_FILE.read_text()
    text = text.replace("arn:aws:iam::111111111111:role/REPLACE-ME-wildcert-operators", OPERATOR)
    text = text.replace("111111111111", ACCOUNT).replace("REPLACE-ME-stack-name", STACK)
    document: dict[str, Any] = json.loads(text)
    return document


@dataclass(frozen=True)
class Row:
    """One request of the matrix: who, what, on what (a World resource name), and whether AWS
    must allow it."""

    principal: str  # a key of World.principals
    action: str
    resource: str  # a key of World.resources, or an ARN
    context: tuple[tuple[str, Any], ...] = ()
    allowed: bool = False
    note: str = ""


class World:
    def __init__(self, params: dict[str, Any]):
        self.params = params
        stack = self.stack = Stack(resolved_stack(params, sam_with_teams()))
        bucket = stack.arn("CertBucket")
        zones = [*BASE_PARAMS["HostedZoneIds"]]
        self.resources: dict[str, str] = {
            "alpha's private key": f"{bucket}/alpha.web/privkey.pem",
            "alpha's cert.pem": f"{bucket}/alpha.web/cert.pem",
            "beta's private key": f"{bucket}/beta.web/privkey.pem",
            "gamma's private key": f"{bucket}/gamma.web/privkey.pem",
            "an operators' private key": f"{bucket}/web/privkey.pem",
            "an archived private key": f"{bucket}/web/archive/0abc/privkey.pem",
            "a cert.json": f"{bucket}/web/cert.json",
            "the ACME account key": f"{bucket}/_wildcert/acme-accounts/0123.json",
            "alpha's inventory": f"{bucket}/alpha._inventory.json",
            "beta's inventory": f"{bucket}/beta._inventory.json",
            "gamma's inventory": f"{bucket}/gamma._inventory.json",
            "the operators' inventory": f"{bucket}/operators._inventory.json",
            "an operators' certificate named operators.*":
                f"{bucket}/operators.vpn/privkey.pem",
            "a nested inventory key": f"{bucket}/x/y._inventory.json",
            "an inventory key under _wildcert/": f"{bucket}/_wildcert/teams/alpha._inventory.json",
            "the bucket": bucket,
            "the key": stack.arn("CertKey"),
            "the request bus": stack.arn("RequestBus"),
            "alpha's outcome bus": ALPHA_OUTCOME_BUS,
            "alpha's outcome bus admitting the issuer's role only": ALPHA_OUTCOME_BUS,
            "another bus of alpha's account": bus_arn(ALPHA_ACCOUNT, "alpha-own"),
            "a bus of beta's account": bus_arn(BETA_ACCOUNT, "wildcert-outcomes"),
            "the renewal queue": stack.arn("RenewalQueue"),
            "the dead-letter queue": stack.arn("DeadLetterQueue"),
            "the issuer": stack.arn("IssuerFunction"),
            "the sweep": stack.arn("RenewalSweepFunction"),
            "the watch": stack.arn("WatchFunction"),
            "the issuer's role": stack.arn("IssuerRole"),
            "the sweep's role": stack.arn("RenewalSweepRole"),
            "the watch's role": stack.arn("WatchRole"),
            "the reader role": stack.arn("ReaderRole"),
            "alpha's team role": stack.arn("TeamAlphaRole"),
            "beta's team role": stack.arn("TeamBetaRole"),
            "gamma's team role": stack.arn("TeamGammaRole"),
            "a role of alpha's account": role_arn(ALPHA_ACCOUNT, "alpha-app"),
            "alpha's ACM import role": role_arn(ALPHA_ACCOUNT, "wildcert-acm-import"),
            "a role of the stack's account": role_arn(ACCOUNT, "gamma-app"),
            "a queue of alpha's account": f"arn:{PARTITION}:sqs:{REGION}:{ALPHA_ACCOUNT}:q",
            "an EAB secret": f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:"
                             f"{STACK}/acme-eab/second-ca-AbCdEf",
            "the Slack secret": stack.ref("SlackWebhookSecret"),
            "a team's Slack secret": f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:"
                                     f"secret:{STACK}/slack/alpha-AbCdEf",
            "an archived cert.pem": f"{bucket}/web/archive/0abc/cert.pem",
            "a new rule on the request bus": stack.arn("RequestBus").replace(
                ":event-bus/", ":rule/") + "/copy-every-outcome",
            "an ACM certificate of the stack's account":
                f"arn:{PARTITION}:acm:{REGION}:{ACCOUNT}:certificate/0f0e-web",
            "an ACM certificate of alpha's account":
                f"arn:{PARTITION}:acm:{REGION}:{ALPHA_ACCOUNT}:certificate/0f0e-web",
            "an allowed zone": f"arn:{PARTITION}:route53:::hostedzone/{zones[0]}",
            "another zone": f"arn:{PARTITION}:route53:::hostedzone/Z0NOTALLOWED0000",
        }
        # Buses of other accounts, each admitting the stack's account: the stack's IAM decides.
        self.outside_policies = {
            bus: admits_the_stacks_account(self.resources[bus])
            for bus in ("alpha's outcome bus", "another bus of alpha's account",
                        "a bus of beta's account")}
        self.outside_policies["alpha's outcome bus admitting the issuer's role only"] = \
            admits_the_stacks_account(ALPHA_OUTCOME_BUS, only=stack.arn("IssuerRole"))
        if "AlarmTopicKey" in stack.resources:
            self.resources["the alarm topic's key"] = stack.arn("AlarmTopicKey")
        admin = (ADMINISTRATOR,)
        team_policy = stack.document("TeamPolicy")
        org = (scp(),)
        p: dict[str, Principal] = {}
        for name, account, other in (("alpha", ALPHA_ACCOUNT, "beta"),
                                     ("beta", BETA_ACCOUNT, "alpha")):
            p[f"{name}'s administrator"] = Principal(
                f"an administrator of {name}'s account", role_arn(account, "admin"), admin,
                scps=org)
            p[f"{name}'s role tagged {other}"] = Principal(
                f"a role of {name}'s account tagged {TAG}={other}",
                role_arn(account, f"{name}-tagged-{other}"), admin, ((TAG, other),), scps=org)
            p[f"{name}'s role with session tag {other}"] = Principal(
                f"a role of {name}'s account with session tag {TAG}={other}",
                role_arn(account, f"{name}-session"), admin, (), ((TAG, other),), scps=org)
            p[f"{name}'s team role"] = replace(
                stack.role(f"Team{name.capitalize()}Role", f"{name}'s team role (assumed)"),
                scps=org)
        p["stranger tagged alpha"] = Principal(
            f"a role of an account in no team tagged {TAG}=alpha",
            role_arn(STRANGER_ACCOUNT, "x"), admin, ((TAG, "alpha"),))
        p["gamma's role"] = Principal(
            f"gamma's role in the stack's account (tagged {TAG}=gamma, TeamPolicy)",
            role_arn(ACCOUNT, "gamma-app"), (team_policy,), ((TAG, "gamma"),), scps=org)
        p["gamma's broad role"] = Principal(
            f"a role of the stack's account tagged {TAG}=gamma with s3, kms, events, lambda "
            "and sqs on *", role_arn(ACCOUNT, "gamma-broad"),
            ({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Resource": "*", "Action": [
                    "events:PutEvents", "s3:*", "kms:Decrypt", "lambda:*", "sqs:*",
                    "sts:AssumeRole"]}]},),
            ((TAG, "gamma"),), scps=org)
        p["a role tagged operators"] = Principal(
            f"a role of the stack's account tagged {TAG}=operators (a reserved id, no team's), "
            "TeamPolicy", role_arn(ACCOUNT, "ops-app"), (team_policy,), ((TAG, "operators"),),
            scps=org)
        p["an untagged administrator"] = Principal(
            "an untagged administrator of the stack's account (not in AdminRoleArns)",
            role_arn(ACCOUNT, "platform-admin"), admin, scps=org)
        p["an operator"] = Principal(
            "the operators (AdminRoleArns, exempt in the SCP)", OPERATOR, admin, scps=org)
        p["CloudWatch alarms"] = Principal("CloudWatch alarms (the service)",
                                           "cloudwatch.amazonaws.com")
        for logical, label in (("IssuerRole", "issuer"), ("RenewalSweepRole", "sweep"),
                               ("WatchRole", "watch"), ("ReaderRole", "reader")):
            p[f"the {label}"] = stack.role(logical, f"the {label}'s role")
        reader_principal = str(params.get("ReaderPrincipalArn", ""))
        if reader_principal:
            p["the reader's principal"] = Principal(
                "ReaderPrincipalArn", reader_principal, admin)
            reader_account = reader_principal.split(":")[4]
            p["another role of the reader's account"] = Principal(
                "another role of ReaderPrincipalArn's account, sts:AssumeRole on *",
                role_arn(reader_account, "someone-else"), admin)
        self.principals = p

    def arn(self, resource: str) -> str:
        return self.resources.get(resource, resource)

    def ask(self, row: Row) -> Ask:
        context = {k: self.arn(v) if isinstance(v, str) else v for k, v in row.context}
        principal = self.principals[row.principal]
        if row.action.startswith("kms:"):
            context.setdefault("kms:CallerAccount", principal.account)
        if row.action == "s3:PutObject":
            context.setdefault("s3:x-amz-server-side-encryption", "aws:kms")
            context.setdefault("s3:x-amz-server-side-encryption-aws-kms-key-id",
                               self.resources["the key"])
        resource = self.arn(row.resource)
        if row.resource in self.outside_policies:
            return self.stack.ask(principal, row.action, resource, context,
                                  resource_policy=self.outside_policies[row.resource])
        return self.stack.ask(principal, row.action, resource, context)


def via_s3() -> tuple[tuple[str, Any], ...]:
    return (("kms:ViaService", S3_VIA),)


def source(*sources: str) -> tuple[tuple[str, Any], ...]:
    return (("events:source", list(sources)),
            ("events:detail-type", ["wildcert.certificate.requested"] * len(sources)))


def tag_keys(*keys: str) -> tuple[tuple[str, Any], ...]:
    return (("aws:TagKeys", list(keys)),)
