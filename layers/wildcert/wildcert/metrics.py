"""wildcert's CloudWatch metrics, written into the log in the embedded metric format (EMF) by
Powertools Metrics: CloudWatch extracts them from the log, so no API call and no wait.

Each metric goes out at once with its own dimensions (a team's, or none), so metrics of
different teams never share a line. The template's alarms and dashboard read them in the
stack's namespace (METRICS_NAMESPACE).
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric

TEAMS_POLICY_BROKEN = "TeamsPolicyBroken"
DAYS_TO_SOONEST_EXPIRY = "DaysToSoonestExpiry"


def put(namespace: str | None, name: str, value: float, *, team: str | None = None,
        unit: MetricUnit = MetricUnit.Count) -> None:
    """One data point; with `team`, in that team's dimension (logic.fleet.OPERATORS for the
    certificates of no team). Without a namespace (METRICS_NAMESPACE unset): nothing."""
    if not namespace:
        return
    dimensions = {"team": team} if team is not None else None
    with single_metric(name=name, unit=unit, value=value, namespace=namespace,
                       default_dimensions=dimensions):
        pass
