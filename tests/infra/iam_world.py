"""Who asks what of the deployed stack: the principals and requests the IAM matrix evaluates.

Two teams with accounts of their own (alpha, beta: TeamAccountIds), a team in the stack's
account (gamma), untagged administrators, the operators, the stack's own roles. Everyone in a
team's account holds AdministratorAccess there (what its administrators may grant themselves):
only the stack's policies keep them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .iam_sim import S3_VIA, SM_VIA, Ask, Principal, Stack
from .infra_template import ACCOUNT, PARTITION

ALPHA_ACCOUNT = "444455556666"
BETA_ACCOUNT = "777788889999"
TEAM_ACCOUNTS = {"alpha": ALPHA_ACCOUNT, "beta": BETA_ACCOUNT}
TEAM_ACCOUNT_IDS = ",".join(TEAM_ACCOUNTS.values())
TAG = "wildcert-team"

ADMINISTRATOR = {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def role_arn(account: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:role/{name}"


@dataclass(frozen=True)
class Row:
    """One line of the matrix: who, what, on what, and whether AWS must allow it."""

    label: str
    principal: str  # a key of World.principals
    action: str
    resource: str
    context: tuple[tuple[str, Any], ...] = ()
    allowed: bool = False


class World:
    def __init__(self, stack: Stack):
        self.stack = stack
        self.bucket = stack.arn("CertBucket")
        self.key = stack.arn("CertKey")
        self.bus = stack.arn("RequestBus")
        team = stack.document("TeamPolicy")
        admin = (ADMINISTRATOR,)
        p: dict[str, Principal] = {}
        for name, account in TEAM_ACCOUNTS.items():
            other = "beta" if name == "alpha" else "alpha"
            p[f"{name}-own-account"] = Principal(
                f"{name}'s role in its own account (tagged {name})",
                role_arn(account, f"{name}-app"), admin, ((TAG, name),))
            p[f"{name}-own-account-tagged-{other}"] = Principal(
                f"a role in {name}'s account tagged {other}",
                role_arn(account, f"{name}-rogue"), admin, ((TAG, other),))
            p[f"{name}-own-account-untagged"] = Principal(
                f"an untagged role in {name}'s account", role_arn(account, "admin"), admin)
            p[f"{name}-own-account-session-{other}"] = Principal(
                f"a role in {name}'s account with session tag {other}",
                role_arn(account, f"{name}-session"), admin, ((TAG, name),), ((TAG, other),))
            p[f"{name}-stack-account"] = Principal(
                f"{name}'s role in the stack's account (tagged {name}, TeamPolicy)",
                role_arn(ACCOUNT, f"{name}-app"), (team,), ((TAG, name),))
        p["gamma-stack-account"] = Principal(
            "gamma's role in the stack's account (tagged gamma, TeamPolicy)",
            role_arn(ACCOUNT, "gamma-app"), (team,), ((TAG, "gamma"),))
        p["gamma-broad"] = Principal(
            "gamma's role in the stack's account with PutEvents on any source",
            role_arn(ACCOUNT, "gamma-broad"),
            ({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["events:PutEvents", "s3:GetObject",
                                               "kms:Decrypt"], "Resource": "*"}]},),
            ((TAG, "gamma"),))
        p["stack-admin"] = Principal(
            "an untagged administrator of the stack's account",
            role_arn(ACCOUNT, "platform-admin"), admin)
        for logical, label in (("IssuerRole", "issuer"), ("RenewalSweepRole", "sweep"),
                               ("WatchRole", "watch"), ("ReaderRole", "reader")):
            p[label] = stack.role(logical, f"the {label}'s role")
        self.principals = p

    # -- resources
    def obj(self, key: str) -> str:
        return f"{self.bucket}/{key}"

    def ask(self, row: Row) -> Ask:
        context = dict(row.context)
        principal = self.principals[row.principal]
        if row.action.startswith("kms:"):
            context.setdefault("kms:CallerAccount", principal.account)
        return self.stack.ask(principal, row.action, row.resource, context)


def via_s3() -> tuple[tuple[str, Any], ...]:
    return (("kms:ViaService", S3_VIA),)


def via_secrets_manager() -> tuple[tuple[str, Any], ...]:
    return (("kms:ViaService", SM_VIA),)


def source(*sources: str) -> tuple[tuple[str, Any], ...]:
    return (("events:source", list(sources)), ("events:detail-type",
                                                ["wildcert.certificate.requested"]))
