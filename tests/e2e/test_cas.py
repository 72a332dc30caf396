"""Several CAs in order of preference on the local stack: the first Pebble behind the ACME
front, the second Pebble (External Account Binding required, its own root) behind its own.

The first CA is taken down through its front (every request answers 503 `serverInternal`),
which is what failing over is for; a CA that refuses (validation, CAA) keeps the request.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509

from local_stack import Stack
from local_stack.preapprove import preapprove
from tests.e2e.support import (
    ISSUER,
    REPO,
    WATCH,
    challenge_values,
    invoke,
    slack_texts,
    stored_set,
    unique,
    wildcard_request,
)
from wildcert.jobs.issue.accounts import external_account
from wildcert.jobs.issue.outcome import StageFailure
from wildcert.logic import certificates as certs
from wildcert.logic.cas import parse_cas

pytestmark = pytest.mark.usefixtures("fresh_faults")


@pytest.fixture
def two_cas(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """ACME_CAS naming both of the stack's CAs, the first preferred."""
    monkeypatch.setenv("ACME_CAS", stack.env["WILDCERT_ACME_CAS"])
    stack.second_acme_front.reset(recorded=True, stats=True)
    try:
        yield json.loads(stack.env["WILDCERT_ACME_CAS"])
    finally:
        stack.second_acme_front.reset()


def _first_ca_down(stack: Stack) -> None:
    stack.acme_front.inject("*", "serverError", status=503,
                            detail="the first CA is down (injected)")


def _route53_writes(stack: Stack) -> int:
    return stack.aws_faults.count("route53", "ChangeResourceRecordSets")


def _issued_by_second_root(stack: Stack, name: str) -> x509.Certificate:
    """The stored chain ends at the second Pebble's root, not the first's."""
    _, files = stored_set(name)
    chain = [x509.load_pem_x509_certificate(p) for p in certs.split_pem_chain(files["chain.pem"])]
    second = x509.load_pem_x509_certificate(stack.pebble_root_pem(second=True).encode())
    first = x509.load_pem_x509_certificate(stack.pebble_root_pem().encode())
    assert chain[-1].issuer == second.subject != first.subject
    chain[-1].verify_directly_issued_by(second)
    return x509.load_pem_x509_certificate(files["cert.pem"])


def test_first_ca_down_the_second_issues_and_the_next_renewal_returns(
        stack: Stack, two_cas: list[dict[str, Any]]) -> None:
    _first_ca_down(stack)
    label, request = wildcard_request("fo")
    before, writes = len(slack_texts()), _route53_writes(stack)
    result = invoke(ISSUER, request)
    assert result["status"] == "issued", result
    assert _route53_writes(stack) > writes  # the second CA validated through DNS
    assert (result["acme_ca"], result["fallback"]) == ("second", True)
    meta, _ = stored_set(label)
    assert meta["acme_ca"] == "second" and meta["acme_directory"] == two_cas[1]["directory"]
    assert meta["ari_id"]  # what a renewal at the second CA would name in `replaces`
    _issued_by_second_root(stack, label)
    assert "CA: second" in slack_texts()[before]
    assert stack.second_acme_front.stats()["by_request"].get("POST newAccount") == 1
    assert challenge_values() == {}
    _the_watch_reports_it_and_asks_ari_at_its_ca(stack, label)

    stack.acme_front.reset()  # the first CA is back
    renewed = invoke(ISSUER, {**request, "force": True})
    assert renewed["status"] == "renewed", renewed
    assert (renewed["acme_ca"], renewed["fallback"]) == ("pebble", False)
    assert stored_set(label)[0]["acme_ca"] == "pebble"
    # `replaces` names a certificate of the CA it is sent to: not the second CA's.
    # (Other tests' undecodable newOrders, recorded with no payload, are nobody's.)
    orders = [o for o in stack.acme_front.new_orders()
              if sorted(i["value"] for i in (o["payload"] or {}).get("identifiers", []))
              == sorted(request["domains"])]
    assert orders and not any("replaces" in o["payload"] for o in orders)
    assert [o["status"] for o in orders].count(201) == 1
    assert renewed["replaces"] is None


def _the_watch_reports_it_and_asks_ari_at_its_ca(stack: Stack, label: str) -> None:
    asked = stack.second_acme_front.stats()["by_request"].get("GET renewalInfo", 0)
    report = invoke(WATCH, {"dry_run": True, "refresh_ari": True})
    mine = [f for f in report["findings"] if f["name"] == label]
    assert [f["kind"] for f in mine] == ["fallback"], mine
    assert "fallback CA second" in mine[0]["text"]
    assert stack.second_acme_front.stats()["by_request"]["GET renewalInfo"] > asked
    assert not [p for p in report["ari"]["problems"] if p["name"] == label]


def test_a_rate_limit_longer_than_the_request_has_fails_over(
        stack: Stack, two_cas: list[dict[str, Any]]) -> None:
    """Only this set of names is limited (the detail says so), so other tests' orders at the
    first CA do not wait for it."""
    stack.acme_front.inject(
        "newOrder", "rateLimited", count=1, retry_after=86400,
        detail="too many certificates (5) already issued for this exact set of identifiers")
    _, request = wildcard_request("rl")
    result = invoke(ISSUER, request)
    assert (result["status"], result["acme_ca"], result["fallback"]) == ("issued", "second",
                                                                         True), result


