"""template.yaml's Rules, evaluated offline as CloudFormation does before creating anything.

The rules keep the renewal schedule inside the shortest lifetime's renewal window; their
numbers must be the ones `logic.renewal` (and so the functions' own check at start) uses.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from wildcert.logic.renewal import longest_run_gap, schedule_problems

from .infra_template import load_sam
from .test_infra_invariants import PARAMETER_SETS

DAY = dt.timedelta(days=1)


def _value(node: Any, params: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_value(n, params) for n in node]
    if not isinstance(node, dict):
        return str(node)
    ((function, args),) = node.items()
    if function == "Ref":
        return params[args]
    if function == "Fn::Equals":
        left, right = _value(args, params)
        return left == right
    if function == "Fn::Not":
        (inner,) = _value(args, params)
        return not inner
    if function == "Fn::And":
        return all(_value(args, params))
    if function == "Fn::Or":
        return any(_value(args, params))
    if function == "Fn::Contains":
        allowed, value = _value(args, params)
        return value in allowed
    raise AssertionError(f"{function} is not a rule function CloudFormation accepts")


def failed_rules(sam: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """The AssertDescription of every failing assertion, as CloudFormation would refuse."""
    params = {name: str(given.get(name, spec.get("Default", "")))
              for name, spec in sam["Parameters"].items()}
    failed = []
    for rule in sam.get("Rules", {}).values():
        if "RuleCondition" in rule and not _value(rule["RuleCondition"], params):
            continue
        failed += [a["AssertDescription"] for a in rule["Assertions"]
                   if not _value(a["Assert"], params)]
    return failed


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_sam()


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_every_tested_parameter_set_passes_the_rules(sam: dict[str, Any], name: str) -> None:
    assert failed_rules(sam, PARAMETER_SETS[name]) == []


@pytest.mark.parametrize(("params", "needle"), [
    ({"ShortestLifetimeDays": 6}, "ShortestLifetimeDays 6: certificates renew with 3 days left"),
    ({"SweepIntervalDays": 31}, "sweeps must be at most 7.5 days apart"),  # the old monthly
    ({"ShortestLifetimeDays": 90, "SweepIntervalDays": 16}, "at most 15 days apart"),
    ({"AcmeProfile": "shortlived", "SweepIntervalDays": 1}, "set ShortestLifetimeDays to 6"),
    ({"AcmeProfile": "tlsserver", "ShortestLifetimeDays": 64}, "set ShortestLifetimeDays to 45"),
])
def test_a_schedule_too_sparse_for_the_lifetime_is_refused(
        sam: dict[str, Any], params: dict[str, Any], needle: str) -> None:
    (description,) = failed_rules(sam, params)
    assert needle in description


def test_short_lived_deployment_passes(sam: dict[str, Any]) -> None:
    params = {"AcmeProfile": "shortlived", "ShortestLifetimeDays": 6, "SweepIntervalDays": 1,
              "SweepSchedule": "cron(0 6 * * ? *)"}
    assert failed_rules(sam, params) == []


def test_rules_allow_exactly_what_the_functions_accept(sam: dict[str, Any]) -> None:
    """For every allowed lifetime, the sweep intervals the rules let through are those the
    settings check accepts (whole days), and the watch's 12 hours always fit."""
    lifetimes = sam["Parameters"]["ShortestLifetimeDays"]["AllowedValues"]
    for lifetime in lifetimes:
        accepted = [days for days in range(1, 367)
                    if not failed_rules(sam, {"ShortestLifetimeDays": lifetime,
                                              "SweepIntervalDays": days})]
        longest = int(longest_run_gap(lifetime * DAY) / DAY)
        assert accepted == list(range(1, longest + 1)), lifetime
        assert schedule_problems(lifetime * DAY, 1 / 3, sweep=longest * DAY,
                                 watch=dt.timedelta(hours=12)) == []
