"""Revoke and re-key on the local stack: Pebble revokes (its management API says so, with the
reason), the name gets a certificate with a fresh key, and wildcert-pull installs it; a set
whose serial cert.json marks revoked is never installed.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from local_stack import Stack
from tests.e2e.support import (
    ISSUER,
    WATCH,
    client,
    invoke,
    s3_keys,
    slack_texts,
    stored_set,
)
from tests.e2e.test_pull import pull_cli, unique

pytestmark = pytest.mark.usefixtures("fresh_faults")
KEY_COMPROMISE = 1  # RFC 5280 CRLReason


def _issue(label: str) -> dict:
    request = {"domains": [f"*.{label}.example.com", f"{label}.example.com"], "name": label}
    result = invoke(ISSUER, request)
    assert result["status"] == "issued", result
    return result


def _pebble_status(stack: Stack, serial: str) -> dict:
    context = ssl.create_default_context(cafile=os.environ["ACME_CA_BUNDLE"])
    url = f"https://127.0.0.1:{stack.ports.pebble_management}/cert-status-by-serial/{serial}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=context))
    with opener.open(url, timeout=10) as answer:
        return dict(json.loads(answer.read()))


def _public_key(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_revoke_and_rekey_then_the_puller_installs_the_replacement(
        stack: Stack, tmp_path: Path) -> None:
    label = unique("rv")
    old = _issue(label)
    dest, reloads = tmp_path / "dest", tmp_path / "reloads"
    assert pull_cli(label, dest, reloads).returncode == 0
    old_cert = (dest / "cert.pem").read_bytes()
    before = len(slack_texts())

    result = invoke(ISSUER, {"revoke": {"names": [label], "reason": "keyCompromise"}})

    assert result["status"] == "revoked", result
    [done] = result["certificates"]
    assert done["serial"] == old["serial"] and done["replaced_by"] not in (None, old["serial"])
    status = _pebble_status(stack, old["serial"])
    assert status["Status"] == "Revoked" and status["Reason"] == KEY_COMPROMISE, status
    meta, files = stored_set(label)
    assert meta["serial"] == done["replaced_by"]
    assert {"serial": old["serial"], "reason": "keyCompromise"}.items() <= \
        meta["revoked"][0].items()
    assert _public_key(files["cert.pem"]) != _public_key(old_cert)
    posted = slack_texts()[before:]
    assert len(posted) == 1 and "Revoked 1 certificate" in posted[0]

    pulled = pull_cli(label, dest, reloads)
    assert pulled.returncode == 0, pulled.stderr
    assert (dest / "cert.pem").read_bytes() == files["cert.pem"]


def test_a_revoked_set_not_yet_replaced_is_withdrawn_and_never_installed(
        stack: Stack, tmp_path: Path) -> None:
    label = unique("rw")
    old = _issue(label)
    stack.acme_front.inject("newOrder", "serverError", status=503)  # the reissue cannot order
    result = invoke(ISSUER, {"revoke": {"serials": [old["serial"]], "reason": "superseded"}})
    [done] = result["certificates"]
    assert done["replaced_by"] is None and "not replaced" in done["error"], done
    assert _pebble_status(stack, old["serial"])["Status"] == "Revoked"
    meta = _cert_json(label)
    assert meta["serial"] == old["serial"] and meta["revoked"][0]["serial"] == old["serial"]
    assert not {f"{label}/cert.pem", f"{label}/privkey.pem"} & s3_keys(f"{label}/")

    refused = pull_cli(label, tmp_path / "dest", tmp_path / "reloads")
    assert refused.returncode == 6, refused.stdout + refused.stderr  # Exit.REFUSED
    assert "revoked" in refused.stderr and not (tmp_path / "dest" / "cert.pem").exists()

    mine = [f for f in invoke(WATCH, {"dry_run": True})["findings"] if f["name"] == label]
    assert [f["kind"] for f in mine] == ["revoked"], mine

    stack.acme_front.reset()
    again = invoke(ISSUER, {"name": label, "domains": meta["domains"], "force": True})
    assert again["status"] == "renewed" and again["serial"] != old["serial"]


def test_a_revoke_matching_nothing_is_rejected(stack: Stack) -> None:
    result = invoke(ISSUER, {"revoke": {"names": [unique("none")], "reason": "keyCompromise"}})
    assert result["status"] == "rejected" and "no stored certificate" in result["message"]


def _cert_json(label: str) -> dict:
    body = client("s3").get_object(Bucket=os.environ["CERT_BUCKET"], Key=f"{label}/cert.json")
    return dict(json.loads(body["Body"].read()))


def test_a_team_revokes_its_own_certificates_only(stack: Stack) -> None:
    """Through the request bus: beta's request for alpha's name matches nothing it owns, and
    alpha's certificate stays; alpha's own request revokes and replaces it."""
    from tests.e2e.test_teams import send, team_event

    label = unique("tr")
    name = f"alpha.{label}"
    issued = send(team_event("alpha", {"name": name, "domains": [f"{label}.alpha.example.com"]}))
    assert issued["status"] == "issued", issued
    by_beta = send(team_event("beta", {"revoke": {"names": [name], "reason": "keyCompromise"}}))
    assert by_beta["status"] == "rejected" and "team beta's" in by_beta["message"], by_beta
    assert _pebble_status(stack, issued["serial"])["Status"] != "Revoked"
    by_alpha = send(team_event("alpha", {"revoke": {"names": [name],
                                                    "reason": "keyCompromise"}}))
    assert by_alpha["status"] == "revoked" and by_alpha["team"] == "alpha", by_alpha
    assert by_alpha["certificates"][0]["replaced_by"] == _cert_json(name)["serial"]
    assert _pebble_status(stack, issued["serial"])["Status"] == "Revoked"
