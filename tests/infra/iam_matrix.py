"""The security model as evaluated requests: every row is decided by the policy simulator.

`MATRIX` is docs/DEPLOY.md's security model, one request a row, grouped by who asks, on the
template rendered with `PARAMS` (two teams in accounts of their own, one in the stack's account,
named administrators). `markdown(decisions)` is the table docs/DEPLOY.md shows between its
"evaluated requests" markers; a test keeps the two identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .iam_sim import SM_VIA, Decision
from .iam_world import (
    ALPHA_ACCOUNT,
    BETA_ACCOUNT,
    OPERATOR,
    TEAM_ACCOUNT_IDS,
    Row,
    source,
    tag_keys,
    via_s3,
)
from .infra_template import ACCOUNT

PARAMS = {
    "TeamAccountIds": TEAM_ACCOUNT_IDS,
    "AdminRoleArns": OPERATOR,
    "ReaderPrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/cert-consumer",
}

ALPHA, BETA, GAMMA = "wildcert.team.alpha", "wildcert.team.beta", "wildcert.team.gamma"
GET, PUT, LIST = "s3:GetObject", "s3:PutObject", "s3:ListBucket"
DECRYPT, PUT_EVENTS, INVOKE = "kms:Decrypt", "events:PutEvents", "lambda:InvokeFunction"
SEND, ASSUME = "sqs:SendMessage", "sts:AssumeRole"
SECRET = "secretsmanager:GetSecretValue"
CHANGE = "route53:ChangeResourceRecordSets"


def challenge(names: tuple[str, ...] = ("_acme-challenge.web.example.com",),
              types: tuple[str, ...] = ("TXT",),
              actions: tuple[str, ...] = ("CREATE",)) -> tuple[tuple[str, Any], ...]:
    """A Route 53 change's context: the record names, types and actions it carries."""
    return (("route53:ChangeResourceRecordSetsNormalizedRecordNames", list(names)),
            ("route53:ChangeResourceRecordSetsRecordTypes", list(types)),
            ("route53:ChangeResourceRecordSetsActions", list(actions)))
DIRECT = (("kms:ViaService", "none"),)  # kms:Decrypt called directly, not through a service


def _team_in_own_account(team: str, other: str) -> list[tuple[str, Row]]:
    who = f"{team}'s administrator"
    return [
        ("assumes its team's role", Row(who, ASSUME, f"{team}'s team role", allowed=True)),
        ("cannot assume another team's role", Row(who, ASSUME, f"{other}'s team role")),
        ("cannot pass a session tag to its team's role",
         Row(who, "sts:TagSession", f"{team}'s team role",
             (*tag_keys("wildcert-team"), ("aws:RequestTag/wildcert-team", other)))),
        ("cannot assume the reader role", Row(who, ASSUME, "the reader role")),
        ("cannot assume the issuer's role", Row(who, ASSUME, "the issuer's role")),
        ("sends its source", Row(who, PUT_EVENTS, "the request bus",
                                 source(f"wildcert.team.{team}"), allowed=True)),
        ("cannot send another team's source", Row(who, PUT_EVENTS, "the request bus",
                                                  source(f"wildcert.team.{other}"))),
        ("cannot slip another team's source into a call",
         Row(who, PUT_EVENTS, "the request bus",
             source(f"wildcert.team.{team}", f"wildcert.team.{other}"))),
        ("cannot send the issuer's source", Row(who, PUT_EVENTS, "the request bus",
                                                source("wildcert"))),
        ("cannot read its own key directly", Row(who, GET, f"{team}'s private key")
         if team == "alpha" else Row(who, GET, "beta's private key")),
        ("cannot read its inventory directly", Row(who, GET, f"{team}'s inventory")),
        ("cannot decrypt through S3", Row(who, DECRYPT, "the key", via_s3())),
        ("cannot use the alarm topic's key", Row(who, DECRYPT, "the alarm topic's key")),
        ("cannot invoke the issuer", Row(who, INVOKE, "the issuer")),
        ("cannot send to the renewal queue", Row(who, SEND, "the renewal queue")),
        ("cannot read the bus's events (no rule of its own on it)",
         Row(who, "events:PutRule", "a new rule on the request bus",
             (("events:creatorAccount", ALPHA_ACCOUNT if team == "alpha" else BETA_ACCOUNT),))),
        ("cannot tag its roles wildcert-team (SCP)",
         Row(who, "iam:TagRole", f"a role of {team}'s account", tag_keys("wildcert-team"))
         if team == "alpha" else Row(who, "iam:TagRole", "arn:aws:iam::777788889999:role/x",
                                     tag_keys("wildcert-team"))),
    ]


