"""The AWS fault proxy before moto: each action as a plain boto3 client sees it, clear, counts.

Clients here make one attempt (`total_max_attempts=1`), so every fault reaches the caller.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from local_stack import Stack
from local_stack.aws_faults import AwsFaults, Request, classify, rule_from
from local_stack.route53_source import LOCAL_CREDENTIALS
from local_stack.seed import BUCKET, SLACK_SECRET

pytestmark = pytest.mark.stack

ONCE = Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=10)
SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20261125/us-east-1/{}/aws4_request, Signed..."


@pytest.fixture
def faults(stack: Stack) -> Iterator[AwsFaults]:
    stack.aws_faults.clear(stats=True)
    try:
        yield stack.aws_faults
    finally:
        stack.aws_faults.clear()


@pytest.fixture
def proxied(stack: Stack) -> Callable[[str], Any]:
    """A boto3 client through the proxy, as wildcert's are (AWS_ENDPOINT_URL)."""
    def make(service: str) -> Any:
        return boto3.session.Session().client(
            service, endpoint_url=stack.env["AWS_ENDPOINT_URL"], config=ONCE, **LOCAL_CREDENTIALS
        )
    return make


def _key(suffix: str = "cert.json") -> str:
    return f"faults-{uuid.uuid4().hex[:8]}/{suffix}"


def _exists(stack: Stack, key: str) -> bool:
    listed = stack.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=key)
    return any(o["Key"] == key for o in listed.get("Contents", []))


def _txt_change(name: str, value: str) -> dict[str, Any]:
    return {"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": name, "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": f'"{value}"'}]}}]}


def _error(call: Callable[[], Any]) -> tuple[str, int, dict[str, Any]]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response


def test_the_stack_points_aws_at_the_proxy(stack: Stack) -> None:
    assert stack.env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{stack.ports.aws_faults}"
    assert stack.env["WILDCERT_MOTO_URL"] == f"http://127.0.0.1:{stack.ports.moto}"
    assert stack.ports.aws_faults == stack.ports.base + 11


def test_forwards_unchanged_and_counts(stack: Stack, faults: AwsFaults, proxied) -> None:
    s3, key = proxied("s3"), _key()
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"through the proxy")
    assert stack.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == (
        b"through the proxy")
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 17
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"through the proxy"
    proxied("secretsmanager").get_secret_value(SecretId=SLACK_SECRET)
    zones = proxied("route53").list_hosted_zones()["HostedZones"]
    assert {z["Name"] for z in zones} >= {"example.com.", "example.net."}
    counted = faults.stats()["by_operation"]
    assert counted["s3 PutObject"] == 1 and counted["s3 HeadObject"] == 1
    assert counted["s3 GetObject"] == 1
    assert counted["secretsmanager GetSecretValue"] == 1
    assert counted["route53 ListHostedZones"] == 1
    assert faults.count("s3", "PutObject") == 1
    (put,) = faults.calls(service="s3", operation="PutObject")
    assert put["key"] == key and put["status"] == 200 and put["fault"] is None


def test_route53_throttling_for_count_calls(stack: Stack, faults: AwsFaults, proxied) -> None:
    route53, zone = proxied("route53"), stack.zone_id("example.net")
    name = f"_acme-challenge.{uuid.uuid4().hex[:8]}.example.net"
    faults.add(service="route53", operation="ChangeResourceRecordSets", error="Throttling",
               count=2)
    for _ in range(2):
        code, status, response = _error(lambda: route53.change_resource_record_sets(
            HostedZoneId=zone, ChangeBatch=_txt_change(name, "v")))
        assert (code, status) == ("Throttling", 400)
        assert response["Error"]["Type"] == "Sender"
        assert response["Error"]["Message"] == "Rate exceeded"
    assert route53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch=_txt_change(name, "v"))["ChangeInfo"]["Status"] == "INSYNC"
    assert faults.rules()[0]["fired"] == 2 and faults.rules()[0]["count"] == 0
    assert faults.stats()["faults_fired"] == {
        "route53 ChangeResourceRecordSets error Throttling": 2}
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
        **_txt_change(name, "v")["Changes"][0], "Action": "DELETE"}]})


