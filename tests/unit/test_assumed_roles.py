"""Clients acting as a zone's role in another account: one AssumeRole per container, role and
session, made again before the credentials expire; a refusal says what to check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from wildcert import container
from wildcert.adapters import aws

ROLE = "arn:aws:iam::222222222222:role/wildcert-zone-access"
NOW = 1_800_000_000.0


class FakeSts:
    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse = refuse

    def assume_role(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.refuse:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}},
                              "AssumeRole")
        expires = dt.datetime.fromtimestamp(NOW + 900, dt.UTC)
        return {"Credentials": {"AccessKeyId": "ASIA", "SecretAccessKey": "s",
                                "SessionToken": "t", "Expiration": expires}}


@pytest.fixture
def sts(fresh_container: container.Container) -> Iterator[FakeSts]:
    fake = FakeSts()
    fresh_container.clients["sts"] = fake
    yield fake


def test_one_assume_role_per_session_until_near_expiry(sts: FakeSts) -> None:
    first = aws.assumed_client("route53", ROLE, "ext-1", "wildcert-alpha-r1", now=lambda: NOW)
    again = aws.assumed_client("route53", ROLE, "ext-1", "wildcert-alpha-r1",
                               now=lambda: NOW + 500)
    assert again is first
    assert sts.calls == [{"RoleArn": ROLE, "RoleSessionName": "wildcert-alpha-r1",
                          "ExternalId": "ext-1", "DurationSeconds": 900}]
    aws.assumed_client("route53", ROLE, "ext-1", "wildcert-alpha-r2", now=lambda: NOW)
    assert len(sts.calls) == 2  # another request: a session of its own
    late = aws.assumed_client("route53", ROLE, "ext-1", "wildcert-alpha-r1",
                              now=lambda: NOW + 900 - aws.CREDENTIALS_MARGIN_SECONDS + 1)
    assert late is not first and len(sts.calls) == 3


def test_a_refused_role_says_which_and_what_to_check(
        fresh_container: container.Container) -> None:
    fresh_container.clients["sts"] = FakeSts(refuse=True)
    with pytest.raises(aws.AssumeRoleFailed) as raised:
        aws.assumed_client("route53", ROLE, "secret-ext", "wildcert-alpha-r1")
    message = str(raised.value)
    assert f"could not assume {ROLE} (session wildcert-alpha-r1): AccessDenied" in message
    assert "deploy/zone-access-role.yaml" in message and "secret-ext" not in message
