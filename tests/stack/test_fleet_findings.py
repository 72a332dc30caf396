"""What the fleet bench found wildcert doing under Route 53's and Let's Encrypt's limits, each
reproduced small on the local stack (the numbers at scale are in bench/RESULTS.md).

The tests marked xfail describe how wildcert should behave and fail today (strict: once the
product is fixed they pass and the marker must go). docs/FLEET.md explains each finding.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack import Stack
from tests.e2e.faults_support import journal, leftover_challenges
from tests.e2e.support import ISSUER, as_renewal_queue, client, invoke, slack_texts, unique
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.jobs.issue.crash_safety import CLEANUP_SECONDS

pytestmark = pytest.mark.stack

ACCOUNT = "123456789012"


@pytest.fixture
def limits_off(stack: Stack) -> Iterator[Stack]:
    stack.aws_faults.clear()
    stack.acme_front.reset()
    try:
        yield stack
    finally:
        stack.aws_faults.clear()
        stack.acme_front.reset()
        clear_cooldowns(stack)


def clear_cooldowns(stack: Stack) -> None:
    """Every rate-limit cooldown the CA's answers left in the bucket, whatever its scope."""
    s3, bucket = stack.client("s3"), stack.env["CERT_BUCKET"]
    prefix = CertificateStore.cooldown_prefix(stack.env["ACME_DIRECTORY_URL"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for found in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=found["Key"])


def wildcard(label: str) -> list[str]:
    return [f"*.{label}.example.com", f"{label}.example.com"]


def test_a_renewal_as_slow_as_real_route53_cleans_up_without_a_failure(
    limits_off: Stack, stack_env: dict[str, str]
) -> None:
    stack = limits_off
    # Every change stays PENDING a little longer than the cleanup's budget; AWS takes longer.
    stack.aws_faults.add(service="route53", operation="ChangeResourceRecordSets",
                         action="pending", seconds=CLEANUP_SECONDS + 2)
    label = unique("slow")
    before = len(slack_texts())
    result = invoke(ISSUER, {"domains": wildcard(label), "name": label})
    assert result["status"] == "issued", result
    stack.aws_faults.clear()
    assert leftover_challenges() == {}  # Route 53 did remove them, just later
    posted = slack_texts()[before:]
    assert not [t for t in posted if "cleanup failed" in t], posted
    assert journal(label) is None  # nothing parked for the next run to clean up


def _lambda_event(message: dict[str, Any], queue_url: str) -> dict[str, Any]:
    name = queue_url.rstrip("/").rsplit("/", 1)[-1]
    return {"Records": [{
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"], "attributes": message.get("Attributes", {}),
        "messageAttributes": {}, "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}",
        "awsRegion": "us-east-1",
    }]}


def _poll_until_empty(queue_url: str, seconds: float) -> list[dict[str, Any]]:
    """One issuer container fed as Lambda's SQS poller feeds it (batch size 1)."""
    sqs = client("sqs")
    outcomes: list[dict[str, Any]] = []
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                  AttributeNames=["All"]).get("Messages", [])
        if not got:
            # A renewal sent anew to wait is delayed: still there, as Lambda's poller knows.
            counts = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed"])
            if not any(int(v) for v in counts["Attributes"].values()):
                return outcomes
            continue
        response = invoke(ISSUER, _lambda_event(got[0], queue_url))
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        outcomes += response["results"]
        if got[0]["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=got[0]["ReceiptHandle"])
    return outcomes


def test_renewals_waiting_for_the_order_bucket_never_reach_the_dead_letter_queue(
    limits_off: Stack, stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = limits_off
    sqs = client("sqs")
    dlq = sqs.create_queue(QueueName=unique("dlq-"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    # The template allows 10 receives; 3 is reached the same way with fewer messages.
    queue = sqs.create_queue(QueueName=unique("renewals-"), Attributes={
        "VisibilityTimeout": "5400",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})})[
        "QueueUrl"]
    as_renewal_queue(queue, monkeypatch.setenv)
    try:
        labels = [unique("wait") for _ in range(6)]
        sqs.send_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"domains": wildcard(label), "name": label})}
            for i, label in enumerate(labels)])
        # The account's order bucket holds one order and gets one back every 4 s.
        stack.acme_front.set_limits(orders_per_account=1, orders_period=4.0)

        outcomes = _poll_until_empty(queue, seconds=120)

        issued = {o["name"] for o in outcomes if o.get("status") == "issued"}
        dead = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=[
            "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]
        assert stack.acme_front.limits()["refused"]["newOrdersPerAccount"] >= 1
        assert int(dead) == 0, f"{dead} on the dead-letter queue; issued {sorted(issued)}"
        assert issued == set(labels)
    finally:
        sqs.delete_queue(QueueUrl=queue)
        sqs.delete_queue(QueueUrl=dlq)
