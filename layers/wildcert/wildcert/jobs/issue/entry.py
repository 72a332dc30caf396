"""The issuer Lambda's entry: one request per direct or EventBridge invocation, a batch per SQS
delivery; each request goes through the issuance pipeline."""

from __future__ import annotations

from typing import Any

from wildcert import runtime
from wildcert.adapters import aws
from wildcert.jobs.issue.pipeline import Issuer, Services, StageFailure
from wildcert.logic.request import unwrap_records
from wildcert.settings import Settings


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
    issuer = Issuer(Services(settings, runtime.deadline(context)), runtime.notifier(settings))
    records = unwrap_records(event)
    if not records or records[0].source != "sqs":
        # EventBridge redelivers with the same event id: it makes a forced request idempotent.
        event_id = event.get("id") if isinstance(event, dict) else None
        request_id = event_id if isinstance(event_id, str) else None
        payload = records[0].payload if records else event
        return issuer.handle(payload, request_id).as_dict()
    results: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    for record in records:
        try:
            result = issuer.handle(record.payload, record.message_id).as_dict()
        except StageFailure as failure:
            runtime.logger.error("message %s failed: %s", record.message_id, failure)
            failures.append({"itemIdentifier": record.message_id or ""})
            if failure.retry_after:
                delay_redelivery(event, record.message_id, failure.retry_after)
            continue
        results.append(result)
        if result["status"] == "busy":  # redelivered after the visibility timeout
            failures.append({"itemIdentifier": record.message_id or ""})
            delay_redelivery(event, record.message_id, result.get("retry_after") or 60)
    return {"results": results, "batchItemFailures": failures}


MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS's limit


def delay_redelivery(event: dict[str, Any], message_id: str | None, seconds: float) -> None:
    """Hide a failed message until the CA (or the lease holder) said to come back.

    Without this SQS redelivers after the queue's visibility timeout, and a rate-limited
    CA would burn the message's receive count and send it to the dead-letter queue.
    """
    for raw in event.get("Records", []):
        if not isinstance(raw, dict) or raw.get("messageId") != message_id:
            continue
        queue_url = queue_url_from_arn(str(raw.get("eventSourceARN", "")))
        receipt = raw.get("receiptHandle")
        if not queue_url or not isinstance(receipt, str):
            return
        try:
            aws.client("sqs").change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=receipt,
                VisibilityTimeout=int(min(max(seconds, 1), MAX_VISIBILITY_SECONDS)),
            )
        except Exception as exc:  # the default visibility timeout still applies
            runtime.logger.warning("could not delay message %s: %s", message_id, exc)
        return


def queue_url_from_arn(arn: str) -> str | None:
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        return None
    region, account, name = parts[3], parts[4], parts[5]
    endpoint = aws.client("sqs").meta.endpoint_url.rstrip("/")
    if "amazonaws.com" in endpoint:
        return f"https://sqs.{region}.amazonaws.com/{account}/{name}"
    return f"{endpoint}/{account}/{name}"