def _keeps_the_fleet_inventory(job: str) -> list[tuple[str, Row]]:
    """The sweep and the watch read and rewrite every owner's top-level inventory object,
    nothing of that name below the top level nor under _wildcert/."""
    allowed = [(f"{job} reads", GET, True), (f"{job} rewrites", PUT, True)]
    refused = [(f"{job} cannot read", GET, False), (f"{job} cannot write", PUT, False)]
    return [(f"{what} {resource}", Row(job, action, resource, allowed=ok))
            for resource, verbs in (("alpha's inventory", allowed),
                                    ("the operators' inventory", allowed),
                                    ("a nested inventory key", refused),
                                    ("an inventory key under _wildcert/", refused))
            for what, action, ok in verbs]


def _no_one_but_the_issuer_puts_outcomes() -> list[tuple[str, Row]]:
    """Team<Id>Outcomes is the issuer's alone: no other role of the stack (nor a team's role
    in it) may put on a team's outcome bus, whatever the source."""
    return [(f"{who} cannot put {what}", Row(who, PUT_EVENTS, "alpha's outcome bus", sent))
            for who in ("alpha's team role", "gamma's role", "the sweep", "the watch",
                        "the reader")
            for what, sent in (("an outcome", source("wildcert")),
                               ("alpha's source", source(ALPHA)))]


