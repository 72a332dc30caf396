"""ACME account keys held in KMS (ACME_ACCOUNT_KMS_KEY) on the local stack: the
stack's ECC_NIST_P256 SIGN_VERIFY key (moto, with kms_strict's Sign) signs every JWS, RAW or as
a DIGEST past 4096 bytes, and Pebble verifies it.

Each test uses an account of its own: the first CA under another directory URL (the front
ignores the query), so the stack's shared account is never moved to KMS; and a KMS key of its
own, since a CA lets one key hold one account.
"""

from __future__ import annotations

import json
import os
from typing import Any

import josepy as jose
import pytest
from cryptography.hazmat.primitives import serialization

from local_stack import Stack
from tests.e2e.support import ISSUER, assert_valid_stored, invoke, unique, wildcard_request
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.adapters.kms_key import RAW_LIMIT


def _own_ca(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"{stack.env['ACME_DIRECTORY_URL']}?account={unique('kms')}"
    monkeypatch.setenv("ACME_CAS", json.dumps([{"name": "pebble", "directory": url,
                                                "caa_identities": ["letsencrypt.org"]}]))
    return url


@pytest.fixture
def kms_key(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    """A key as the template's AcmeAccountKey: ECC_NIST_P256, SIGN_VERIFY."""
    key = stack.client("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    return str(key["KeyMetadata"]["Arn"])


def _versions(stack: Stack, directory: str) -> list[dict[str, Any]]:
    """Every version of the account's object, its body read."""
    s3, bucket = stack.client("s3"), os.environ["CERT_BUCKET"]
    key = CertificateStore.account_key(directory)
    found = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    return [json.loads(s3.get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])
                       ["Body"].read()) for v in found if v["Key"] == key]


def _kms_jwk_matches(stack: Stack, key: str, jwk: dict[str, Any]) -> bool:
    public = stack.client("kms").get_public_key(KeyId=key)
    numbers = serialization.load_der_public_key(public["PublicKey"]).public_numbers()
    x = int.from_bytes(_b64(jwk["x"]), "big")
    y = int.from_bytes(_b64(jwk["y"]), "big")
    return (numbers.x, numbers.y) == (x, y)


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_kms_held_account_registers_and_orders(
        stack: Stack, monkeypatch: pytest.MonkeyPatch, kms_key: str) -> None:
    directory = _own_ca(stack, monkeypatch)
    monkeypatch.setenv("ACME_ACCOUNT_KMS_KEY", kms_key)
    _, request = wildcard_request("ka")
    result = invoke(ISSUER, request)
    assert result["status"] == "issued", result
    [record] = _versions(stack, directory)  # the first, key-less version is gone too
    assert record["key_pem"] == "" and record["kms_key_id"] and record["account_url"]
    registered = [r for r in stack.acme_front.requests("newAccount")
                  if r["url"].startswith(directory.split("/dir")[0]) and r["status"] == 201]
    assert any(_kms_jwk_matches(stack, kms_key, r["protected"]["jwk"]) for r in registered)

    revoked = invoke(ISSUER, {"revoke": {"names": [result["name"]], "reason": "superseded"}})
    [done] = revoked["certificates"]
    assert done["serial"] == result["serial"] and done["replaced_by"], done
    answers = [r["status"] for r in stack.acme_front.requests("revokeCert")
               if r["protected"].get("kid") == record["account_url"]]
    assert answers.count(200) == 1, answers  # signed by the KMS-held account


def test_an_account_rolls_over_from_its_bucket_key_to_kms(
        stack: Stack, monkeypatch: pytest.MonkeyPatch, kms_key: str) -> None:
    directory = _own_ca(stack, monkeypatch)
    _, request = wildcard_request("kr")
    assert invoke(ISSUER, request)["status"] == "issued"
    before = _versions(stack, directory)
    assert "PRIVATE KEY" in before[0]["key_pem"] and before[0]["account_url"]

    monkeypatch.setenv("ACME_ACCOUNT_KMS_KEY", kms_key)
    changed = len(stack.acme_front.requests("keyChange"))
    renewed = invoke(ISSUER, {**request, "force": True})
    assert renewed["status"] == "renewed", renewed
    rollovers = stack.acme_front.requests("keyChange")[changed:]
    assert [r["status"] for r in rollovers][-1] == 200
    assert _kms_jwk_matches(stack, kms_key, _inner_jwk(rollovers[-1]))
    after = _versions(stack, directory)
    assert len(after) == 1 and after[0]["account_url"] == before[0]["account_url"]
    assert after[0]["key_pem"] == "" and after[0]["kms_key_id"]
    assert not any("PRIVATE KEY" in json.dumps(v) for v in after)


def test_a_kms_held_account_signs_orders_past_the_raw_limit(
        stack: Stack, monkeypatch: pytest.MonkeyPatch, kms_key: str) -> None:
    """80 names under one fresh label: newOrder's and finalize's JWS signing inputs pass the
    4096 bytes KMS signs RAW, so the account key sends their SHA-256 as a DIGEST, and Pebble
    verifies each signature."""
    directory = _own_ca(stack, monkeypatch)
    monkeypatch.setenv("ACME_ACCOUNT_KMS_KEY", kms_key)
    label = unique("kd")
    domains = [name for n in range(40) for name in (f"*.n{n:02d}.{label}.example.com",
                                                    f"n{n:02d}.{label}.example.com")]
    result = invoke(ISSUER, {"domains": domains, "name": label})
    assert result["status"] == "issued", result
    assert_valid_stored(label, domains)
    [record] = _versions(stack, directory)
    assert record["kms_key_id"] == kms_key
    for kind in ("newOrder", "finalize"):
        [sent] = [r for r in stack.acme_front.requests(kind)
                  if r["protected"].get("kid") == record["account_url"]]
        assert sent["status"] in (200, 201), sent
        assert _least_signing_input(sent) > RAW_LIMIT, kind


def _least_signing_input(entry: dict[str, Any]) -> int:
    """A lower bound on the JWS's signing-input length: its parts as compact JSON."""
    protected, payload = (json.dumps(entry[part], separators=(",", ":")).encode()
                          for part in ("protected", "payload"))
    return len(jose.b64encode(protected)) + 1 + len(jose.b64encode(payload))


def _inner_jwk(entry: dict[str, Any]) -> dict[str, Any]:
    """The new key of a keyChange: the jwk of the inner JWS (RFC 8555 §7.3.5)."""
    inner = entry["payload"]
    return dict(json.loads(_b64(inner["protected"]))["jwk"])
