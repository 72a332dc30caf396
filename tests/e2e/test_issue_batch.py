"""The issuer's SQS batches against a real queue: a message the CA (or a lease holder) asked to
wait for stays hidden that long, the others come back as the queue's visibility timeout says.

The requests are answered by the scripted issuer of tests/unit/test_issue_entry.py, so that a
rate limit and a busy lease happen on cue; tests/e2e/test_renewal_sweep.py runs the real
pipeline through the same entry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.support import client, unique
from tests.unit.test_issue_entry import ScriptedIssuer
from wildcert.jobs.issue import entry

RECEIVE_VISIBILITY = 2  # seconds a received message stays hidden unless the entry says longer


@pytest.fixture
def queue() -> Iterator[str]:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=unique("batch-"))["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


def lambda_event(url: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Send `bodies` and receive them as Lambda's SQS poller would hand them to the function."""
    sqs = client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    received: list[dict[str, Any]] = []
    while len(received) < len(bodies):
        received += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                        VisibilityTimeout=RECEIVE_VISIBILITY).get("Messages", [])
    return {"Records": [
        {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
         "attributes": {}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
         "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": arn.split(":")[3]}
        for m in received]}


def test_failed_messages_come_back_when_they_were_told_to(queue: str) -> None:
    event = lambda_event(queue, [{"then": t} for t in ("issued", "rate-limited", "busy",
                                                       "fail")])
    ids = {json.loads(r["body"])["then"]: r["messageId"] for r in event["Records"]}

    response = entry.issue_with(ScriptedIssuer(), event, None)

    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {
        ids["rate-limited"], ids["busy"], ids["fail"]}
    assert sorted(r["status"] for r in response["results"]) == ["busy", "issued"]
    time.sleep(RECEIVE_VISIBILITY + 1)
    back = client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                         VisibilityTimeout=60).get("Messages", [])
    # Lambda would have deleted the issued one; here nobody does, so it is back too. The
    # rate-limited (600 s) and busy (900 s) messages stay hidden.
    assert {m["MessageId"] for m in back} == {ids["issued"], ids["fail"]}
