"""docs/DEPLOY.md's security model, evaluated: every row a request the simulator decides."""

from __future__ import annotations

import re
from functools import cache

from scripts.team_resources import main as team_resources_main

from .iam_matrix import PARAMS, markdown, rows
from .iam_sim import Decision, Principal, evaluate
from .iam_world import ALPHA_ACCOUNT, BETA_ACCOUNT, Row, World, source
from .infra_template import REPO, load_sam

DEPLOY = REPO / "docs" / "DEPLOY.md"
BEGIN = "<!-- BEGIN evaluated requests (tests/infra/iam_matrix.py) -->\n"
END = "<!-- END evaluated requests -->"


@cache
def world(**params: str) -> World:
    return World({**PARAMS, **params})


@cache
def matrix_decisions() -> list[Decision]:
    w = world()
    return evaluate([w.ask(row) for row in rows()])


def wrong(decisions: list[Decision], expected: list[Row]) -> list[str]:
    return [f"{d.ask.describe()}: {d.result} (denied by {list(d.denied_by)}, allowed by "
            f"{list(d.allowed_by)}), expected {'allowed' if row.allowed else 'denied'}"
            for row, d in zip(expected, decisions, strict=True) if d.allowed != row.allowed]


def test_every_row_of_the_security_model_is_what_aws_decides() -> None:
    assert wrong(matrix_decisions(), rows()) == []


def test_deploy_md_shows_the_evaluated_matrix() -> None:
    text = DEPLOY.read_text()
    assert BEGIN in text and END in text, f"docs/DEPLOY.md lacks the {BEGIN.strip()} section"
    shown = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    assert shown == markdown(matrix_decisions()), (
        "docs/DEPLOY.md's evaluated requests differ from the matrix; paste:\n"
        + markdown(matrix_decisions()))


def decide(w: World, *asked: Row) -> list[str]:
    return wrong(evaluate([w.ask(row) for row in asked]), list(asked))


def test_an_account_left_out_of_team_account_ids_gets_nothing() -> None:
    """teams.toml names beta's account, the operators' TeamAccountIds does not: both keys
    are needed."""
    w = world(TeamAccountIds=ALPHA_ACCOUNT)
    assert decide(
        w,
        Row("beta's administrator", "sts:AssumeRole", "beta's team role"),
        Row("beta's administrator", "events:PutEvents", "the request bus",
            source("wildcert.team.beta")),
        Row("alpha's administrator", "sts:AssumeRole", "alpha's team role", allowed=True),
    ) == []


def test_without_team_account_ids_no_other_account_gets_anything() -> None:
    w = world(TeamAccountIds="")
    assert decide(
        w,
        Row("alpha's administrator", "sts:AssumeRole", "alpha's team role"),
        Row("alpha's administrator", "events:PutEvents", "the request bus",
            source("wildcert.team.alpha")),
        Row("gamma's role", "events:PutEvents", "the request bus",
            source("wildcert.team.gamma"), allowed=True),
    ) == []


def test_a_reader_in_another_account_is_that_role_only() -> None:
    w = world(ReaderPrincipalArn=f"arn:aws:iam::{BETA_ACCOUNT}:role/web-hosts")
    assert decide(
        w,
        Row("the reader's principal", "sts:AssumeRole", "the reader role", allowed=True),
        Row("another role of the reader's account", "sts:AssumeRole", "the reader role"),
        Row("beta's administrator", "sts:AssumeRole", "the reader role"),
    ) == []


def test_reader_principal_cannot_be_an_account_root() -> None:
    pattern = re.compile(load_sam()["Parameters"]["ReaderPrincipalArn"]["AllowedPattern"])
    assert pattern.fullmatch(f"arn:aws:iam::{BETA_ACCOUNT}:role/web-hosts")
    assert pattern.fullmatch(f"arn:aws:iam::{BETA_ACCOUNT}:user/ci")
    for refused in (f"arn:aws:iam::{BETA_ACCOUNT}:root", f"arn:aws:iam::{BETA_ACCOUNT}:role/*",
                    f"arn:aws:iam::{BETA_ACCOUNT}:role/web-*"):
        assert not pattern.fullmatch(refused), refused


def test_template_is_in_step_with_teams_toml() -> None:
    assert team_resources_main(["--check"]) == 0


def test_every_role_of_the_stack_is_assumed_only_by_whom_it_is_for() -> None:
    """sts:AssumeRole on every role the stack holds, by everyone the matrix knows (each with
    sts:AssumeRole on * of its own where it has a policy)."""
    w = world()
    w.principals["Lambda"] = Principal("Lambda (the service)", "lambda.amazonaws.com")
    roles = sorted(n for n, r in w.stack.resources.items() if r["Type"] == "AWS::IAM::Role")
    # A team's account is its own: anyone there (whatever its tags) may be its team.
    homes = {ALPHA_ACCOUNT: "TeamAlphaRole", BETA_ACCOUNT: "TeamBetaRole"}
    for_whom = {(who, homes[p.account]) for who, p in w.principals.items()
                if p.account in homes and not p.service}
    for_whom.add(("the reader's principal", "ReaderRole"))
    for_whom |= {("Lambda", role) for role in ("IssuerRole", "RenewalSweepRole", "WatchRole")}
    asked = [Row(who, "sts:AssumeRole", w.stack.arn(role),
                 allowed=(who, role) in for_whom)
             for who in sorted(w.principals) for role in roles]
    assert {role for _, role in for_whom} <= set(roles)
    assert decide(w, *asked) == []
