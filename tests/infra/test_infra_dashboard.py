"""The dashboard and the metric alarm read the metrics the functions put, in their namespace:
a renamed metric or namespace would leave a graph empty without any error."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from wildcert import metrics
from wildcert.jobs.issue.telling import OUTCOME_METRICS

from .infra_template import STACK, load_sam
from .test_infra_invariants import resolved_stack


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return resolved_stack({}, load_sam())


def test_the_dashboard_shows_every_metric_the_functions_put(stack: dict[str, Any]) -> None:
    namespace = stack["IssuerFunction"]["Properties"]["Environment"]["Variables"][
        "METRICS_NAMESPACE"]
    assert namespace == f"wildcert/{STACK}"
    body = json.loads(stack["FleetDashboard"]["Properties"]["DashboardBody"])
    expressions = [m["expression"] for w in body["widgets"] if w["type"] == "metric"
                   for line in w["properties"]["metrics"] for m in line]
    searched = {name for e in expressions for name in re.findall(r'MetricName="(\w+)"', e)}
    assert searched == {metrics.DAYS_TO_SOONEST_EXPIRY, *OUTCOME_METRICS.values()}
    assert all(e.startswith(f"SEARCH('{{{namespace},team}} ") for e in expressions)
    (alarms,) = [w["properties"]["alarms"] for w in body["widgets"] if w["type"] == "alarm"]
    assert "<TeamsPolicyBrokenAlarm.Arn>" in alarms


def test_the_policy_alarm_reads_the_issuers_metric(stack: dict[str, Any]) -> None:
    alarm = stack["TeamsPolicyBrokenAlarm"]["Properties"]
    variables = stack["IssuerFunction"]["Properties"]["Environment"]["Variables"]
    assert alarm["Namespace"] == variables["METRICS_NAMESPACE"]
    assert alarm["MetricName"] == metrics.TEAMS_POLICY_BROKEN
    assert "Dimensions" not in alarm  # the issuer puts it without any
