"""What the sweep and the watch share: validate the event, run over the inventory, report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wildcert import runtime
from wildcert.settings import Settings


def renewal_parts(settings: Settings, context: Any) -> dict[str, Any]:
    """What the sweep and the watch share: the bucket, the CA's windows, the queue."""
    from wildcert.adapters import aws
    from wildcert.adapters.acme import RenewalInfoReader
    from wildcert.adapters.bucket.inventory import ManagedCertificates
    from wildcert.adapters.bucket.objects import Bucket
    from wildcert.adapters.sqs import RenewalQueue

    deadline = runtime.deadline(context)
    queue_url = settings.renewal_queue_url
    return {
        "settings": settings,
        "bucket": ManagedCertificates(
            Bucket(aws.client("s3"), settings.bucket, settings.kms_key_id)),
        "reader": RenewalInfoReader(settings.directory_url, deadline=deadline,
                                    ca_bundle=settings.acme_ca_bundle),
        "queue": RenewalQueue(aws.client("sqs"), queue_url, deadline) if queue_url else None,
    }


def run_over_inventory(event: Any, context: Any, job: str, parse: Callable[[Any], Any],
                 runner: Callable[..., Any], *, always_post: bool) -> dict[str, Any]:
    """The sweep's and the watch's shape: validate the event, run over the inventory, report.

    A rejected event is answered (and posted) without touching anything. A queueing failure is
    reported, not raised, because Lambda's retry of a whole run would queue the rest twice.
    """
    from wildcert.adapters import slack
    from wildcert.adapters.bucket.objects import StorageError
    from wildcert.jobs.sweep.job import EventRejected

    settings = Settings.from_env()
    notifier = runtime.notifier(settings)
    try:
        parsed = parse(event)
    except EventRejected as rejected:
        notifier.post(slack.event_rejected(job, rejected.problems))
        return {"status": "rejected", "problems": list(rejected.problems),
                "message": "; ".join(rejected.problems)}
    try:
        report = runner(**renewal_parts(settings, context)).run(parsed)
    except StorageError as error:
        notifier.post(slack.failed(job, [], "inventory", str(error)))
        raise
    if always_post or report.worth_posting:
        notifier.post(report.message())
    return dict(report.as_dict())
