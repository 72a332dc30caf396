"""The renewal sweep Lambda's entry."""

from __future__ import annotations

from typing import Any

from wildcert import runtime
from wildcert.jobs.over_inventory import run_over_inventory
from wildcert.jobs.sweep.job import Sweep, parse_sweep_event


@runtime.logger.inject_lambda_context(log_event=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    return sweep(event, context)


def sweep(event: Any, context: Any) -> dict[str, Any]:
    """Queue a renewal for every stored certificate due before the next sweep, and any forced.

    The summary goes to Slack once per sweep, whatever it found, and is returned.
    """
    return run_over_inventory(event, context, "renewal sweep", parse_sweep_event, Sweep,
                        always_post=True)
