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


@pytest.fixture
def renewal_queue() -> Iterator[str]:
    """Made as template.yaml makes the renewal queue: ten receives, then the dead-letter queue."""
    sqs = client("sqs")
    dead = sqs.create_queue(QueueName=unique("batch-dlq-"))["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=unique("batch-"), Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dead_arn, "maxReceiveCount": 10})})["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)
    sqs.delete_queue(QueueUrl=dead)


def lambda_event(url: str, bodies: list[dict[str, Any]],
                 attributes: dict[str, Any] | None = None, waiting: int = 0) -> dict[str, Any]:
    """Send `bodies` and receive them (and `waiting` messages already queued) as Lambda's SQS
    poller would hand them to the function."""
    sqs = client("sqs")
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body),
                         MessageAttributes=attributes or {})
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    received: list[dict[str, Any]] = []
    ends = time.monotonic() + 30
    while len(received) < len(bodies) + waiting and time.monotonic() < ends:
        received += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                        VisibilityTimeout=RECEIVE_VISIBILITY,
                                        MessageAttributeNames=["All"],
                                        AttributeNames=["All"]).get("Messages", [])
    return {"Records": [
        {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
         "attributes": m.get("Attributes", {}),
         "messageAttributes": {
             k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
             for k, v in m.get("MessageAttributes", {}).items()},
         "md5OfBody": m["MD5OfBody"],
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


def test_a_wait_is_hidden_while_the_message_has_receives_to_spare(renewal_queue: str) -> None:
    event = lambda_event(renewal_queue, [{"then": "deferred"}])
    response = entry.issue_with(ScriptedIssuer(), event, None)
    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    counts = client("sqs").get_queue_attributes(QueueUrl=renewal_queue, AttributeNames=[
        "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"])
    assert counts["Attributes"] == {"ApproximateNumberOfMessagesNotVisible": "1",
                                    "ApproximateNumberOfMessagesDelayed": "0"}


def test_a_wait_that_would_spend_its_receives_is_sent_anew(renewal_queue: str) -> None:
    sqs = client("sqs")
    sqs.send_message(QueueUrl=renewal_queue, MessageBody=json.dumps({"then": "deferred"}),
                     MessageAttributes={"reason": {"DataType": "String", "StringValue": "ari"}})
    for _ in range(4):  # four receives spent waiting already
        assert sqs.receive_message(QueueUrl=renewal_queue, VisibilityTimeout=0,
                                   WaitTimeSeconds=1).get("Messages")
    event = lambda_event(renewal_queue, [], waiting=1)
    [old] = event["Records"]
    assert old["attributes"]["ApproximateReceiveCount"] == "5"
    issuer = ScriptedIssuer()

    response = entry.issue_with(issuer, event, None)

    # Done with the old message (Lambda deletes it); the request waits in a new one.
    assert response["batchItemFailures"] == []
    [result] = response["results"]
    assert result["status"] == "deferred" and result["name"] == "web"
    sqs.delete_message(QueueUrl=renewal_queue, ReceiptHandle=old["receiptHandle"])
    counts = sqs.get_queue_attributes(QueueUrl=renewal_queue, AttributeNames=["All"])
    assert counts["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert issuer.seen == [({"then": "deferred"}, old["messageId"])]

    # The new message: same body and attributes, the first id and the moment it began to wait.
    new = lambda_event(renewal_queue, [], waiting=1)  # after its 3 s delay
    [again] = new["Records"]
    assert again["messageId"] == result["sent_as"]
    assert again["body"] == old["body"] and again["attributes"]["ApproximateReceiveCount"] == "1"
    kept = again["messageAttributes"]
    assert kept["reason"]["stringValue"] == "ari"
    assert kept["wildcert-request-id"]["stringValue"] == old["messageId"]
    assert kept["wildcert-waiting-since"]["stringValue"].endswith("Z")
    entry.issue_with(issuer, new, None)
    assert issuer.seen[-1] == ({"then": "deferred"}, old["messageId"])  # still one request
