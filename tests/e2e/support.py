"""What the end-to-end tests check on the local stack, with the same clients a user would use."""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import boto3
from cryptography import x509

from local_stack.lambda_runtime import (  # noqa: F401 - the tests' names for them
    FUNCTIONS,
    ISSUER,
    LOCAL_ACCOUNT,
    SWEEP,
    WATCH,
    Function,
    LambdaContext,
    invoke,
    sqs_event,
)
from wildcert import container
from wildcert.adapters.bucket.certificates import CERT_FILES
from wildcert.logic import certificates as certs


def unique(prefix: str) -> str:
    """A fresh label, so tests sharing the stack never see each other's certificates."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def client(service: str) -> Any:
    return boto3.client(service, endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def queue_arn(url: str) -> str:
    return str(client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"])


def as_renewal_queue(url: str, setenv: Callable[[str, str], None]) -> str:
    """Make the queue at `url` the renewal queue: the sweep and the watch send to it, and the
    issuer takes its records (and no other queue's). Its ARN."""
    setenv("RENEWAL_QUEUE_URL", url)
    arn = queue_arn(url)
    setenv("RENEWAL_QUEUE_ARN", arn)
    return arn


def queued(setenv: Callable[[str, str], None], body: dict[str, Any]) -> dict[str, Any]:
    """`body` sent to a renewal queue of the caller's own (made the renewal queue through
    `setenv`, for a container started afresh), as Lambda's SQS poller hands it over."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=unique("renewals-"))["QueueUrl"]
    arn = as_renewal_queue(url, setenv)
    container.start_afresh()
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    (message,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"],
                                     MessageAttributeNames=["All"])["Messages"]
    sqs.delete_queue(QueueUrl=url)
    return sqs_event(message, arn)


REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"


def sample_event(filename: str) -> Any:
    """One of the sample events in events/, as a fresh copy."""
    return json.loads((EVENTS / filename).read_text())


def wildcard_request(prefix: str) -> tuple[str, dict[str, Any]]:
    """A wildcard + apex request under a fresh label: (label, request)."""
    label = unique(prefix)
    return label, {"domains": [f"*.{label}.example.com", f"{label}.example.com"], "name": label}


def s3_keys(prefix: str = "") -> set[str]:
    paginator = client("s3").get_paginator("list_objects_v2")
    keys: set[str] = set()
    for page in paginator.paginate(Bucket=os.environ["CERT_BUCKET"], Prefix=prefix):
        keys.update(o["Key"] for o in page.get("Contents", []))
    return keys


def zone_ids() -> list[str]:
    return [z for z in os.environ["ALLOWED_ZONES"].split(",") if z]


def challenge_values() -> dict[str, list[str]]:
    """Every `_acme-challenge` TXT record left in any zone."""
    route53 = client("route53")
    found: dict[str, list[str]] = {}
    for zone in zone_ids():
        paginator = route53.get_paginator("list_resource_record_sets")
        for page in paginator.paginate(HostedZoneId=zone):
            for rrset in page["ResourceRecordSets"]:
                if rrset["Type"] == "TXT" and rrset["Name"].startswith("_acme-challenge"):
                    found[rrset["Name"]] = [r["Value"] for r in rrset["ResourceRecords"]]
    return found


def record_count() -> int:
    route53 = client("route53")
    return sum(
        route53.get_hosted_zone(Id=zone)["HostedZone"]["ResourceRecordSetCount"]
        for zone in zone_ids()
    )


def slack_payloads() -> list[dict[str, Any]]:
    path = Path(os.environ["WILDCERT_SLACK_LOG"])
    if not path.exists():
        return []
    return [json.loads(line)["payload"] for line in path.read_text().splitlines() if line]


def slack_texts() -> list[str]:
    return [json.dumps(p) for p in slack_payloads()]


def pebble_roots() -> list[x509.Certificate]:
    """Pebble's root of the moment, from its management interface (it changes per start)."""
    context = ssl.create_default_context(cafile=os.environ["ACME_CA_BUNDLE"])
    with urllib.request.urlopen(os.environ["WILDCERT_PEBBLE_ROOTS_URL"], context=context) as r:
        return [x509.load_pem_x509_certificate(p) for p in certs.split_pem_chain(r.read())]


def stored_set(name: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    s3 = client("s3")
    bucket = os.environ["CERT_BUCKET"]
    meta = json.loads(s3.get_object(Bucket=bucket, Key=f"{name}/cert.json")["Body"].read())
    files = {f: s3.get_object(Bucket=bucket, Key=f"{name}/{f}")["Body"].read() for f in CERT_FILES}
    return meta, files


def assert_encrypted_with_our_key(keys: Iterable[str]) -> None:
    s3 = client("s3")
    bucket = os.environ["CERT_BUCKET"]
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert head["SSEKMSKeyId"] == os.environ["KMS_KEY_ID"], key


def assert_valid_stored(name: str, domains: Iterable[str], key_type: str = "ec256") -> dict:
    """The stored set is what a server can install: every property a user relies on."""
    domains = tuple(domains)
    meta, files = stored_set(name)
    issued = certs.IssuedSet(
        privkey=files["privkey.pem"], cert=files["cert.pem"], chain=files["chain.pem"],
        fullchain=files["fullchain.pem"],
    )
    certs.verify_set(issued, domains)  # key matches leaf, chain links, SANs equal the request
    chain = [x509.load_pem_x509_certificate(p) for p in certs.split_pem_chain(issued.chain)]
    top = chain[-1] if chain else issued.leaf
    assert any(top.issuer == root.subject for root in pebble_roots())
    top.verify_directly_issued_by(next(r for r in pebble_roots() if r.subject == top.issuer))
    assert sorted(meta["domains"]) == sorted(domains)
    assert meta["key_type"] == key_type
    assert meta["serial"] == certs.serial_hex(issued.leaf)
    for filename, body in files.items():
        assert meta["sha256"][filename] == certs.sha256_hex(body), filename
    archive = {f"{meta['archive']}{f}" for f in CERT_FILES}
    assert archive <= s3_keys(f"{name}/archive/")
    live = {f"{name}/{f}" for f in CERT_FILES} | {f"{name}/cert.json"}
    assert_encrypted_with_our_key(live | archive)
    assert_only_the_archived_key_tagged(meta["archive"], live | archive)
    return meta


def assert_only_the_archived_key_tagged(archive: str, keys: Iterable[str]) -> None:
    """The bucket's lifecycle rule expires what carries the tag: the archived key, nothing
    else (cert.pem and chain.pem stay for the audit trail)."""
    s3 = client("s3")
    for key in keys:
        found = s3.get_object_tagging(Bucket=os.environ["CERT_BUCKET"], Key=key)["TagSet"]
        expected = [{"Key": "wildcert-key", "Value": "archived"}] * (
            key == f"{archive}privkey.pem")
        assert found == expected, key
