"""The issuer Lambda's entry: one request per direct or EventBridge invocation, a batch per SQS
delivery; each request goes through the issuance pipeline, with who sent it (`Requester`):
a team's EventBridge event, the renewal queue, or a direct invoke by the operators."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, SQSRecord

from wildcert import runtime
from wildcert.adapters import aws
from wildcert.jobs.issue.pipeline import Issuer, Services, StageFailure
from wildcert.logic.request import DIRECT, Requester, is_eventbridge
from wildcert.logic.request.envelope import (
    eventbridge_detail,
    eventbridge_requester,
    message_id,
    queue_requester,
    sqs_request,
    unreadable_records,
)
from wildcert.settings import Settings

MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS's limit
BUSY_RETRY_SECONDS = 60.0


class Redeliver(Exception):
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
    issuer = Issuer(Services(settings, runtime.deadline(context), teams=teams),
                    runtime.channels(settings, teams))
    return issue_with(issuer, event, context)


def issue_with(issuer: Issuer, event: Any, context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and "Records" in event:
        return issue_batch(issuer, event, context)
    if is_eventbridge(event):
        bridge = EventBridgeEvent(event)
        requester = eventbridge_requester(bridge)
        # EventBridge redelivers with the same event id: it makes a forced request idempotent.
        return issuer.handle(eventbridge_detail(bridge), requester.event_id,
                             requester=requester).as_dict()
    return issuer.handle(event, None, requester=DIRECT).as_dict()


def issue_batch(issuer: Issuer, event: dict[str, Any], context: Any) -> dict[str, Any]:
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
    positions = {id(record): index for index, record in enumerate(records)}
    results: list[dict[str, Any]] = []
    unreportable: list[Exception] = []

    def record_handler(record: SQSRecord) -> None:
        request_id = message_id(record)
        try:
            results.append(issue_record(issuer, record, positions[id(record.raw_event)]))
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


def issue_record(issuer: Issuer, record: SQSRecord, index: int) -> dict[str, Any]:
    """The outcome of one SQS record's request; raises if the message must come back later."""
    try:
        outcome = issuer.handle(sqs_request(record, index), message_id(record),
                                requester=queue_requester(record)).as_dict()
    except StageFailure as failure:
        if failure.retry_after:
            delay_redelivery(record, failure.retry_after)
        raise
    if outcome["status"] == "busy":
        delay_redelivery(record, outcome.get("retry_after") or BUSY_RETRY_SECONDS)
        raise Redeliver(outcome)
    return outcome


def delay_redelivery(record: SQSRecord, seconds: float) -> None:
    """Hide a failed message until the CA (or the lease holder) said to come back.

    Without this SQS redelivers after the queue's visibility timeout, and a rate-limited
    CA would burn the message's receive count and send it to the dead-letter queue.
    """
    queue_url = queue_url_from_arn(str(record.get("eventSourceARN") or ""))
    receipt = record.get("receiptHandle")
    if not queue_url or not isinstance(receipt, str):
        return
    try:
        aws.client("sqs").change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt,
            VisibilityTimeout=int(min(max(seconds, 1), MAX_VISIBILITY_SECONDS)),
        )
    except Exception as exc:  # the default visibility timeout still applies
        runtime.logger.warning("could not delay message %s: %s", message_id(record), exc)


def queue_url_from_arn(arn: str) -> str | None:
    # Not SQSRecord.queue_url: that one ignores the SQS endpoint the deployment configures.
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        return None
    region, account, name = parts[3], parts[4], parts[5]
    endpoint = aws.client("sqs").meta.endpoint_url.rstrip("/")
    if "amazonaws.com" in endpoint:
        return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
    return f"{endpoint}/{account}/{name}"
