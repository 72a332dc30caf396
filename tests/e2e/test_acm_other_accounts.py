"""ACM imports into a team's own account, end to end on the local stack (moto's ACM and STS).

Team alpha names a role in its account 222222222222 (deploy/acm-import-role.yaml makes it) and
an external id in teams.toml's `acm`; the issuer assumes it, as a session naming the team and
the request, to import and re-import alpha's certificates there (moto keeps accounts apart: a
role assumed there acts in that account). Team beta names regions only: its certificates go to
the issuer's own account, never through alpha's role.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from pathlib import Path

import pytest
from cryptography import x509

from local_stack import Stack
from local_stack.route53_source import account_client
from tests.e2e.support import (
    ISSUER,
    invoke,
    queued,
    slack_texts,
    stored_set,
    unique,
)
from tests.e2e.test_zone_docs import ISSUER_ROLE, account_credentials, blocks, run
from tests.e2e.test_zones_other_accounts import team_event
from wildcert import container

pytestmark = pytest.mark.usefixtures("fresh_faults")

OWN_ACCOUNT, ALPHA_ACCOUNT = "123456789012", "222222222222"

TEAMS = f"""
[teams.alpha]
sources = ["wildcert.team.alpha"]
accounts = ["{ALPHA_ACCOUNT}"]
suffixes = ["alpha.example.com"]

[teams.alpha.acm]
regions = ["eu-west-1", "cloudfront"]
role_arn = "arn:aws:iam::{ALPHA_ACCOUNT}:role/wildcert-acm-import-alpha"
external_id = "alpha-acm-51be"