def test_s3_errors_by_key_pattern(stack: Stack, faults: AwsFaults, proxied) -> None:
    s3, key = proxied("s3"), _key()
    deeper = key.replace("/cert.json", "/archive/1/cert.json")
    faults.add(service="s3", method="PUT", key="*/cert.json", error="SlowDown")
    assert _error(lambda: s3.put_object(Bucket=BUCKET, Key=key, Body=b"x"))[:2] == (
        "SlowDown", 503)
    s3.put_object(Bucket=BUCKET, Key=deeper, Body=b"x")  # `*` stays within one segment
    faults.clear()
    faults.add(service="s3", operation="PutObject", key=key.split("/")[0] + "/**",
               error="KMS.KMSInternalException")
    code, status, response = _error(lambda: s3.put_object(Bucket=BUCKET, Key=deeper, Body=b"x"))
    assert (code, status) == ("KMS.KMSInternalException", 500)
    assert response["Error"]["Resource"] == f"/{BUCKET}/{deeper}"
    faults.add(service="s3", operation="GetObject", error="InternalError", status=500)
    assert _error(lambda: s3.get_object(Bucket=BUCKET, Key=deeper))[:2] == ("InternalError", 500)
    assert not _exists(stack, key)


def test_kms_json_error(stack: Stack, faults: AwsFaults, proxied) -> None:
    kms = proxied("kms")
    key_id = stack.env["KMS_KEY_ID"]
    faults.add(service="kms", operation="GenerateDataKey", error="KMSInternalException",
               count=1)
    code, status, _ = _error(lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"))
    assert (code, status) == ("KMSInternalException", 500)
    assert len(kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]) == 32


@pytest.mark.parametrize("when", ["before", "after"])
def test_connection_reset(stack: Stack, faults: AwsFaults, proxied, when: str) -> None:
    s3, key = proxied("s3"), _key("reset")
    faults.add(service="s3", operation="PutObject", action="reset", when=when, count=1)
    with pytest.raises(ConnectionClosedError):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    # before: moto never saw it; after: moto stored it and only the answer was lost
    assert _exists(stack, key) is (when == "after")
    (call,) = faults.calls(service="s3", operation="PutObject")
    assert call["status"] == (200 if when == "after" else None)
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")


def test_delay(faults: AwsFaults, proxied) -> None:
    s3 = proxied("s3")
    faults.add(service="s3", operation="ListObjectsV2", action="delay", seconds=0.6, count=1)
    started = time.monotonic()
    s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
    assert time.monotonic() - started >= 0.6
    started = time.monotonic()
    s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
    assert time.monotonic() - started < 0.6


