"""The issuer end to end on the local stack: Pebble, moto, the DNS server and the Slack sink."""

from __future__ import annotations

import concurrent.futures
import logging
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.e2e.faults_support import journal
from tests.e2e.support import (
    ISSUER,
    assert_valid_stored,
    challenge_values,
    client,
    invoke,
    record_count,
    s3_keys,
    sample_event,
    slack_payloads,
    slack_texts,
    stored_set,
    unique,
)
from wildcert.adapters import acme as acme_client
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.adapters.bucket.objects import Bucket
from wildcert.jobs.issue.outcome import StageFailure


def test_wildcard_and_apex(stack) -> None:
    label = unique("w")
    domains = [f"*.{label}.example.com", f"{label}.example.com"]
    before = len(slack_payloads())
    result = invoke(ISSUER, {"domains": domains, "name": label})
    assert result["status"] == "issued", result
    assert result["location"] == f"s3://{os.environ['CERT_BUCKET']}/{label}/"
    meta = assert_valid_stored(label, domains)
    assert result["serial"] == meta["serial"] and result["not_after"] == meta["not_after"]
    assert challenge_values() == {}
    posted = slack_texts()[before:]
    assert len(posted) == 1
    assert label in posted[0] and meta["serial"] in posted[0] and "issued" in posted[0]
    assert "PRIVATE KEY" not in posted[0]


def test_eventbridge_event_across_two_zones_and_a_nested_zone() -> None:
    label = unique("x")
    # Team alpha's (local_stack/teams.toml), which sends the sample event.
    domains = [f"*.{label}.alpha.team.example.com", f"{label}.alpha.example.net",
               f"*.{label}.alpha.example.com"]
    event = sample_event("issue-eventbridge.json")
    event["detail"] = {"domains": domains, "name": f"alpha.{label}"}
    result = invoke(ISSUER, event)
    assert result["status"] == "issued", result
    assert_valid_stored(f"alpha.{label}", domains)
    assert challenge_values() == {}


# What each key_type must put in privkey.pem and in the certificate: (algorithm, size).
KEYS = {"ec256": ("secp256r1", 256), "ec384": ("secp384r1", 384), "rsa2048": ("rsa", 2048),
        "rsa3072": ("rsa", 3072), "rsa4096": ("rsa", 4096)}


def _described(key: object) -> tuple[str, int]:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return key.curve.name, key.curve.key_size
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa", key.key_size
    raise AssertionError(f"unexpected key {type(key).__name__}")


def stored_key(name: str) -> tuple[str, int]:
    """The stored private key's (algorithm, size); the certificate's public key must agree."""
    _, files = stored_set(name)
    private = serialization.load_pem_private_key(files["privkey.pem"], password=None)
    public = x509.load_pem_x509_certificate(files["cert.pem"]).public_key()
    assert _described(public) == _described(private)
    return _described(private)


@pytest.mark.parametrize("key_type", sorted(KEYS))
def test_each_key_type(key_type: str) -> None:
    label = unique("k")
    request = {"domains": [f"{label}.example.com"], "name": label, "key_type": key_type}
    result = invoke(ISSUER, request)
    assert result["status"] == "issued", result
    assert_valid_stored(label, [f"{label}.example.com"], key_type)
    assert stored_key(label) == KEYS[key_type]


def test_rejected_request_creates_nothing() -> None:
    keys, records, posted = s3_keys(), record_count(), len(slack_payloads())
    result = invoke(ISSUER, sample_event("issue-rejected.json"))
    assert result["status"] == "rejected"
    problems = result["problems"]
    # every problem listed at once: bad wildcards, an IP, a foreign zone, name, key type,
    # force and the unknown field
    assert len(problems) >= 7, problems
    for needle in ("*.*.example.com", "a.*.example.com", "192.0.2.1", "outside.example.org",
                   "name", "key_type", "force", "domain"):
        assert needle in result["message"], needle
    assert s3_keys() == keys
    assert record_count() == records
    assert len(slack_payloads()) == posted + 1
    assert "rejected" in slack_texts()[-1]


