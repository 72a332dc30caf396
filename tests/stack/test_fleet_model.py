"""bench/fleet_model.py, the paper model of docs/FLEET.md: its arithmetic, checked by hand.

Pure (no stack); test_route53_limit.py checks its GetChange count against wildcert itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.fleet_model import (
    ARM64_GB_SECOND,
    Fleet,
    Renewal,
    hours_to_renew_all,
    insync_wait,
    measured,
    monthly_cost,
    poll_times,
    throughput,
)


def test_getchange_schedule_and_what_a_slow_change_costs() -> None:
    assert poll_times(130) == [1, 3, 7, 15, 30, 45, 60, 75, 90, 105, 120]
    assert insync_wait(60) == (60, 7)  # seen at the poll right on time
    assert insync_wait(61) == (75, 8)  # ... or at the next one, up to 15 s later
    assert insync_wait(120) == (120, 11)
    # The cleanup's 15 s budget: asked at 1, 3, 7 and 15 s, then it gives up.
    assert insync_wait(90, budget=15) == (15, 4)
    assert insync_wait(5, budget=15) == (7, 3)


def test_a_renewal_and_the_limit_that_binds() -> None:
    today = Renewal(insync=90, other_seconds=15, measured_route53=2.0)
    assert today.seconds == 15 + 90 + 15
    assert today.route53_calls == 2 + 9 + 4 + 2  # writes, GetChange, GetHostedZone
    rates = throughput(Fleet(workers=3), today)
    assert rates["workers"] == pytest.approx(3 * 3600 / 120)
    assert rates["route53"] == pytest.approx(10 * 3600 / 17)
    assert hours_to_renew_all(Fleet(workers=3), today) == (pytest.approx(5000 / 90), "workers")
    # Not exempt, 10 workers outpace 100 orders an hour: 300 at their pace, then 100/h.
    strict = Fleet(workers=10, ari_exempt=False)
    hours, binding = hours_to_renew_all(strict, today)
    assert binding == "ca_orders"
    assert hours == pytest.approx(300 / (10 * 3600 / 120) + 4700 / 100)


def test_monthly_cost_at_the_stated_prices() -> None:
    fleet = Fleet(certificates=6000, lifetime_days=90, memory_gb=0.5)
    assert fleet.renewals_per_month == pytest.approx(6000 * 30.4 / 60)
    renewal = Renewal(insync=60, other_seconds=30, cleanup_budget=None)  # 30 + 60 + 60 s
    expected = fleet.renewals_per_month * (150 * 0.5 * ARM64_GB_SECOND + 0.2 / 1e6)
    assert monthly_cost(fleet, renewal) == pytest.approx(expected)


def test_measured_calls_come_from_the_fleet_run(tmp_path: Path) -> None:
    summary = {"renewed": 4, "route53": {"calls": {
        "ChangeResourceRecordSets": 8, "ListHostedZones": 1, "GetChange": 40}}}
    bare = tmp_path / "fleet.json"
    bare.write_text(json.dumps(summary))
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"fleet": {"full": summary}}))
    assert measured(bare) == measured(results) == 9 / 4  # GetChange is the model's own
    assert measured(tmp_path / "missing.json") is None