MATRIX: list[tuple[str, list[tuple[str, Row]]]] = [
    ("team alpha, in an account of its own (AdministratorAccess there)",
     _team_in_own_account("alpha", "beta")),
    ("a role of beta's account, whatever its tags", [
        ("tagged alpha: cannot read alpha's key", Row("beta's role tagged alpha", GET,
                                                      "alpha's private key")),
        ("tagged alpha: cannot read alpha's inventory", Row("beta's role tagged alpha", GET,
                                                            "alpha's inventory")),
        ("tagged alpha: cannot decrypt through S3", Row("beta's role tagged alpha", DECRYPT,
                                                        "the key", via_s3())),
        ("tagged alpha: cannot send alpha's source",
         Row("beta's role tagged alpha", PUT_EVENTS, "the request bus", source(ALPHA))),
        ("tagged alpha: cannot assume alpha's role",
         Row("beta's role tagged alpha", ASSUME, "alpha's team role")),
        ("session tag alpha: cannot read alpha's key",
         Row("beta's role with session tag alpha", GET, "alpha's private key")),
        ("session tag alpha: cannot send alpha's source",
         Row("beta's role with session tag alpha", PUT_EVENTS, "the request bus",
             source(ALPHA))),
        ("tagged alpha: cannot read the bus's events",
         Row("beta's role tagged alpha", "events:PutRule", "a new rule on the request bus",
             (("events:creatorAccount", BETA_ACCOUNT),))),
        ("cannot tag alpha's role in the stack (no such right)",
         Row("beta's administrator", "iam:TagRole", "alpha's team role",
             tag_keys("wildcert-team"))),
    ]),
    ("an account in no team, tagged alpha", [
        ("cannot read alpha's key", Row("stranger tagged alpha", GET, "alpha's private key")),
        ("cannot send alpha's source", Row("stranger tagged alpha", PUT_EVENTS,
                                           "the request bus", source(ALPHA))),
        ("cannot assume alpha's role", Row("stranger tagged alpha", ASSUME,
                                           "alpha's team role")),
    ]),
    ("alpha's team role (the stack's, tagged by the stack, TeamPolicy)", [
        ("reads alpha's key", Row("alpha's team role", GET, "alpha's private key",
                                  allowed=True)),
        ("decrypts it through S3", Row("alpha's team role", DECRYPT, "the key", via_s3(),
                                       allowed=True)),
        ("cannot decrypt directly", Row("alpha's team role", DECRYPT, "the key", DIRECT)),
        ("reads alpha's inventory", Row("alpha's team role", GET, "alpha's inventory",
                                        allowed=True)),
        ("cannot read beta's inventory", Row("alpha's team role", GET, "beta's inventory")),
        ("cannot read the operators' inventory (it lists every team)",
         Row("alpha's team role", GET, "the operators' inventory")),
        ("cannot rewrite its inventory", Row("alpha's team role", PUT, "alpha's inventory")),
        ("cannot read beta's key", Row("alpha's team role", GET, "beta's private key")),
        ("cannot read an operators' key", Row("alpha's team role", GET,
                                              "an operators' private key")),
        ("cannot read wildcert's state", Row("alpha's team role", GET,
                                             "the ACME account key")),
        ("cannot read old versions", Row("alpha's team role", "s3:GetObjectVersion",
                                         "alpha's private key")),
        ("cannot write", Row("alpha's team role", PUT, "alpha's cert.pem")),
        ("cannot list", Row("alpha's team role", LIST, "the bucket")),
        ("cannot send beta's source", Row("alpha's team role", PUT_EVENTS, "the request bus",
                                          source(BETA))),
        ("cannot invoke the issuer", Row("alpha's team role", INVOKE, "the issuer")),
        ("cannot send to the renewal queue", Row("alpha's team role", SEND,
                                                 "the renewal queue")),
        ("cannot assume beta's role", Row("alpha's team role", ASSUME, "beta's team role")),
        ("cannot read the bus's events", Row("alpha's team role", "events:PutRule",
                                             "a new rule on the request bus")),
        ("cannot import into ACM", Row("alpha's team role", "acm:ImportCertificate",
                                       "an ACM certificate of the stack's account")),
        ("cannot read a CA's EAB secret", Row("alpha's team role", SECRET, "an EAB secret")),
        ("cannot use the alarm topic's key", Row("alpha's team role", "kms:GenerateDataKey",
                                                 "the alarm topic's key")),
    ]),
    ("team gamma, in the stack's account (role tagged by the operators, TeamPolicy)", [
        ("sends its source", Row("gamma's role", PUT_EVENTS, "the request bus", source(GAMMA),
                                 allowed=True)),
        ("reads gamma's key", Row("gamma's role", GET, "gamma's private key", allowed=True)),
        ("decrypts it through S3", Row("gamma's role", DECRYPT, "the key", via_s3(),
                                       allowed=True)),
        ("cannot read alpha's key", Row("gamma's role", GET, "alpha's private key")),
        ("cannot send alpha's source", Row("gamma's role", PUT_EVENTS, "the request bus",
                                           source(ALPHA))),
        ("reads gamma's inventory", Row("gamma's role", GET, "gamma's inventory",
                                        allowed=True)),
        ("cannot read alpha's inventory", Row("gamma's role", GET, "alpha's inventory")),
        ("cannot use the alarm topic's key", Row("gamma's role", DECRYPT,
                                                 "the alarm topic's key")),
    ]),
    ("a role of the stack's account tagged gamma, with s3/kms/events/lambda/sqs on *", [
        ("cannot read alpha's key", Row("gamma's broad role", GET, "alpha's private key")),
        ("cannot read wildcert's state", Row("gamma's broad role", GET,
                                             "the ACME account key")),
        ("cannot write its own prefix", Row("gamma's broad role", PUT,
                                            "gamma's private key")),
        ("cannot read the operators' inventory", Row("gamma's broad role", GET,
                                                     "the operators' inventory")),
        ("cannot decrypt the alarm topic's messages", Row("gamma's broad role", DECRYPT,
                                                          "the alarm topic's key")),
        ("cannot send alpha's source", Row("gamma's broad role", PUT_EVENTS,
                                           "the request bus", source(ALPHA))),
        ("cannot send the issuer's source", Row("gamma's broad role", PUT_EVENTS,
                                                "the request bus", source("wildcert"))),
        ("cannot invoke the issuer (SCP)", Row("gamma's broad role", INVOKE, "the issuer")),
        ("cannot map a queue to the issuer (SCP)",
         Row("gamma's broad role", "lambda:CreateEventSourceMapping", "*",
             (("lambda:FunctionArn", "the issuer"),))),
        ("cannot send to the renewal queue", Row("gamma's broad role", SEND,
                                                 "the renewal queue")),
        ("cannot assume alpha's role", Row("gamma's broad role", ASSUME, "alpha's team role")),
        ("cannot assume the reader role", Row("gamma's broad role", ASSUME, "the reader role")),
    ]),
    ("a role of the stack's account tagged operators (reserved: no team's id)", [
        ("cannot read the operators' inventory (it lists every team)",
         Row("a role tagged operators", GET, "the operators' inventory")),
        ("cannot read an operators' certificate named operators.*",
         Row("a role tagged operators", GET, "an operators' certificate named operators.*")),
        ("cannot send the source wildcert.team.operators (no team's)",
         Row("a role tagged operators", PUT_EVENTS, "the request bus",
             source("wildcert.team.operators"))),
    ]),
    ("an untagged administrator of the stack's account", [
        ("cannot read a private key", Row("an untagged administrator", GET,
                                          "alpha's private key")),
        ("cannot decrypt through S3", Row("an untagged administrator", DECRYPT, "the key",
                                          via_s3())),
        ("cannot list the bucket", Row("an untagged administrator", LIST, "the bucket")),
        ("cannot send a team's source", Row("an untagged administrator", PUT_EVENTS,
                                            "the request bus", source(GAMMA))),
        ("cannot send the issuer's source", Row("an untagged administrator", PUT_EVENTS,
                                                "the request bus", source("wildcert"))),
        ("cannot send to the renewal queue", Row("an untagged administrator", SEND,
                                                 "the renewal queue")),
        ("cannot tag a role wildcert-team (SCP)",
         Row("an untagged administrator", "iam:TagRole", "a role of the stack's account",
             tag_keys("wildcert-team"))),
        ("cannot pass the tag as a session tag (SCP)",
         Row("an untagged administrator", "sts:TagSession", "gamma's team role",
             tag_keys("wildcert-team"))),
        ("encrypts the Slack secret it writes, through Secrets Manager",
         Row("an untagged administrator", "kms:GenerateDataKey", "the key", (
             ("kms:ViaService", SM_VIA),
             ("kms:EncryptionContext:SecretARN", "the Slack secret")), allowed=True)),
        ("invokes the issuer: an operator by definition",
         Row("an untagged administrator", INVOKE, "the issuer", allowed=True)),
    ]),
    ("the operators (AdminRoleArns; exempt in the SCP)", [
        ("list the bucket", Row("an operator", LIST, "the bucket", allowed=True)),
        ("delete objects", Row("an operator", "s3:DeleteObject", "alpha's private key",
                               allowed=True)),
        ("cannot decrypt (a key-policy change first)",
         Row("an operator", DECRYPT, "the key", via_s3())),
        ("invoke the issuer", Row("an operator", INVOKE, "the issuer", allowed=True)),
        ("read the bus's events (a rule of their own)",
         Row("an operator", "events:PutRule", "a new rule on the request bus", allowed=True)),
        ("tag roles wildcert-team", Row("an operator", "iam:TagRole",
                                        "a role of the stack's account",
                                        tag_keys("wildcert-team"), allowed=True)),
    ]),
    ("the issuer's role", [
        ("reads and writes certificates and state",
         Row("the issuer", PUT, "the ACME account key", allowed=True)),
        ("decrypts through S3", Row("the issuer", DECRYPT, "the key", via_s3(), allowed=True)),
        ("sends outcome events (source wildcert)",
         Row("the issuer", PUT_EVENTS, "the request bus", source("wildcert"), allowed=True)),
        ("cannot send a team's source", Row("the issuer", PUT_EVENTS, "the request bus",
                                            source(ALPHA))),
        ("forwards alpha's outcomes to alpha's own bus (teams.toml outcome_bus_arn)",
         Row("the issuer", PUT_EVENTS, "alpha's outcome bus", source("wildcert"),
             allowed=True)),
        ("not with a team's source there", Row("the issuer", PUT_EVENTS, "alpha's outcome bus",
                                               source(ALPHA))),
        ("not to another bus of alpha's account",
         Row("the issuer", PUT_EVENTS, "another bus of alpha's account", source("wildcert"))),
        ("not to a bus of beta's account (beta names none)",
         Row("the issuer", PUT_EVENTS, "a bus of beta's account", source("wildcert"))),
        ("consumes the renewal queue", Row("the issuer", "sqs:ReceiveMessage",
                                           "the renewal queue", allowed=True)),
        ("cannot consume a team's queue", Row("the issuer", "sqs:ReceiveMessage",
                                              "a queue of alpha's account")),
        ("cannot assume a team's role", Row("the issuer", ASSUME, "alpha's team role")),
        ("cannot assume a role of a team's account (no ZoneAccountIds)",
         Row("the issuer", ASSUME, "a role of alpha's account")),
        ("cannot assume a team's ACM import role (no AcmImportAccountIds)",
         Row("the issuer", ASSUME, "alpha's ACM import role")),
        ("writes _acme-challenge TXT in an allowed zone",
         Row("the issuer", CHANGE, "an allowed zone", challenge(), allowed=True)),
        ("no other record type", Row("the issuer", CHANGE, "an allowed zone",
                                     challenge(types=("A",)))),
        ("no UPSERT", Row("the issuer", CHANGE, "an allowed zone",
                          challenge(actions=("UPSERT",)))),
        ("no other name", Row("the issuer", CHANGE, "an allowed zone",
                              challenge(names=("www.example.com",)))),
        ("no other zone", Row("the issuer", CHANGE, "another zone", challenge())),
        ("sends failures to the dead-letter queue", Row("the issuer", SEND,
                                                        "the dead-letter queue", allowed=True)),
        ("defers a renewal message", Row("the issuer", "sqs:ChangeMessageVisibility",
                                         "the renewal queue", allowed=True)),
        ("reads a team's Slack secret", Row("the issuer", SECRET, "a team's Slack secret",
                                            allowed=True)),
        ("reads a CA's EAB secret", Row("the issuer", SECRET, "an EAB secret", allowed=True)),
        ("imports into ACM in the stack's account",
         Row("the issuer", "acm:ImportCertificate", "an ACM certificate of the stack's account",
             allowed=True)),
        ("not into another account's ACM",
         Row("the issuer", "acm:ImportCertificate", "an ACM certificate of alpha's account")),
        ("reads the Slack secret", Row("the issuer", SECRET, "the Slack secret",
                                       allowed=True)),
        ("writes a team's inventory", Row("the issuer", PUT, "alpha's inventory",
                                          allowed=True)),
        ("writes the operators' inventory", Row("the issuer", PUT, "the operators' inventory",
                                                allowed=True)),
        ("reads an inventory back", Row("the issuer", GET, "alpha's inventory",
                                        allowed=True)),
    ]),
    ("the stack's other roles, on alpha's outcome bus (which admits the stack's account)",
     _no_one_but_the_issuer_puts_outcomes()),
    ("alpha's outcome bus: why its policy should admit the issuer's role only (TEAMS.md)", [
        ("admitting the stack's account, a role there with events:PutEvents on * puts on it",
         Row("gamma's broad role", PUT_EVENTS, "alpha's outcome bus", source("wildcert"),
             allowed=True)),
        ("admitting the issuer's role only, that role cannot",
         Row("gamma's broad role", PUT_EVENTS,
             "alpha's outcome bus admitting the issuer's role only", source("wildcert"))),
        ("the issuer still can", Row("the issuer", PUT_EVENTS,
                                     "alpha's outcome bus admitting the issuer's role only",
                                     source("wildcert"), allowed=True)),
    ]),
    ("CloudWatch alarms (the service) and the alarm topic", [
        ("encrypt for the topic", Row("CloudWatch alarms", "kms:GenerateDataKey",
                                      "the alarm topic's key",
                                      (("aws:SourceAccount", ACCOUNT),), allowed=True)),
        ("not for another account's alarms", Row("CloudWatch alarms", "kms:GenerateDataKey",
                                                 "the alarm topic's key",
                                                 (("aws:SourceAccount", "999988887777"),))),
        ("cannot use the certificates' key", Row("CloudWatch alarms", DECRYPT, "the key",
                                                 (("aws:SourceAccount", ACCOUNT),))),
    ]),
    ("the sweep's and the watch's roles", [
        ("the sweep reads a cert.json", Row("the sweep", GET, "a cert.json", allowed=True)),
        ("the sweep queues renewals", Row("the sweep", SEND, "the renewal queue",
                                          allowed=True)),
        ("the sweep cannot read a private key", Row("the sweep", GET, "alpha's private key")),
        ("the sweep rewrites a cert.json", Row("the sweep", PUT, "a cert.json", allowed=True)),
        ("the sweep encrypts through S3", Row("the sweep", "kms:GenerateDataKey", "the key",
                                              via_s3(), allowed=True)),
        ("the sweep sends failures to the dead-letter queue",
         Row("the sweep", SEND, "the dead-letter queue", allowed=True)),
        ("the sweep reads the Slack secret", Row("the sweep", SECRET, "the Slack secret",
                                                 allowed=True)),
        ("the sweep cannot change DNS", Row("the sweep", CHANGE, "an allowed zone",
                                            challenge())),
        ("the watch reads an archived cert.pem", Row("the watch", GET, "an archived cert.pem",
                                                     allowed=True)),
        ("the watch cannot change DNS", Row("the watch", CHANGE, "an allowed zone",
                                            challenge())),
        ("the watch deletes an archived private key",
         Row("the watch", "s3:DeleteObject", "an archived private key", allowed=True)),
        ("the watch cannot read a private key", Row("the watch", GET,
                                                    "an archived private key")),
        ("the watch cannot read wildcert's state", Row("the watch", GET,
                                                       "the ACME account key")),
        *_keeps_the_fleet_inventory("the sweep"),
        *_keeps_the_fleet_inventory("the watch"),
    ]),
    ("the reader role (ReaderPrincipalArn)", [
        ("is assumed by ReaderPrincipalArn", Row("the reader's principal", ASSUME,
                                                 "the reader role", allowed=True)),
        ("not by another role of that account",
         Row("another role of the reader's account", ASSUME, "the reader role")),
        ("reads every certificate's key", Row("the reader", GET, "alpha's private key",
                                              allowed=True)),
        ("decrypts through S3", Row("the reader", DECRYPT, "the key", via_s3(),
                                    allowed=True)),
        ("cannot read wildcert's state", Row("the reader", GET, "the ACME account key")),
        ("lists under a certificate's prefix", Row("the reader", LIST, "the bucket",
                                                   (("s3:prefix", "web/"),), allowed=True)),
        ("not under _wildcert/", Row("the reader", LIST, "the bucket",
                                     (("s3:prefix", "_wildcert/"),))),
        ("cannot read an old version of a private key",
         Row("the reader", "s3:GetObjectVersion", "alpha's private key")),
        ("cannot write", Row("the reader", PUT, "alpha's cert.pem")),
        ("reads a team's inventory", Row("the reader", GET, "alpha's inventory",
                                         allowed=True)),
        ("reads the operators' inventory", Row("the reader", GET, "the operators' inventory",
                                               allowed=True)),
        ("cannot write an inventory", Row("the reader", PUT, "alpha's inventory")),
        ("cannot read an inventory key under _wildcert/",
         Row("the reader", GET, "an inventory key under _wildcert/")),
    ]),
]


def rows() -> list[Row]:
    return [row for _, group in MATRIX for _, row in group]


def markdown(decisions: Sequence[Decision]) -> str:
    """The evaluated matrix as docs/DEPLOY.md shows it."""
    lines = ["| who | request | AWS decides |", "|---|---|---|"]
    found = iter(decisions)
    for who, group in MATRIX:
        for i, (what, row) in enumerate(group):
            decision = next(found)
            shown = who if i == 0 else "〃"
            lines.append(f"| {shown} | {what}: `{row.action}` on {row.resource} | "
                         f"{decision.result} |")
    return "\n".join(lines) + "\n"
