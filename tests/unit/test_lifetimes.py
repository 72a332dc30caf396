"""A shortened run of tests/unit/lifetimes.py: the real sweep, watch and issuer decisions over
virtual months, for every lifetime, with and without ARI, through every disruption."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit import lifetimes as sim

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def reduced(lifetime: float, scenarios: tuple[str, ...] = sim.SCENARIOS, *,
            deployment: sim.Deployment | None = None, ari: bool | None = None,
            certificates: int = 3) -> list[sim.Outcome]:
    """Long enough for every certificate to be renewed at least twice."""
    chosen = sim.cases([lifetime], scenarios, certificates=certificates,
                       days=max(30.0, 2.2 * lifetime),
                       deployment=(lambda _: deployment) if deployment else
                       sim.Deployment.for_lifetime)
    return sim.run([c for c in chosen if ari in (None, c.ari)])


@pytest.mark.parametrize("lifetime", sim.LIFETIMES)
def test_no_certificate_expires_on_the_derived_schedule(lifetime: float) -> None:
    deployment = sim.Deployment.for_lifetime(lifetime * DAY)
    assert deployment.settings().schedule_problems() == []
    window = sim.renewal_window(lifetime * DAY)
    for outcome in reduced(lifetime):
        case = f"{lifetime} d, ARI {outcome.ari}, {outcome.scenario}"
        assert outcome.renewals >= 2 * outcome.certificates, case
        assert outcome.expired == 0, case
        assert outcome.hours_without_valid == 0, case
        if outcome.scenario == "watch-down":
            # the sweep alone: at most one missed sweep interval past the renewal point
            assert outcome.late_hours <= deployment.sweep / HOUR, case
        else:  # the disruption margin absorbs the outage and the missed day
            assert outcome.late_hours == 0, case
        if not outcome.ari:  # the rule's promise: half the renewal window is left, at least
            assert outcome.min_left_days >= window / DAY / 2, case
        if outcome.scenario == "revocation":
            assert outcome.revocation_hours is not None, case
            assert outcome.revocation_hours <= sim.REVOKE_WITHIN / HOUR, case


def test_a_sweep_too_sparse_for_the_lifetime_lets_certificates_expire() -> None:
    """The rule, shown failing: 6-day certificates with the default weekly sweep and no watch.
    The settings would have refused this deployment at start."""
    weekly = sim.Deployment(shortest=6 * DAY, sweep=7 * DAY)
    assert weekly.settings().schedule_problems()
    (too_sparse,) = reduced(6, ("watch-down",), deployment=weekly, ari=False)
    assert too_sparse.expired > 0 and too_sparse.hours_without_valid > 0
    (daily,) = reduced(6, ("watch-down",), ari=False)
    assert daily.expired == 0


def test_the_old_monthly_sweep_cannot_survive_a_missed_sweep_of_45_day_certificates() -> None:
    monthly = sim.Deployment(shortest=45 * DAY, sweep=31 * DAY)
    assert "SWEEP_INTERVAL_DAYS=31" in monthly.settings().schedule_problems()[0]
    (outcome,) = reduced(45, ("watch-down",), deployment=monthly, ari=False, certificates=6)
    assert outcome.expired > 0


def test_ari_certificates_outlive_a_stopped_watch() -> None:
    """With the watch stopped, the sweep follows the lifetime threshold for certificates whose
    window nobody re-reads; it used to wait until they would expire before the next sweep,
    leaving 6-day certificates minutes to spare after one missed sweep."""
    (outcome,) = reduced(6, ("watch-down",), ari=True)
    assert outcome.expired == 0
    assert outcome.min_left_days >= 2  # the renewal window (3 days) less one missed sweep


def test_the_documented_command_prints_the_table_docs_renewal_md_carries() -> None:
    """docs/RENEWAL.md shows `python -m tests.unit.lifetimes` and its table: the command runs
    and prints that table's header (a short span here: the full year is 20 s of CPU)."""
    done = subprocess.run([sys.executable, "-m", "tests.unit.lifetimes", "--certificates", "1",
                           "--days", "3"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    header = done.stdout.splitlines()[0]
    renewal_md = (ROOT / "docs" / "RENEWAL.md").read_text().splitlines()
    assert header in renewal_md
    assert len(done.stdout.splitlines()) == 2 + len(sim.LIFETIMES) * 2 * len(sim.SCENARIOS)
