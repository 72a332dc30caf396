"""Lambda event handling: unwrap the event, run the library, shape the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wildcert import aws, runtime
from wildcert.issuer import Issuer, Services, StageFailure
from wildcert.request import unwrap_records
from wildcert.settings import Settings


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


def _renewal_parts(settings: Settings, context: Any) -> dict[str, Any]:
    """What the sweep and the watch share: the bucket, the CA's windows, the queue."""
    from wildcert import aws
    from wildcert.acme_client import RenewalInfoReader
    from wildcert.fanout import RenewalQueue
    from wildcert.inventory import Bucket

    deadline = runtime.deadline(context)
    queue_url = settings.renewal_queue_url
    return {
        "settings": settings,
        "bucket": Bucket(aws.client("s3"), settings.bucket, settings.kms_key_id),
        "reader": RenewalInfoReader(settings.directory_url, deadline=deadline,
                                    ca_bundle=settings.acme_ca_bundle),
        "queue": RenewalQueue(aws.client("sqs"), queue_url, deadline) if queue_url else None,
    }


def _renewal_job(event: Any, context: Any, job: str, parse: Callable[[Any], Any],
                 runner: Callable[..., Any], *, always_post: bool) -> dict[str, Any]:
    """The sweep's and the watch's shape: validate the event, run over the inventory, report.

    A rejected event is answered (and posted) without touching anything. A queueing failure is
    reported, not raised, because Lambda's retry of a whole run would queue the rest twice.
    """
    from wildcert import slack
    from wildcert.inventory import InventoryError
    from wildcert.sweep import EventRejected

    settings = Settings.from_env()
    notifier = runtime.notifier(settings)
    try:
        parsed = parse(event)
    except EventRejected as rejected:
        notifier.post(slack.event_rejected(job, rejected.problems))
        return {"status": "rejected", "problems": list(rejected.problems),
                "message": "; ".join(rejected.problems)}
    try:
        report = runner(**_renewal_parts(settings, context)).run(parsed)
    except InventoryError as error:
        notifier.post(slack.failed(job, [], "inventory", str(error)))
        raise
    if always_post or report.worth_posting:
        notifier.post(report.message())
    return dict(report.as_dict())


def sweep(event: Any, context: Any) -> dict[str, Any]:
    """Queue a renewal for every stored certificate due before the next sweep, and any forced.

    The summary goes to Slack once per sweep, whatever it found, and is returned.
    """
    from wildcert.sweep import Sweep, parse_sweep_event

    return _renewal_job(event, context, "renewal sweep", parse_sweep_event, Sweep,
                        always_post=True)


def watch(event: Any, context: Any) -> dict[str, Any]:
    """Refresh the CA's renewal windows, queue what they (or expiry) make due, report findings.

    Slack hears from the watch only when something is wrong; the summary is always returned.
    """
    from wildcert.monitor import Watch, parse_watch_event

    return _renewal_job(event, context, "watch", parse_watch_event, Watch, always_post=False)
