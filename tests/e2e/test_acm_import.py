"""ACM import on the local stack (moto's ACM): a request's `acm` regions get the certificate,
a renewal re-imports to the same ARNs, the ARNs are in cert.json, the outcome and Slack; a key
type CloudFront cannot use is refused before ordering."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from cryptography import x509

from local_stack import Stack
from tests.e2e.faults_support import orders_for
from tests.e2e.support import ISSUER, invoke, slack_texts, stored_set, unique

pytestmark = pytest.mark.usefixtures("fresh_faults")


def acm_serial(stack: Stack, arn: str) -> str:
    region = arn.split(":")[3]
    client = boto3.client("acm", region_name=region, endpoint_url=stack.env["WILDCERT_MOTO_URL"])
    pem = client.get_certificate(CertificateArn=arn)["Certificate"]
    return format(x509.load_pem_x509_certificate(pem.encode()).serial_number, "x")


def test_imported_where_asked_and_reimported_to_the_same_arns(stack: Stack) -> None:
    label = unique("acm")
    request = {"domains": [f"*.{label}.example.com", f"{label}.example.com"], "name": label,
               "key_type": "ec256", "acm": ["eu-west-1", "cloudfront"]}
    first = invoke(ISSUER, request)
    assert first["status"] == "issued", first
    meta = stored_set(label)[0]
    arns = meta["acm"]
    assert set(arns) == {"eu-west-1", "us-east-1"} and first["acm"] == arns
    for region, arn in arns.items():
        assert arn.startswith(f"arn:aws:acm:{region}:123456789012:certificate/")
        assert int(acm_serial(stack, arn), 16) == int(meta["serial"], 16)
    posted = slack_texts()[-1]
    assert all(arn in posted for arn in arns.values())
    tags = boto3.client("acm", region_name="eu-west-1",
                        endpoint_url=stack.env["WILDCERT_MOTO_URL"]).list_tags_for_certificate(
        CertificateArn=arns["eu-west-1"])["Tags"]
    assert {"Key": "wildcert-name", "Value": label} in tags

    # A renewal as the sweep and the watch queue it: no `acm`, the serial it replaces.
    again = invoke(ISSUER, {"domains": request["domains"], "name": label, "key_type": "ec256",
                            "force": True, "renews": meta["serial"]})
    assert again["status"] == "renewed", again
    renewed = stored_set(label)[0]
    assert renewed["serial"] != meta["serial"] and renewed["acm"] == arns  # same ARNs
    for arn in arns.values():
        assert int(acm_serial(stack, arn), 16) == int(renewed["serial"], 16)


def test_a_key_cloudfront_cannot_use_is_refused_before_ordering(stack: Stack) -> None:
    label = unique("acmx")
    domains = [f"{label}.example.com"]
    result = invoke(ISSUER, {"domains": domains, "name": label, "key_type": "ec384",
                             "acm": ["cloudfront"]})
    assert result["status"] == "rejected", result
    assert ("acm target cloudfront takes only rsa2048 or ec256 keys (CloudFront accepts RSA "
            "2048 and EC P-256 only); the request's key_type is ec384") in result["message"]
    assert orders_for(stack, domains) == []


TEAM = """
[teams.alpha]
sources = ["wildcert.team.alpha"]
accounts = ["123456789012"]
suffixes = ["alpha.example.com"]
key_types = ["ec256", "ec384"]
acm = ["eu-west-1", "cloudfront"]
"""


def test_a_teams_acm_targets_serve_its_requests_that_name_none(
        stack: Stack, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt
    import uuid

    from wildcert import container

    teams = tmp_path / "teams.toml"
    teams.write_text(TEAM)
    monkeypatch.setenv("TEAMS_FILE", str(teams))
    container.start_afresh()

    def event(detail: dict[str, Any]) -> dict[str, Any]:
        return {"version": "0", "id": str(uuid.uuid4()),
                "detail-type": "wildcert.certificate.requested",
                "source": "wildcert.team.alpha", "account": "123456789012",
                "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": "eu-west-1", "resources": [], "detail": detail}

    label = unique("acmt")
    result = invoke(ISSUER, event({"domains": [f"{label}.alpha.example.com"],
                                   "name": f"alpha.{label}"}))
    assert result["status"] == "issued", result
    assert set(result["acm"]) == {"eu-west-1", "us-east-1"}
    refused = invoke(ISSUER, event({"domains": [f"{label}x.alpha.example.com"],
                                    "name": f"alpha.{label}x", "key_type": "ec384"}))
    assert refused["status"] == "rejected", refused
    assert "team alpha's acm target cloudfront takes only rsa2048 or ec256 keys" in (
        refused["message"])
    assert orders_for(stack, [f"{label}x.alpha.example.com"]) == []
