"""The watch Lambda's entry."""

from __future__ import annotations

from typing import Any

from wildcert import runtime
from wildcert.jobs.over_inventory import run_over_inventory


@runtime.logger.inject_lambda_context(log_event=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    return watch(event, context)


def watch(event: Any, context: Any) -> dict[str, Any]:
    """Refresh the CA's renewal windows, queue what they (or expiry) make due, report findings.

    Slack hears from the watch only when something is wrong; the summary is always returned.
    """
    from wildcert.jobs.watch.job import Watch, parse_watch_event

    return run_over_inventory(event, context, "watch", parse_watch_event, Watch, always_post=False)
