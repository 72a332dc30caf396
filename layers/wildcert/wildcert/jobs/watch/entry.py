"""The watch Lambda's entry."""

from __future__ import annotations

from typing import Any

from wildcert import runtime
from wildcert.adapters.bucket.archive import ArchivedKeys
from wildcert.jobs.over_inventory import run_over_inventory
from wildcert.jobs.watch.job import Watch, parse_watch_event


@runtime.logger.inject_lambda_context(log_event=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    return watch(event, context)


def watch(event: Any, context: Any) -> dict[str, Any]:
    """Refresh the CA's renewal windows, queue what they (or expiry) make due, report findings,
    delete expired archived private keys.

    Slack hears from the watch only when something is wrong; the summary is always returned.
    """
    def with_archive(**parts: Any) -> Watch:
        return Watch(**parts, archived_keys=ArchivedKeys(parts["certificates"].bucket))

    return run_over_inventory(event, context, "watch", parse_watch_event, with_archive,
                              always_post=False)
