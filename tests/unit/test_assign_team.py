"""The operators' one-off command that gives a certificate to a team, against moto's S3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from wildcert.tools import assign_team

BUCKET = "certs-assign"
KEY = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
TEAMS = """
[teams.alpha]
sources = ["wildcert.team.alpha"]
accounts = ["123456789012"]
suffixes = ["alpha.example.com"]
"""


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    teams = tmp_path / "teams.toml"
    teams.write_text(TEAMS)
    monkeypatch.setenv("TEAMS_FILE", str(teams))
    monkeypatch.setenv("CERT_BUCKET", BUCKET)
    monkeypatch.setenv("KMS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        monkeypatch.setattr(assign_team.aws, "client", lambda service: client)
        yield client


def put(s3: Any, name: str, **extra: object) -> None:
    body = {"name": name, "domains": ["web.alpha.example.com"], "serial": "ab",
            "key_type": "ec256", **extra}
    s3.put_object(Bucket=BUCKET, Key=f"{name}/cert.json", Body=json.dumps(body).encode())


def team_of(s3: Any, name: str) -> str | None:
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{name}/cert.json")["Body"].read())
    return body.get("team")


def test_a_name_from_before_teams_is_given_to_a_team_and_back(
        s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    put(s3, "alpha.web")
    assert assign_team.main(["alpha.web", "alpha"]) == 0
    assert team_of(s3, "alpha.web") == "alpha"
    said = capsys.readouterr().out
    assert "alpha.web now belongs to team alpha (was the operators)" in said
    assert assign_team.main(["alpha.web", "alpha"]) == 0  # again: nothing to do
    assert assign_team.main(["alpha.web", "--operators"]) == 1  # from a team: --force
    assert assign_team.main(["alpha.web", "--operators", "--force"]) == 1  # and it is live
    assert "has not expired" in capsys.readouterr().err
    assert assign_team.main(["alpha.web", "--operators", "--force", "--move-live"]) == 0
    assert team_of(s3, "alpha.web") is None


def test_the_teams_policy_holds_for_what_it_is_given(
        s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Outside its namespace only when asked to; never hosts outside its suffixes."""
    put(s3, "web")
    assert assign_team.main(["web", "alpha"]) == 1
    assert "outside team alpha's namespace" in capsys.readouterr().err
    assert assign_team.main(["web", "alpha", "--outside-namespace"]) == 0
    assert "alpha's readers may read alpha.* only" in capsys.readouterr().out
    put(s3, "alpha.other", domains=["web.beta.example.net"])
    assert assign_team.main(["alpha.other", "alpha"]) == 1
    said = capsys.readouterr().err
    assert "does not fit team alpha's policy" in said and "suffix-not-allowed" in said
    assert team_of(s3, "alpha.other") is None


def test_what_the_command_refuses(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    put(s3, "alpha.web", team="beta", not_after="2020-01-01T00:00:00Z")
    assert assign_team.main(["alpha.web", "gamma"]) == 1
    assert "there is no team 'gamma'" in capsys.readouterr().err
    assert assign_team.main(["alpha.web", "alpha"]) == 1
    assert "belongs to team beta; --force" in capsys.readouterr().err
    assert team_of(s3, "alpha.web") == "beta"
    assert assign_team.main(["alpha.web", "alpha", "--force"]) == 0  # expired: not live
    assert team_of(s3, "alpha.web") == "alpha"
    assert assign_team.main(["alpha.missing", "alpha"]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        assign_team.main(["web"])  # neither a team nor --operators