def test_validation_failure_at_the_first_ca_does_not_fail_over(
        stack: Stack, two_cas: list[dict[str, Any]]) -> None:
    stack.acme_front.inject("challenge", "invalid")
    _, request = wildcard_request("vf")
    with pytest.raises(StageFailure) as failed:
        invoke(ISSUER, request)
    assert failed.value.stage == "acme" and "could not validate" in failed.value.message
    assert stack.second_acme_front.stats()["total"] == 0


def _caa(stack: Stack, action: str, name: str, value: str) -> None:
    """A CAA record at one test's own name (straight to moto: not a write of wildcert's)."""
    stack.client("route53").change_resource_record_sets(
        HostedZoneId=stack.zone_id("example.com"),
        ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": {
            "Name": name, "Type": "CAA", "TTL": 60, "ResourceRecords": [{"Value": value}]}}]})


def test_caa_is_checked_for_the_ca_about_to_be_used(
        stack: Stack, two_cas: list[dict[str, Any]]) -> None:
    """CAA allows the first CA only: with it down, the second is refused before any order."""
    label, request = wildcard_request("caa")
    record = (f"{label}.example.com.", '0 issue "letsencrypt.org"')
    _caa(stack, "CREATE", *record)
    _first_ca_down(stack)
    try:
        result = invoke(ISSUER, request)
    finally:
        _caa(stack, "DELETE", *record)
    assert result["status"] == "rejected" and result["stage"] == "precheck", result
    assert "second-ca.test" in result["message"]
    assert stack.second_acme_front.stats()["by_request"].get("POST newOrder", 0) == 0


def test_preapproved_names_need_no_dns_at_the_second_ca(
        stack: Stack, two_cas: list[dict[str, Any]]) -> None:
    _, request = wildcard_request("pa")
    second = parse_cas(stack.env["WILDCERT_ACME_CAS"])[0][1]
    preapprove(os.environ, second, request["domains"])
    _first_ca_down(stack)
    stack.second_acme_front.reset(stats=True)
    writes = _route53_writes(stack)
    result = invoke(ISSUER, request)
    assert result["status"] == "issued" and result["acme_ca"] == "second", result
    assert _route53_writes(stack) == writes
    assert stack.second_acme_front.stats()["by_request"].get("POST challenge", 0) == 0
    assert stack.second_acme_front.stats()["by_request"]["POST finalize"] == 1


def test_missing_or_wrong_eab_is_a_clear_error_naming_the_ca(
        stack: Stack, two_cas: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A CA of its own (the second Pebble under another directory URL, so another account)
    whose EAB secret is first absent, then holds a wrong HMAC key."""
    url = f"{stack.env['WILDCERT_SECOND_ACME_FRONT_URL']}/dir?account=eab-test"
    secrets = stack.client("secretsmanager")
    name = "wildcert/acme-eab/eab-test"
    cas = [{"name": "eabtest", "directory": url, "caa_identities": ["second-ca.test"],
            "eab_secret": name}]
    monkeypatch.setenv("ACME_CAS", json.dumps([{**cas[0], "eab_secret": None}]))
    _, request = wildcard_request("eab")
    with pytest.raises(StageFailure) as unconfigured:
        invoke(ISSUER, request)
    assert "CA eabtest" in unconfigured.value.message
    assert "requires External Account Binding" in unconfigured.value.message

    monkeypatch.setenv("ACME_CAS", json.dumps(cas))
    with pytest.raises(StageFailure) as missing:
        invoke(ISSUER, request)
    assert "CA eabtest" in missing.value.message and name in missing.value.message

    right = json.loads(secrets.get_secret_value(SecretId="wildcert/acme-eab/second")[
        "SecretString"])
    wrong = {"kid": right["kid"], "hmac_key": "A" * 64}
    secrets.create_secret(Name=name, SecretString=json.dumps(wrong))
    try:
        with pytest.raises(StageFailure) as refused:
            invoke(ISSUER, request)
    finally:
        secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    message = refused.value.message
    assert "CA eabtest refused wildcert's account" in message and name in message
    assert wrong["hmac_key"] not in message and right["hmac_key"] not in message


def test_the_documented_setting_and_secret_work(stack: Stack) -> None:
    """docs/CAS.md: its ACME_CAS parses, and its create-secret command, run against the stack,
    stores what the issuer reads as the CA's EAB."""
    text = (REPO / "docs" / "CAS.md").read_text()
    setting = re.search(r"```json\n(.*?)\n```", text, re.DOTALL)
    assert setting is not None
    cas, problems = parse_cas(setting.group(1))
    assert problems == [] and [c.name for c in cas] == ["letsencrypt", "zerossl"]
    # The leaked-key command sends the sample that the entry-point test runs.
    assert "--payload fileb://events/issue-revoke-key-compromise.json" in text
    command = re.search(r"```sh\n(.*?)\n\s*```", text, re.DOTALL)
    assert command is not None
    name = f"wildcert/acme-eab/{unique('doc')}"
    shell = textwrap.dedent(command.group(1)).replace("wildcert/acme-eab/zerossl", name)
    run = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KMS_KEY_ARN": os.environ["KMS_KEY_ID"]},
                         check=False)
    assert run.returncode == 0, run.stderr
    try:
        zerossl = dataclasses.replace(cas[1], eab_secret=name)
        found = external_account(zerossl, lambda: stack.client("secretsmanager"))
        assert (found.kid, found.hmac_key) == ("EAB_KID", "EAB_HMAC_KEY")
        described = stack.client("secretsmanager").describe_secret(SecretId=name)
        assert described["KmsKeyId"] == os.environ["KMS_KEY_ID"]
    finally:
        stack.client("secretsmanager").delete_secret(SecretId=name,
                                                     ForceDeleteWithoutRecovery=True)
