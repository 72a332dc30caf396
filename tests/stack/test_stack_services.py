"""The seeded AWS resources, the Slack sink and Pebble behave as wildcert expects."""

from __future__ import annotations

import json
import shlex
import ssl
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest
from cryptography import x509

from local_stack import Stack
from wildcert.settings import Settings

pytestmark = pytest.mark.stack

NO_PROXY = urllib.request.ProxyHandler({})


def _post(url: str, payload: Any) -> tuple[int, str]:
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.build_opener(NO_PROXY).open(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _webhook_url(stack: Stack) -> str:
    secret = stack.client("secretsmanager").get_secret_value(SecretId="wildcert/slack-webhook")
    return str(secret["SecretString"])


def test_env_is_the_settings_contract(stack: Stack) -> None:
    settings = Settings.from_env(stack.env)
    assert settings.bucket == "wildcert-local"
    assert settings.kms_key_id.startswith("arn:aws:kms:us-east-1:")
    assert len(settings.allowed_zone_ids) == 3
    assert "/" not in ",".join(settings.allowed_zone_ids)
    assert settings.dns_server_override == f"127.0.0.1:{stack.ports.dns}"
    env_file = (stack.directory / "env").read_text()
    sourced = subprocess.run(
        ["bash", "-c", f". {shlex.quote(str(stack.directory / 'env'))} && env -0"],
        capture_output=True,
        check=True,
        env={},
    ).stdout.decode()
    exported = dict(line.split("=", 1) for line in sourced.split("\0") if "=" in line)
    assert {key: exported[key] for key in stack.env} == stack.env
    assert json.loads((stack.directory / "env.json").read_text()) == stack.env
    assert "export ACME_CA_BUNDLE=" in env_file


def test_seeded_bucket_key_zones_and_secret(stack: Stack) -> None:
    s3 = stack.client("s3")
    assert s3.get_bucket_versioning(Bucket="wildcert-local")["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket="wildcert-local")["ServerSideEncryptionConfiguration"][
        "Rules"
    ][0]["ApplyServerSideEncryptionByDefault"]
    assert rule == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": stack.env["KMS_KEY_ID"]}

    aliases = stack.client("kms").list_aliases()["Aliases"]
    (alias,) = [a for a in aliases if a["AliasName"] == "alias/wildcert-local"]
    assert stack.env["KMS_KEY_ID"].endswith(alias["TargetKeyId"])

    route53 = stack.client("route53")
    names = {
        route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"]
        for zone_id in stack.env["ALLOWED_ZONES"].split(",")
    }
    assert names == {"example.com.", "team.example.com.", "example.net."}
    delegation = route53.list_resource_record_sets(
        HostedZoneId=stack.zone_id("example.com"),
        StartRecordName="team.example.com.",
        StartRecordType="NS",
        MaxItems="1",
    )["ResourceRecordSets"][0]
    assert (delegation["Name"], delegation["Type"]) == ("team.example.com.", "NS")

    secret = stack.client("secretsmanager").describe_secret(SecretId="wildcert/slack-webhook")
    assert secret["KmsKeyId"] == stack.env["KMS_KEY_ID"]
    assert _webhook_url(stack) == f"{stack.env['WILDCERT_SLACK_SINK']}/services/T000/B000/local"


def test_slack_sink_records_posts(stack: Stack) -> None:
    before = len(stack.slack_messages())
    status, body = _post(_webhook_url(stack), {"text": "hello from the test"})
    assert (status, body) == (200, "ok")
    messages = stack.slack_messages()
    assert len(messages) == before + 1
    assert messages[-1] == {
        "path": "/services/T000/B000/local",
        "payload": {"text": "hello from the test"},
    }


def test_slack_sink_failure_switch(stack: Stack) -> None:
    before = len(stack.slack_messages())
    stack.set_slack_status(500)
    try:
        assert _post(_webhook_url(stack), {"text": "lost"})[0] == 500
        stack.set_slack_status(429, retry_after=1)
        assert _post(_webhook_url(stack), {"text": "lost too"})[0] == 429
    finally:
        stack.set_slack_status(200)
    assert len(stack.slack_messages()) == before
    assert _post(_webhook_url(stack), {"text": "back"}) == (200, "ok")
    assert stack.slack_messages()[-1]["payload"] == {"text": "back"}
    assert stack.stats()["slack"]["refused"] >= 2


def test_slack_sink_rejects_what_slack_rejects(stack: Stack) -> None:
    url = _webhook_url(stack)
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, data=b"not json")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.build_opener(NO_PROXY).open(request, timeout=5)
    assert caught.value.code == 400


def test_pebble_directory_over_tls(stack: Stack) -> None:
    trusted = ssl.create_default_context(cafile=stack.env["ACME_CA_BUNDLE"])
    opener = urllib.request.build_opener(NO_PROXY, urllib.request.HTTPSHandler(context=trusted))
    with opener.open(stack.env["ACME_DIRECTORY_URL"], timeout=5) as response:
        directory = json.load(response)
    assert {"newAccount", "newNonce", "newOrder"} <= directory.keys()

    untrusted = ssl.create_default_context(cafile=None, capath=None, cadata=None)
    untrusted.load_verify_locations(cadata=stack.pebble_root_pem())  # not the TLS CA
    strict = urllib.request.build_opener(NO_PROXY, urllib.request.HTTPSHandler(context=untrusted))
    with pytest.raises(urllib.error.URLError):
        strict.open(stack.env["ACME_DIRECTORY_URL"], timeout=5)


def test_pebble_root_is_a_ca_certificate(stack: Stack) -> None:
    root = x509.load_pem_x509_certificate(stack.pebble_root_pem().encode())
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
