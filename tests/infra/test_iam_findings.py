"""What the teams' security review found in template.yaml's IAM, as evaluated requests.

Each test evaluates, with the policy simulator, the requests a finding is about on the
template rendered with teams in accounts of their own (TeamAccountIds) and one in the stack's
account, and says what AWS must decide. Before the fixes: the first was allowed (the bucket and
the key trusted tags set in any team account); the team's own PutEvents was implicitly denied
and the other three sends allowed (single-valued operators on the multivalued events:source).
"""

from __future__ import annotations

from functools import cache

from .iam_matrix import PARAMS
from .iam_sim import evaluate
from .iam_world import Row, World, source, via_s3


@cache
def world() -> World:
    return World(PARAMS)


def assert_rows(*rows: Row) -> None:
    w = world()
    decisions = evaluate([w.ask(row) for row in rows])
    wrong = [f"{d.ask.describe()}: {d.result} (denied by {d.denied_by}, allowed by "
             f"{d.allowed_by}), expected {'allowed' if row.allowed else 'denied'}"
             for row, d in zip(rows, decisions, strict=True) if d.allowed != row.allowed]
    assert wrong == []


def test_a_role_in_beta_account_tagged_alpha_cannot_read_alphas_private_key() -> None:
    assert_rows(
        Row("beta's role tagged alpha", "s3:GetObject", "alpha's private key"),
        Row("beta's role tagged alpha", "kms:Decrypt", "the key", via_s3()),
        Row("beta's role with session tag alpha", "s3:GetObject", "alpha's private key"),
    )


def test_a_team_may_send_its_own_source() -> None:
    assert_rows(
        Row("gamma's role", "events:PutEvents", "the request bus",
            source("wildcert.team.gamma"), allowed=True),
        Row("alpha's administrator", "events:PutEvents", "the request bus",
            source("wildcert.team.alpha"), allowed=True),
    )


def test_a_role_tagged_gamma_cannot_send_alphas_source() -> None:
    assert_rows(Row("gamma's broad role", "events:PutEvents", "the request bus",
                    source("wildcert.team.alpha")))


def test_an_untagged_role_cannot_send_a_team_source() -> None:
    assert_rows(Row("an untagged administrator", "events:PutEvents", "the request bus",
                    source("wildcert.team.gamma")))


def test_only_the_issuer_sends_source_wildcert() -> None:
    assert_rows(
        Row("an untagged administrator", "events:PutEvents", "the request bus",
            source("wildcert")),
        Row("gamma's broad role", "events:PutEvents", "the request bus", source("wildcert")),
        Row("alpha's administrator", "events:PutEvents", "the request bus", source("wildcert")),
        Row("the issuer", "events:PutEvents", "the request bus", source("wildcert"),
            allowed=True),
    )


def test_no_role_allowed_assume_role_on_star_reads_through_the_reader() -> None:
    assert_rows(Row("another role of the reader's account", "sts:AssumeRole",
                    "the reader role"))


def test_no_team_invokes_the_issuer_or_feeds_its_queue() -> None:
    assert_rows(
        Row("alpha's administrator", "lambda:InvokeFunction", "the issuer"),
        Row("alpha's administrator", "sqs:SendMessage", "the renewal queue"),
        Row("gamma's broad role", "lambda:InvokeFunction", "the issuer"),
        Row("gamma's broad role", "lambda:CreateEventSourceMapping", "*",
            (("lambda:FunctionArn", "the issuer"),)),
        Row("gamma's broad role", "sqs:SendMessage", "the renewal queue"),
    )


def test_only_the_operators_set_the_team_tag() -> None:
    assert_rows(
        Row("alpha's administrator", "iam:TagRole", "a role of alpha's account",
            (("aws:TagKeys", ["wildcert-team"]),)),
        Row("alpha's administrator", "iam:CreateRole", "a role of alpha's account",
            (("aws:TagKeys", ["wildcert-team"]),)),
        Row("alpha's administrator", "iam:TagUser", "arn:aws:iam::444455556666:user/u",
            (("aws:TagKeys", ["wildcert-team"]),)),
        Row("alpha's administrator", "iam:UntagRole", "a role of alpha's account",
            (("aws:TagKeys", ["wildcert-team"]),)),
        Row("an untagged administrator", "sts:TagSession", "gamma's team role",
            (("aws:TagKeys", ["wildcert-team"]),)),
        Row("alpha's administrator", "iam:TagRole", "a role of alpha's account",
            (("aws:TagKeys", ["cost-centre"]),), allowed=True),
        Row("an operator", "iam:TagRole", "a role of the stack's account",
            (("aws:TagKeys", ["wildcert-team"]),), allowed=True),
    )