def test_a_change_held_pending(stack: Stack, faults: AwsFaults, proxied) -> None:
    route53, zone = proxied("route53"), stack.zone_id("example.net")
    name = f"_acme-challenge.{uuid.uuid4().hex[:8]}.example.net"
    other_name = f"_acme-challenge.{uuid.uuid4().hex[:8]}.example.net"
    faults.add(service="route53", operation="ChangeResourceRecordSets", action="pending",
               count=1)
    held = route53.change_resource_record_sets(HostedZoneId=zone,
                                               ChangeBatch=_txt_change(name, "held"))
    assert held["ChangeInfo"]["Status"] == "PENDING"
    for _ in range(3):  # the same change stays PENDING, not just the first answer
        assert route53.get_change(Id=held["ChangeInfo"]["Id"])["ChangeInfo"]["Status"] == "PENDING"
    other = route53.change_resource_record_sets(HostedZoneId=zone,
                                                ChangeBatch=_txt_change(other_name, "free"))
    assert other["ChangeInfo"]["Status"] == "INSYNC"
    # moto applied the held change all the same
    sets = stack.client("route53").list_resource_record_sets(
        HostedZoneId=zone, StartRecordName=name, StartRecordType="TXT", MaxItems="1")
    assert sets["ResourceRecordSets"][0]["ResourceRecords"] == [{"Value": '"held"'}]
    faults.clear()
    assert route53.get_change(Id=held["ChangeInfo"]["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    for record, value in ((name, "held"), (other_name, "free")):
        change = _txt_change(record, value)
        change["Changes"][0]["Action"] = "DELETE"
        stack.client("route53").change_resource_record_sets(HostedZoneId=zone, ChangeBatch=change)


def test_probability_with_a_seed_repeats(faults: AwsFaults, proxied) -> None:
    s3 = proxied("s3")

    def pattern() -> str:
        faults.clear()
        faults.add(service="s3", operation="ListObjectsV2", error="SlowDown", probability=0.5,
                   seed=42)
        out = ""
        for _ in range(24):
            try:
                s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
                out += "."
            except ClientError:
                out += "F"
        return out

    first = pattern()
    assert first == pattern()
    assert 4 <= first.count("F") <= 20, first


def test_skip_then_count(faults: AwsFaults, proxied) -> None:
    s3 = proxied("s3")
    faults.add(service="s3", operation="ListObjectsV2", error="InternalError", skip=2, count=1)
    outcomes = []
    for _ in range(4):
        try:
            s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
    assert outcomes == ["ok", "ok", "InternalError", "ok"]


def test_clear_drops_rules_and_optionally_counts(faults: AwsFaults, proxied) -> None:
    s3 = proxied("s3")
    faults.add(service="s3", error="AccessDenied")
    assert _error(lambda: s3.list_objects_v2(Bucket=BUCKET))[:2] == ("AccessDenied", 403)
    faults.clear()
    assert faults.rules() == []
    s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
    assert faults.count("s3", "ListObjectsV2") == 2
    faults.clear(stats=True)
    assert faults.stats() == {"total": 0, "by_operation": {}, "faults_fired": {}}
    assert faults.calls() == []


def test_rules_are_checked(faults: AwsFaults) -> None:
    for bad in ({"service": "s3"}, {"service": "s3", "action": "explode"},
                {"action": "reset", "when": "during"},
                {"error": "SlowDown", "probability": 2}):
        with pytest.raises(ValueError):
            faults.add(**bad)
    with pytest.raises(ValueError, match="unknown rule fields"):
        rule_from(1, {"service": "s3", "error": "SlowDown", "colour": "red"})
    assert faults.rules() == []


NAMED = [
    ("s3", "PUT", "/b/n/cert.json", {}, "PutObject", "n/cert.json"),
    ("s3", "PUT", "/b/n/a%20b.pem", {"x-amz-copy-source": "/b/x"}, "CopyObject", "n/a b.pem"),
    ("s3", "PUT", "/b/n/k?partNumber=1&uploadId=u", {}, "UploadPart", "n/k"),
    ("s3", "GET", "/b?list-type=2&prefix=n%2F", {}, "ListObjectsV2", None),
    ("s3", "GET", "/b/n/k?acl", {}, "GetObjectAcl", "n/k"),
    ("s3", "POST", "/b?delete", {}, "DeleteObjects", None),
    ("route53", "POST", "/2013-04-01/hostedzone/Z1/rrset/", {}, "ChangeResourceRecordSets",
     None),
    ("route53", "GET", "/2013-04-01/hostedzone/Z1/rrset?name=x", {}, "ListResourceRecordSets",
     None),
    ("route53", "GET", "/2013-04-01/change/C1", {}, "GetChange", None),
    ("route53", "GET", "/2013-04-01/hostedzone", {}, "ListHostedZones", None),
    ("kms", "POST", "/", {"x-amz-target": "TrentService.GenerateDataKey"},
     "GenerateDataKey", None),
    ("sqs", "POST", "/", {"x-amz-target": "AmazonSQS.SendMessage"}, "SendMessage", None),
]


@pytest.mark.parametrize("case", NAMED, ids=[f"{c[0]}-{c[4]}" for c in NAMED])
def test_calls_are_named_as_aws_names_them(case: tuple[Any, ...]) -> None:
    service, method, target, headers, operation, key = case
    sent = [("Authorization", SIGNED.format(service)), *headers.items()]
    call = classify(Request(method, target, sent, b""))
    assert (call.service, call.operation, call.key) == (service, operation, key)
