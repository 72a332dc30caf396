"""Which rule of the request bus takes which event, as EventBridge's matcher decides.

The template's two rules on the request bus are put on a bus of moto's EventBridge, each
delivering to a queue of its own; events are put as teams (and the issuer) would put them. A
request goes to the request rule only; one that looks like a request but is mistyped goes to
the catch rule only (and is answered by the issuer); the issuer's own outcomes go to neither,
so an answer is never caught again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from .infra_invariants import CATCH_RULE
from .infra_template import REGION, load_sam

REQUEST_RULE = "IssueRequestRule"
REQUESTED = "wildcert.certificate.requested"


@pytest.fixture(scope="module")
def routed() -> Iterator[Any]:
    """put(source, detail_type) -> the names of the rules that took the event."""
    resources = load_sam()["Resources"]
    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        events.create_event_bus(Name="requests")
        queues = {}
        for rule in (REQUEST_RULE, CATCH_RULE):
            pattern = resources[rule]["Properties"]["EventPattern"]
            events.put_rule(Name=rule, EventBusName="requests", EventPattern=json.dumps(pattern))
            url = sqs.create_queue(QueueName=rule)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            events.put_targets(Rule=rule, EventBusName="requests",
                               Targets=[{"Id": "q", "Arn": arn}])
            queues[rule] = url

        def put(source: str, detail_type: str) -> list[str]:
            answer = events.put_events(Entries=[{
                "EventBusName": "requests", "Source": source, "DetailType": detail_type,
                "Detail": json.dumps({"domains": ["web.alpha.example.com"]})}])
            assert answer["FailedEntryCount"] == 0
            took = []
            for rule, url in queues.items():
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                    "Messages", [])
                for message in messages:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                took += [rule] * len(messages)
            return took

        yield put


@pytest.mark.parametrize(("source", "detail_type", "rules"), [
    ("wildcert.team.alpha", REQUESTED, [REQUEST_RULE]),
    ("wildcert.team.payments-eu", REQUESTED, [REQUEST_RULE]),
    # Mistyped: caught, to be answered.
    ("wildcert.team.alpha", "wildcert.certificate.request", [CATCH_RULE]),
    ("wildcert.team.alpha", "Wildcert.Certificate.Requested", [CATCH_RULE]),
    ("wildcert.teams.alpha", REQUESTED, [CATCH_RULE]),
    ("alpha", REQUESTED, [CATCH_RULE]),
    ("wildcert.alpha", "wildcert.certificate.request", [CATCH_RULE]),
    # The issuer's outcomes: never taken, or an answer would be answered again.
    ("wildcert", "wildcert.certificate.rejected", []),
    ("wildcert", "wildcert.certificate.issued", []),
    ("wildcert", REQUESTED, []),
])
def test_each_event_is_taken_by_exactly_the_rule_meant_for_it(
        routed: Any, source: str, detail_type: str, rules: list[str]) -> None:
    assert routed(source, detail_type) == rules
