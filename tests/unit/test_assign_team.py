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


def put(s3: Any, name: str, **extra: str) -> None:
    body = {"name": name, "domains": ["web.alpha.example.com"], "serial": "ab", **extra}
    s3.put_object(Bucket=BUCKET, Key=f"{name}/cert.json", Body=json.dumps(body).encode())


def team_of(s3: Any, name: str) -> str | None:
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{name}/cert.json")["Body"].read())
    return body.get("team")


def test_a_name_from_before_teams_is_given_to_a_team_and_back(
        s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    put(s3, "web")
    assert assign_team.main(["web", "alpha"]) == 0
    assert team_of(s3, "web") == "alpha"
    said = capsys.readouterr().out
    assert "web now belongs to team alpha (was the operators)" in said
    assert "alpha's readers may read alpha.* only" in said
    assert assign_team.main(["web", "alpha"]) == 0  # again: nothing to do
    assert assign_team.main(["web", "--operators"]) == 1  # taking it from a team: --force
    assert assign_team.main(["web", "--operators", "--force"]) == 0
    assert team_of(s3, "web") is None


def test_what_the_command_refuses(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    put(s3, "beta.web", team="beta")
    assert assign_team.main(["beta.web", "gamma"]) == 1
    assert "there is no team 'gamma'" in capsys.readouterr().err
    assert assign_team.main(["beta.web", "alpha"]) == 1
    assert "belongs to team beta; --force" in capsys.readouterr().err
    assert team_of(s3, "beta.web") == "beta"
    assert assign_team.main(["beta.web", "alpha", "--force"]) == 0
    assert team_of(s3, "beta.web") == "alpha"
    assert assign_team.main(["missing", "alpha"]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        assign_team.main(["web"])  # neither a team nor --operators
