"""The issuer Lambda's entry: one request per direct or EventBridge invocation, a batch per SQS
delivery; each request goes through the issuance pipeline, with who sent it (`Requester`):
a team's EventBridge event, the renewal queue, or a direct invoke by the operators."""

from __future__ import annotations

import itertools
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, SQSRecord

from wildcert import container, runtime
from wildcert.adapters import sqs
from wildcert.deadline import Deadline
from wildcert.errors import WildcertError
from wildcert.jobs.issue.outcome import StageFailure
from wildcert.jobs.issue.pipeline import Issuer
from wildcert.jobs.issue.wiring import Services
from wildcert.logic.request import DIRECT, Requester, UnreadableEvent, is_eventbridge
from wildcert.logic.request.envelope import (
    eventbridge_detail,
    eventbridge_requester,
    message_id,
    queue_requester,
    sqs_request,
    unreadable_records,
)
from wildcert.logic.teams import Teams
from wildcert.settings import Settings

BUSY_RETRY_SECONDS = 60.0


class Redeliver(WildcertError):
    """A message to hand back to SQS: another attempt holds the certificate's lease."""

    def __init__(self, outcome: dict[str, Any]) -> None:
        super().__init__(outcome.get("reason") or "busy")
        self.outcome = outcome  # still reported in `results`


@runtime.logger.inject_lambda_context(log_event=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    return issue(event, context)


def issue(event: Any, context: Any) -> dict[str, Any]:
    """Issue (or renew) one certificate per request carried by the event.

    Direct and EventBridge invocations carry one request: its outcome is returned, and a
    failure is raised so Lambda's retries and on-failure destination see it. SQS batches
    report failed messages in `batchItemFailures`, so only those are redelivered.
    """
    settings = Settings.from_env()
    teams = runtime.teams(settings)
    channels = runtime.channels(settings, teams)
    runtime.tell_policy_problems(teams, channels, settings)
    issuer = Issuer(services(settings, runtime.deadline(context), teams), channels)
    try:
        return issue_with(issuer, event, context, renewal_queue=settings.renewal_queue_arn)
    finally:
        # An outcome told to no one (busy, skipped) never asked for the operators' webhook.
        channels.operators.settle()


def services(settings: Settings, deadline: Deadline, teams: Teams) -> Services:
    """The outside systems: the real ones, or what the container was given instead."""
    outside = container.current().outside
    if outside is not None:
        made: Services = outside.services(settings, deadline, teams)
        return made
    return Services(settings, deadline, teams=teams)


def issue_with(issuer: Issuer, event: Any, context: Any,
               renewal_queue: str | None = None) -> dict[str, Any]:
    """renewal_queue: the ARN of the only queue whose records are taken (RENEWAL_QUEUE_ARN)."""
    if isinstance(event, dict) and "Records" in event:
        return issue_batch(issuer, event, context, renewal_queue)
    if is_eventbridge(event):
        bridge = EventBridgeEvent(event)
        requester = eventbridge_requester(bridge)
        detail = eventbridge_detail(bridge)
        if isinstance(detail, UnreadableEvent):  # what the catch rule brings: say what it is
            runtime.logger.warning("%s (sent by %s)", detail.problem, requester)
        # EventBridge redelivers with the same event id: it makes a forced request idempotent.
        return issuer.handle(detail, requester.event_id, requester=requester).as_dict()
    return issuer.handle(event, None, requester=DIRECT).as_dict()


def issue_batch(issuer: Issuer, event: dict[str, Any], context: Any,
                renewal_queue: str | None = None) -> dict[str, Any]:
    """One request per SQS record: `results` holds every outcome returned (a busy one too),
    `batchItemFailures` the messages SQS must deliver again."""
    records = event["Records"]
    if not isinstance(records, list):
        queue = Requester("queue")
        return {"results": [issuer.handle(unreadable_records(records), None,
                                          requester=queue).as_dict()],
                "batchItemFailures": []}
    if not records:
        return {"results": [], "batchItemFailures": []}
    # The processor hands the records over one by one, in order: the count is each one's index
    # (looking it up by id() would give equal records, such as two nulls, the same index).
    positions = itertools.count()
    results: list[dict[str, Any]] = []
    unreportable: list[Exception] = []

    def record_handler(record: SQSRecord) -> None:
        request_id = message_id(record)
        try:
            results.append(issue_record(issuer, record, next(positions), renewal_queue))
        except Exception as failure:
            if isinstance(failure, Redeliver):
                results.append(failure.outcome)
            elif isinstance(failure, StageFailure):
                runtime.logger.error("message %s failed: %s", request_id, failure)
            else:
                runtime.logger.exception("message %s failed", request_id)
            if request_id is not None:
                raise
            # batchItemFailures cannot name it: only a failed invocation brings it back.
            unreportable.append(failure)

    processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(event, record_handler, processor, context)
    if unreportable:
        raise unreportable[0]
    return {"results": results, "batchItemFailures": response["batchItemFailures"]}


def issue_record(issuer: Issuer, record: SQSRecord, index: int,
                 renewal_queue: str | None = None) -> dict[str, Any]:
    """The outcome of one SQS record's request; raises if the message must come back later,
    unless it was sent anew (a wait that would have spent its receives)."""
    try:
        outcome = issuer.handle(sqs_request(record, index), sqs.request_id_of(record),
                                requester=queue_requester(record, renewal_queue)).as_dict()
    except StageFailure as failure:
        if failure.retry_after:
            sent_as = sqs.come_back(record, failure.retry_after, waiting=failure.deferred)
            if sent_as is not None:
                return {**(failure.outcome or {}), "status": "deferred", "sent_as": sent_as}
        raise
    if outcome["status"] == "busy":
        sent_as = sqs.come_back(record, outcome.get("retry_after") or BUSY_RETRY_SECONDS,
                            waiting=True)
        if sent_as is not None:
            return {**outcome, "sent_as": sent_as}
        raise Redeliver(outcome)
    return outcome
