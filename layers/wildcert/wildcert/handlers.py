"""Lambda event handling: unwrap the event, run the library, shape the answer."""

from __future__ import annotations

from typing import Any

from wildcert import runtime
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
            continue
        results.append(result)
        if result["status"] == "busy":  # redelivered after the visibility timeout
            failures.append({"itemIdentifier": record.message_id or ""})
    return {"results": results, "batchItemFailures": failures}