def test_skip_when_current_then_force(stack) -> None:
    label = unique("s")
    request = {"domains": [f"*.{label}.example.com"], "name": label}
    first = invoke(ISSUER, request)
    assert first["status"] == "issued"
    again = invoke(ISSUER, request)
    assert again["status"] == "skipped" and again["serial"] == first["serial"]
    forced = invoke(ISSUER, {**request, "force": True})
    assert forced["status"] == "renewed" and forced["serial"] != first["serial"]
    assert_valid_stored(label, request["domains"])
    archives = {k.split("/")[2] for k in s3_keys(f"{label}/archive/")}
    assert archives == {first["serial"], forced["serial"]}


def test_other_domains_or_key_type_is_not_skipped() -> None:
    label = unique("d")
    invoke(ISSUER, {"domains": [f"{label}.example.com"], "name": label})
    domains = [f"{label}.example.com", f"*.{label}.example.com"]
    wider = invoke(ISSUER, {"domains": domains, "name": label})
    assert wider["status"] == "renewed"  # it replaced the stored one
    assert stored_key(label) == KEYS["ec256"]
    rekeyed = invoke(ISSUER, {"domains": domains, "name": label, "key_type": "rsa2048"})
    assert rekeyed["status"] == "renewed"
    assert stored_key(label) == KEYS["rsa2048"]


def test_account_is_created_once_and_reused() -> None:
    store = CertificateStore(
        Bucket(client("s3"), os.environ["CERT_BUCKET"], os.environ["KMS_KEY_ID"]))
    key = store.account_key(os.environ["ACME_DIRECTORY_URL"])
    invoke(ISSUER, {"domains": [f"{unique('a')}.example.com"]})
    first = store.load_account(os.environ["ACME_DIRECTORY_URL"])
    assert first is not None and first.account_url
    versions_before = client("s3").list_object_versions(
        Bucket=os.environ["CERT_BUCKET"], Prefix=key).get("Versions", [])
    invoke(ISSUER, {"domains": [f"{unique('a')}.example.com"]})
    assert store.load_account(os.environ["ACME_DIRECTORY_URL"]) == first
    versions_after = client("s3").list_object_versions(
        Bucket=os.environ["CERT_BUCKET"], Prefix=key).get("Versions", [])
    assert len(versions_after) == len(versions_before)
    assert_encrypted = client("s3").head_object(Bucket=os.environ["CERT_BUCKET"], Key=key)
    assert assert_encrypted["SSEKMSKeyId"] == os.environ["KMS_KEY_ID"]


def test_ca_side_failure_cleans_up_posts_and_raises(monkeypatch) -> None:
    """Pebble refuses the authorization because the TXT value is not the key authorization."""
    real = acme_client.AcmeSession._dns_challenge

    def wrong_value(self, authz, url):
        challenge = real(self, authz, url)
        return acme_client.DnsChallenge(**{**challenge.__dict__, "value": "not-the-right-value"})

    monkeypatch.setattr(acme_client.AcmeSession, "_dns_challenge", wrong_value)
    label = unique("f")
    posted = len(slack_payloads())
    with pytest.raises(StageFailure) as failure:
        invoke(ISSUER, {"domains": [f"*.{label}.example.com", f"{label}.example.com"],
                        "name": label})
    assert failure.value.stage == "acme"
    assert f"{label}.example.com" in str(failure.value)
    assert challenge_values() == {}
    assert not s3_keys(f"{label}/")
    texts = slack_texts()[posted:]
    assert len(texts) == 1 and "acme" in texts[0] and label in texts[0]


def test_two_concurrent_orders_sharing_a_record_name() -> None:
    label = unique("c")
    requests = [
        {"domains": [f"*.{label}.example.com"], "name": f"{label}-wild"},
        {"domains": [f"{label}.example.com"], "name": f"{label}-apex"},
        {"domains": [f"*.{label}.example.com", f"{label}.example.com"], "name": f"{label}-both"},
    ]
    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        results = list(pool.map(lambda request: invoke(ISSUER, request), requests))
    assert [r["status"] for r in results] == ["issued"] * len(requests), results
    for request in requests:
        assert_valid_stored(request["name"], request["domains"])
    assert challenge_values() == {}


