"""The issuer entry's envelopes and SQS partial batch responses, with a scripted issuer.

The issuer here answers each request as its body says, so these tests look at what the entry
does with outcomes and failures; tests/e2e runs the real pipeline and a real queue.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from wildcert.jobs.issue import entry
from wildcert.jobs.issue.outcome import Outcome, StageFailure
from wildcert.logic.request import (
    DIRECT,
    Requester,
    RequestRejected,
    UnreadableEvent,
    parse_request,
)


class ScriptedIssuer:
    """Stands in for `Issuer.handle`: a request's `then` says how it ends."""

    def __init__(self) -> None:
        self.seen: list[tuple[object, str | None]] = []
        self.requesters: list[Requester] = []

    def handle(self, raw: object, request_id: str | None = None,
               requester: Requester = DIRECT) -> Outcome:
        self.seen.append((raw, request_id))
        self.requesters.append(requester)
        then = raw.get("then") if isinstance(raw, dict) else None
        if then == "fail":
            raise StageFailure("dns", "the change did not propagate")
        if then == "rate-limited":
            raise StageFailure("order", "too many new orders", retry_after=600)
        if then == "deferred":  # the CA's cooldown: the request waits, nothing failed
            failure = StageFailure("acme", "the CA rate-limited the whole ACME account",
                                   retry_after=3, deferred=True)
            failure.outcome = {"status": "failed", "name": "web", "deferred": True}
            raise failure
        if then == "busy":
            return Outcome("busy", "web", (), {"reason": "leased", "retry_after": 900})
        if then == "crash":
            raise KeyError("a bug")
        if then == "issued":
            return Outcome("issued", "web", ("example.com",))
        try:
            parse_request(raw, ["example.com"])
        except RequestRejected as rejected:
            return Outcome("rejected", None, (), {"problems": list(rejected.problems)})
        raise AssertionError(f"unexpected request {raw!r}")


RENEWAL_QUEUE = "arn:aws:sqs:eu-west-1:123456789012:wildcert-RenewalQueue-1"


def record(then: str, message_id: str | None, queue: str | None = None) -> dict[str, Any]:
    """An SQS record; of `queue` if given (without one, no queue can be asked to delay it)."""
    found = {"eventSource": "aws:sqs", "body": json.dumps({"then": then}),
             **({"eventSourceARN": queue} if queue else {})}
    return found if message_id is None else {**found, "messageId": message_id}


def run(event: object) -> tuple[dict[str, Any], ScriptedIssuer]:
    issuer = ScriptedIssuer()
    return (entry.issue_with(issuer, event, None, renewal_queue=RENEWAL_QUEUE),  # type: ignore[arg-type]
            issuer)