[teams.beta]
sources = ["wildcert.team.beta"]
accounts = ["{OWN_ACCOUNT}"]
suffixes = ["beta.example.com"]
acm = ["eu-west-1"]
"""


@pytest.fixture(autouse=True)
def teams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "teams.toml"
    path.write_text(TEAMS)
    monkeypatch.setenv("TEAMS_FILE", str(path))
    container.start_afresh()


def in_account(stack: Stack, account: str, arn: str) -> tuple[int, list[dict[str, str]]]:
    """The serial of the certificate at `arn` and its tags, read in `account` itself."""
    acm = account_client("acm", stack.env["WILDCERT_MOTO_URL"], account,
                         region=arn.split(":")[3])
    pem = acm.get_certificate(CertificateArn=arn)["Certificate"]
    tags = acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
    return x509.load_pem_x509_certificate(pem.encode()).serial_number, tags


def test_a_teams_certificate_is_imported_and_reimported_in_its_own_account_through_its_role(
        stack: Stack, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    label = unique("acmx")
    domains = [f"{label}.alpha.example.com"]
    event = team_event("alpha", ALPHA_ACCOUNT, {"domains": domains, "name": f"alpha.{label}"})
    with caplog.at_level(logging.INFO):
        first = invoke(ISSUER, event)
    assert first["status"] == "issued", first
    meta = stored_set(f"alpha.{label}")[0]
    arns = meta["acm"]
    assert set(arns) == {"eu-west-1", "us-east-1"} and first["acm"] == arns
    for region, arn in arns.items():
        assert arn.startswith(f"arn:aws:acm:{region}:{ALPHA_ACCOUNT}:certificate/"), arn
    assert f"as session wildcert-alpha.{event['id']} for acm" in caplog.text
    assert all(arn in slack_texts()[-1] for arn in arns.values())
    for arn in arns.values():
        serial, tags = in_account(stack, ALPHA_ACCOUNT, arn)
        assert serial == int(meta["serial"], 16)
        assert {"Key": "wildcert-name", "Value": f"alpha.{label}"} in tags
    assert stack.aws_faults.count("sts", "AssumeRole") == 2  # one client per region

    # A renewal as the sweep and the watch queue it: no `acm`, no team asking; the same role
    # (its session naming the certificate's team), the same ARNs.
    renewal = queued(monkeypatch.setenv, {"domains": domains, "name": f"alpha.{label}",
                                          "force": True, "renews": meta["serial"]})
    with caplog.at_level(logging.INFO):
        (again,) = invoke(ISSUER, renewal)["results"]
    assert again["status"] == "renewed", again
    message_id = renewal["Records"][0]["messageId"]
    assert f"as session wildcert-alpha.{message_id} for acm" in caplog.text
    renewed = stored_set(f"alpha.{label}")[0]
    assert renewed["serial"] != meta["serial"] and renewed["acm"] == arns
    for arn in arns.values():
        assert in_account(stack, ALPHA_ACCOUNT, arn)[0] == int(renewed["serial"], 16)


def test_another_teams_certificate_never_goes_through_that_role(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    label = unique("acmy")
    event = team_event("beta", OWN_ACCOUNT, {"domains": [f"{label}.beta.example.com"],
                                             "name": f"beta.{label}"})
    with caplog.at_level(logging.INFO):
        result = invoke(ISSUER, event)
    assert result["status"] == "issued", result
    (arn,) = result["acm"].values()
    assert arn.startswith(f"arn:aws:acm:eu-west-1:{OWN_ACCOUNT}:certificate/"), arn
    assert in_account(stack, OWN_ACCOUNT, arn)[0] == int(stored_set(f"beta.{label}")[0][
        "serial"], 16)
    assert stack.aws_faults.count("sts", "AssumeRole") == 0
    assert "wildcert-acm-import" not in caplog.text


def test_the_acm_role_set_up_as_the_docs_show(
        stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/ZONES.md's role deployment run in the team's account (moto's CloudFormation), its
    teams.toml entry filled in with the role it printed, then a certificate imported there."""
    owner = account_credentials(stack, ALPHA_ACCOUNT)
    external_id = uuid.uuid4().hex
    deploy = next(b for b in blocks("sh") if "acm-import-role.yaml" in b)
    role = run(deploy, stack, {**owner, "ISSUER_ROLE_ARN": ISSUER_ROLE,
                               "EXTERNAL_ID": external_id}).split()[-1]
    assert role == f"arn:aws:iam::{ALPHA_ACCOUNT}:role/wildcert-acm-import-alpha"
    entry = next(b for b in blocks("toml") if "[teams.alpha.acm]" in b)
    for key, value in (("role_arn", role), ("external_id", external_id)):
        entry = re.sub(rf'^{key} = ".*"$', f'{key} = "{value}"', entry, flags=re.MULTILINE)
    teams = tmp_path / "teams.toml"
    teams.write_text(TEAMS[:TEAMS.index("[teams.alpha.acm]")] + entry)
    monkeypatch.setenv("TEAMS_FILE", str(teams))
    container.start_afresh()
    label = unique("acmd")
    result = invoke(ISSUER, team_event("alpha", ALPHA_ACCOUNT, {
        "domains": [f"{label}.alpha.example.com"], "name": f"alpha.{label}"}))
    assert result["status"] == "issued", result
    assert {arn.split(":")[4] for arn in result["acm"].values()} == {ALPHA_ACCOUNT}


def test_a_refused_acm_role_is_reported_and_the_certificate_stored(stack: Stack) -> None:
    """STS refusing the team's role (its trust or the stack's AcmImportAccountIds wrong): an
    import problem naming the role and what to check; the certificate is stored all the same."""
    stack.aws_faults.add(service="sts", operation="AssumeRole", error="AccessDenied",
                         message="not authorized to perform sts:AssumeRole")
    label = unique("acmz")
    result = invoke(ISSUER, team_event("alpha", ALPHA_ACCOUNT, {
        "domains": [f"{label}.alpha.example.com"], "name": f"alpha.{label}"}))
    assert result["status"] == "issued", result
    assert "acm" not in result and "acm" not in stored_set(f"alpha.{label}")[0]
    role = f"arn:aws:iam::{ALPHA_ACCOUNT}:role/wildcert-acm-import-alpha"
    (problem, _) = result["acm_problems"]  # eu-west-1 and us-east-1, each refused
    assert (f"ACM import into a new certificate in eu-west-1 failed: could not assume {role}"
            in problem)
    assert "AccessDenied" in problem and "deploy/acm-import-role.yaml" in problem
    assert "AcmImportAccountIds" in problem
    assert f"could not assume {role}" in slack_texts()[-1]
    assert "alpha-acm-51be" not in json.dumps(result) + "".join(slack_texts())
    assert stack.aws_faults.count("acm", "ImportCertificate") == 0
