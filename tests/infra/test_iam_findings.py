"""What the teams' security review found in template.yaml's IAM, as evaluated requests.

Each test evaluates, with the policy simulator, the requests a finding is about on the
template rendered with two teams in accounts of their own (TeamAccountIds) and says what AWS
must decide.
"""

from __future__ import annotations

from functools import cache

import pytest

from .iam_sim import Decision, Stack, evaluate
from .iam_world import TEAM_ACCOUNT_IDS, Row, World, source, via_s3
from .infra_template import resolved_stack


@cache
def world() -> World:
    return World(Stack(resolved_stack({"TeamAccountIds": TEAM_ACCOUNT_IDS})))


def decide(*rows: Row) -> list[Decision]:
    w = world()
    return evaluate([w.ask(row) for row in rows])


def assert_rows(*rows: Row) -> None:
    wrong = [f"{d.ask.describe()}: {d.result} (denied by {d.denied_by}, allowed by "
             f"{d.allowed_by}), expected {'allowed' if row.allowed else 'denied'}"
             for row, d in zip(rows, decide(*rows), strict=True) if d.allowed != row.allowed]
    assert wrong == []


@pytest.mark.xfail(strict=True, reason="the bucket and key trust tags set in team accounts")
def test_a_role_in_beta_account_tagged_alpha_cannot_read_alphas_private_key() -> None:
    w = world()
    privkey = w.obj("alpha.web/privkey.pem")
    assert_rows(
        Row("s3", "beta-own-account-tagged-alpha", "s3:GetObject", privkey),
        Row("kms", "beta-own-account-tagged-alpha", "kms:Decrypt", w.key, via_s3()),
    )


def test_a_team_may_send_its_own_source() -> None:
    w = world()
    assert_rows(Row("own", "alpha-stack-account", "events:PutEvents", w.bus,
                    source("wildcert.team.alpha"), allowed=True))


def test_a_role_tagged_beta_cannot_send_alphas_source() -> None:
    w = world()
    assert_rows(Row("other", "gamma-broad", "events:PutEvents", w.bus,
                    source("wildcert.team.alpha")))


def test_an_untagged_role_cannot_send_a_team_source() -> None:
    w = world()
    assert_rows(Row("untagged", "stack-admin", "events:PutEvents", w.bus,
                    source("wildcert.team.alpha")))


def test_only_the_issuer_sends_source_wildcert() -> None:
    w = world()
    assert_rows(
        Row("admin", "stack-admin", "events:PutEvents", w.bus, source("wildcert")),
        Row("team", "gamma-broad", "events:PutEvents", w.bus, source("wildcert")),
        Row("issuer", "issuer", "events:PutEvents", w.bus, source("wildcert"), allowed=True),
    )