def test_each_sqs_record_is_one_request_named_by_its_message_id() -> None:
    event = {"Records": [record("issued", "m-1"), record("fail", "m-2"),
                         record("busy", "m-3"), record("rate-limited", "m-4"),
                         {"eventSource": "aws:sqs", "messageId": "m-5", "body": "not json"},
                         record("crash", "m-6")]}
    response, issuer = run(event)
    assert [request_id for _, request_id in issuer.seen] == ["m-1", "m-2", "m-3", "m-4", "m-5",
                                                             "m-6"]
    assert response["batchItemFailures"] == [
        {"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}, {"itemIdentifier": "m-4"},
        {"itemIdentifier": "m-6"}]
    # Returned outcomes are all reported, a busy one too; raised failures have none.
    assert [r["status"] for r in response["results"]] == ["issued", "busy", "rejected"]
    assert "Records[4] (message 'm-5') body is not valid JSON" in (
        response["results"][2]["problems"][0])


def test_a_batch_that_fails_entirely_is_still_a_partial_response() -> None:
    response, _ = run({"Records": [record("fail", "m-1"), record("rate-limited", "m-2")]})
    assert response == {"results": [], "batchItemFailures": [
        {"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}


def test_a_failed_record_without_a_message_id_fails_the_invocation() -> None:
    # batchItemFailures cannot name it; raising makes Lambda deliver the batch again.
    with pytest.raises(StageFailure, match="did not propagate"):
        run({"Records": [record("issued", "m-1"), record("fail", None)]})


def test_unreadable_records_without_a_message_id_are_rejected_not_raised() -> None:
    response, issuer = run({"Records": [1, {"body": "{}"}]})
    assert response["batchItemFailures"] == []
    assert [r["status"] for r in response["results"]] == ["rejected", "rejected"]
    assert [request_id for _, request_id in issuer.seen] == [None, None]
    assert isinstance(issuer.seen[0][0], UnreadableEvent)


def test_each_unreadable_record_is_named_by_its_own_index() -> None:
    # Found by `make fuzz` (docs/FUZZ.md) in {"Records": [[null], 1895, null, null]}.
    response, _ = run({"Records": [None, None]})
    assert [r["problems"][0] for r in response["results"]] == [
        "Records[0] must be an object; got null.", "Records[1] must be an object; got null."]


@pytest.mark.parametrize(
    ("records", "expected"),
    [("x", "Records must be a list of SQS records; got a string ('x')"),
     ({}, "Records must be a list of SQS records; got an object with 0 fields")],
)
def test_records_that_are_not_a_list_are_one_rejection(records: object, expected: str) -> None:
    response, _ = run({"Records": records})
    (result,) = response["results"]
    assert response["batchItemFailures"] == []
    assert expected in result["problems"][0]


def test_an_empty_batch_does_nothing() -> None:
    response, issuer = run({"Records": []})
    assert response == {"results": [], "batchItemFailures": []}
    assert issuer.seen == []


def test_eventbridge_event_id_is_the_request_id() -> None:
    event = {"version": "0", "id": "evt-1", "detail-type": "wildcert.certificate.requested",
             "source": "ops", "detail": {"then": "issued"}}
    response, issuer = run(event)
    assert response["status"] == "issued"
    assert issuer.seen == [({"then": "issued"}, "evt-1")]


def test_eventbridge_event_without_detail_is_rejected() -> None:
    response, issuer = run({"id": "evt-2", "detail-type": "x", "source": "ops"})
    assert response["status"] == "rejected"
    assert "has no 'detail'" in response["problems"][0]
    assert issuer.seen[0][1] == "evt-2"


def test_direct_request_has_no_request_id_and_failures_are_raised() -> None:
    response, issuer = run({"then": "issued", "id": "not-an-event-id"})
    assert response["status"] == "issued"
    assert issuer.seen == [({"then": "issued", "id": "not-an-event-id"}, None)]
    with pytest.raises(StageFailure):
        run({"then": "rate-limited"})
    with pytest.raises(StageFailure):
        run({"detail-type": "wildcert.certificate.requested", "source": "ops",
             "detail": {"then": "fail"}})


@pytest.mark.parametrize("event", [None, [], "x", 5, [{"domains": ["example.com"]}]])
def test_events_that_are_not_objects_are_rejected_as_requests(event: object) -> None:
    response, issuer = run(event)
    assert response["status"] == "rejected"
    assert issuer.seen == [(event, None)]


def test_each_envelope_says_who_is_asking() -> None:
    event = {"version": "0", "id": "evt-3", "detail-type": "wildcert.certificate.requested",
             "source": "wildcert.team.alpha", "account": "123456789012",
             "detail": {"then": "issued"}}
    _, issuer = run(event)
    assert issuer.requesters == [Requester("eventbridge", "123456789012",
                                           "wildcert.team.alpha", "evt-3")]
    _, issuer = run({"then": "issued"})
    assert issuer.requesters == [DIRECT]
    # The renewal queue acts for the certificate's owner; a whole EventBridge event in a
    # message is still that event's sender, held to its team's policy.
    wrapped = json.dumps({**event, "detail": {"then": "issued"}})
    # A record of any other queue says nothing about its sender: "other-queue", refused.
    beta = "arn:aws:sqs:eu-west-1:210987654321:beta-own"
    _, issuer = run({"Records": [record("issued", "m-1", queue=RENEWAL_QUEUE),
                                 {"eventSource": "aws:sqs", "messageId": "m-2",
                                  "eventSourceARN": RENEWAL_QUEUE, "body": wrapped},
                                 {"eventSource": "aws:sqs", "messageId": "m-3",
                                  "eventSourceARN": RENEWAL_QUEUE, "body": "not json"},
                                 record("issued", "m-4", queue=beta),
                                 {"eventSource": "aws:sqs", "messageId": "m-5",
                                  "eventSourceARN": beta, "body": wrapped},
                                 {"eventSource": "aws:sqs", "messageId": "m-6",
                                  "body": json.dumps({"then": "issued"})}]})
    assert issuer.requesters == [Requester("queue", event_id="m-1"),
                                 Requester("eventbridge", "123456789012",
                                           "wildcert.team.alpha", "evt-3"),
                                 Requester("queue", event_id="m-3"),
                                 Requester("other-queue", source=beta, event_id="m-4"),
                                 Requester("other-queue", source=beta, event_id="m-5"),
                                 Requester("other-queue", event_id="m-6")]
    # Without a renewal queue configured, no record is the renewal queue's.
    issuer = ScriptedIssuer()
    entry.issue_with(issuer, {"Records": [record("issued", "m-7", queue=RENEWAL_QUEUE)]},  # type: ignore[arg-type]
                     None)
    assert issuer.requesters == [Requester("other-queue", source=RENEWAL_QUEUE, event_id="m-7")]