def test_a_human_txt_value_is_kept() -> None:
    label = unique("h")
    zone = os.environ["WILDCERT_ZONE_EXAMPLE_COM"]
    record = f"_acme-challenge.{label}.example.com"
    change = {"Name": record, "Type": "TXT", "TTL": 300,
              "ResourceRecords": [{"Value": '"kept-by-a-human"'}]}
    route53 = client("route53")
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": change}]})
    try:
        assert invoke(ISSUER, {"domains": [f"*.{label}.example.com"]})["status"] == "issued"
        assert challenge_values() == {f"{record}.": ['"kept-by-a-human"']}
    finally:
        route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={
            "Changes": [{"Action": "DELETE", "ResourceRecordSet": change}]})


def test_slack_down_still_issues(stack, caplog) -> None:
    label = unique("q")
    stack.set_slack_status(500)
    try:
        with caplog.at_level(logging.WARNING):
            result = invoke(ISSUER, {"domains": [f"{label}.example.com"], "name": label})
    finally:
        stack.set_slack_status(200)
    assert result["status"] == "issued"
    assert_valid_stored(label, [f"{label}.example.com"])
    assert "slack post failed" in caplog.text
    assert "/services/" not in caplog.text  # the webhook URL is a secret


def test_caa_forbidding_the_ca_rejects_before_any_order(monkeypatch) -> None:
    label = unique("caa")
    zone = os.environ["WILDCERT_ZONE_EXAMPLE_COM"]
    caa = {"Name": f"{label}.example.com", "Type": "CAA", "TTL": 300,
           "ResourceRecords": [{"Value": '0 issue "other-ca.example"'}]}
    route53 = client("route53")
    records = record_count()
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={
        "Changes": [{"Action": "CREATE", "ResourceRecordSet": caa}]})

    def no_order(*args, **kwargs):
        raise AssertionError("an order was placed despite CAA")

    monkeypatch.setattr(acme_client.AcmeSession, "new_order", no_order)
    try:
        result = invoke(ISSUER, {"domains": [f"*.{label}.example.com", f"{label}.example.com"],
                         "name": label})
    finally:
        route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={
            "Changes": [{"Action": "DELETE", "ResourceRecordSet": caa}]})
    assert result["status"] == "rejected" and result["stage"] == "precheck"
    assert "other-ca.example" in result["message"] and "letsencrypt.org" in result["message"]
    assert record_count() == records
    assert not s3_keys(f"{label}/")


def test_stale_renewal_request_is_skipped() -> None:
    """Two forced renewals of one serial (sweep and watch overlapping) issue once."""
    label = unique("r")
    first = invoke(ISSUER, {"domains": [f"{label}.example.com"], "name": label})
    renewal = {"domains": [f"{label}.example.com"], "name": label, "force": True,
               "renews": first["serial"].upper()}
    renewed = invoke(ISSUER, renewal)
    assert renewed["status"] == "renewed" and renewed["serial"] != first["serial"]
    again = invoke(ISSUER, renewal)
    assert again["status"] == "skipped" and "already replaced" in again["reason"]
    assert {k.split("/")[2] for k in s3_keys(f"{label}/archive/")} == {
        first["serial"], renewed["serial"]}


def test_a_first_domain_longer_than_a_common_name_issues_with_sans_only(stack) -> None:
    """A subject CN holds at most 64 characters: a longer first name is issued without a CN,
    its names in the SAN extension only, and leaves no lease or journal behind."""
    label = unique("long")
    first = f"{label}.{'a' * 40}.{'b' * 20}.example.com"
    assert len(first) > 64
    domains = [first, f"{label}.example.com"]
    result = invoke(ISSUER, {"domains": domains, "name": label})
    assert result["status"] == "issued", result
    assert_valid_stored(label, domains)
    _, files = stored_set(label)
    leaf = x509.load_pem_x509_certificate(files["cert.pem"])
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(domains)
    assert journal(label) is None
