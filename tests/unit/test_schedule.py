"""Schedules that fit the shortest lifetime, and the sweep standing in for a stopped watch."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.unit.test_over_inventory import FakeCertificates, NoRenewalInfo
from tests.unit.test_sweep import NOW, entry, window
from tests.unit.test_sweep_fanout import FakeSqs, no_sleep_deadline
from wildcert.adapters.sqs import RenewalQueue
from wildcert.jobs.sweep.job import Sweep, SweepEvent, sweep_horizons, unfollowed_windows
from wildcert.logic import ari
from wildcert.logic.renewal import (
    Horizons,
    Lifetime,
    decide,
    longest_run_gap,
    renewal_window,
    schedule_problems,
)
from wildcert.settings import Settings, SettingsError

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
REQUIRED = {"CERT_BUCKET": "certs", "KMS_KEY_ID": "key", "ALLOWED_ZONES": "Z1"}


# -- the rule: two runs inside the renewal window ----------------------------------------------


@pytest.mark.parametrize(("lifetime", "window", "gap"), [
    (90, 30, 15), (64, 64 / 3, 64 / 6), (45, 15, 7.5),
    (6, 3, 1.5),  # under ten days: renewed at half the lifetime, not a third
])
def test_longest_gap_is_half_the_renewal_window(lifetime: float, window: float,
                                                gap: float) -> None:
    assert renewal_window(lifetime * DAY) / DAY == pytest.approx(window)
    assert longest_run_gap(lifetime * DAY) / DAY == pytest.approx(gap)


def test_template_defaults_fit_and_a_monthly_sweep_does_not() -> None:
    assert schedule_problems(45 * DAY, 1 / 3, sweep=7 * DAY, watch=12 * HOUR) == []
    assert schedule_problems(6 * DAY, 1 / 3, sweep=1 * DAY, watch=12 * HOUR) == []
    (problem,) = schedule_problems(45 * DAY, 1 / 3, sweep=31 * DAY, watch=12 * HOUR)
    assert problem == (
        "SWEEP_INTERVAL_DAYS=31 is too long for SHORTEST_LIFETIME_DAYS=45: certificates renew "
        "with 15 days left, so two runs must fall in that window (sweeps at most 7.5 days "
        "apart)")


def test_settings_refuse_a_schedule_too_sparse_for_the_shortest_lifetime() -> None:
    env = {**REQUIRED, "SHORTEST_LIFETIME_DAYS": "6", "SWEEP_INTERVAL_DAYS": "7",
           "WATCH_INTERVAL_HOURS": "48"}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    text = str(raised.value)
    assert "SWEEP_INTERVAL_DAYS=7 is too long for SHORTEST_LIFETIME_DAYS=6" in text
    assert "sweeps at most 1.5 days apart" in text
    assert "WATCH_INTERVAL_HOURS=48 is too long for SHORTEST_LIFETIME_DAYS=6" in text
    assert "watches at most 36 hours apart" in text
    fits = Settings.from_env({**env, "SWEEP_INTERVAL_DAYS": "1", "WATCH_INTERVAL_HOURS": "12"})
    assert fits.shortest_lifetime_days == 6.0 and fits.schedule_problems() == []


def test_a_smaller_fraction_shrinks_the_window_the_schedule_must_fit() -> None:
    env = {**REQUIRED, "SHORTEST_LIFETIME_DAYS": "45", "SWEEP_INTERVAL_DAYS": "7"}
    assert Settings.from_env(env).sweep_interval_days == 7.0
    with pytest.raises(SettingsError, match=r"renew with 4\.5 days left.*at most 2\.25 days"):
        Settings.from_env({**env, "RENEW_AT_REMAINING_FRACTION": "0.1"})


def test_without_a_declared_lifetime_nothing_is_checked() -> None:
    # The issuer reads the same variables and must never fail over the sweep's schedule.
    settings = Settings.from_env({**REQUIRED, "SWEEP_INTERVAL_DAYS": "300"})
    assert settings.shortest_lifetime_days is None and settings.schedule_problems() == []


# -- ARI nobody follows ------------------------------------------------------------------------


def life(age_days: float, days: float) -> Lifetime:
    start = NOW - age_days * DAY
    return Lifetime(start, start + days * DAY)


def test_unfollowed_window_lets_the_threshold_decide_too() -> None:
    """A 45-day certificate at day 25: the threshold (day 30) comes before the next sweep,
    the CA's moment (day 33) after it."""
    lifetime, chosen = life(25, 45), NOW + 8 * DAY
    horizons = Horizons(threshold=7 * DAY, ari=12 * HOUR)
    followed = decide(lifetime, NOW, horizons=horizons, ari_selected=chosen,
                      ari_end=chosen + DAY)
    assert not followed.due and "renewal window" in followed.detail
    alone = decide(lifetime, NOW, horizons=horizons.unfollowed(), ari_selected=chosen,
                   ari_end=chosen + DAY)
    assert alone.due and alone.reason == "due" and alone.needs_force
    assert "no watch follows the CA's window" in alone.detail


def test_the_sweep_alone_never_follows_windows() -> None:
    base = Settings(bucket="b", kms_key_id="k", allowed_zone_ids=("Z1",),
                    sweep_interval_days=7)
    assert sweep_horizons(base) == Horizons(7 * DAY, 7 * DAY, ari_followed=False)
    watched = Settings(bucket="b", kms_key_id="k", allowed_zone_ids=("Z1",),
                       sweep_interval_days=7, watch_interval_hours=12)
    assert sweep_horizons(watched) == Horizons(7 * DAY, 12 * HOUR)


def checked(hours_ago: float) -> dict[str, str]:
    """An ARI block whose next check was due `hours_ago`; the CA's moment 8 days away."""
    chosen = NOW + 8 * DAY
    return ari.RenewalInfo(start=chosen - DAY, end=chosen + DAY, selected=chosen,
                           next_check=NOW - hours_ago * HOUR).as_json()


WATCHED = Settings(bucket="certs", kms_key_id="key", allowed_zone_ids=("Z1",),
                   renewal_queue_url="https://sqs/q.fifo", sweep_interval_days=7,
                   watch_interval_hours=12, shortest_lifetime_days=45)


def test_windows_the_watch_left_behind_are_unfollowed() -> None:
    entries = [
        entry("fresh", ari_block=checked(-3), ari_id="a.1"),  # asked to be asked in 3 h
        entry("one-watch-late", ari_block=checked(12.5), ari_id="a.2"),  # a late watch
        entry("stopped", ari_block=checked(13.5), ari_id="a.3"),
        entry("never-asked", ari_id="a.4"),  # no window yet: the threshold decides anyway
        entry("no-ari", ari_block=checked(100)),  # no ari_id: not the CA's to say
    ]
    assert unfollowed_windows(entries, NOW, WATCHED) == {"stopped"}
    sweep_only = Settings(bucket="b", kms_key_id="k", allowed_zone_ids=("Z1",))
    assert unfollowed_windows(entries, NOW, sweep_only) == frozenset()


def test_the_sweep_renews_what_a_stopped_watch_left_behind() -> None:
    entries = [entry(name, age_days=25, days=45, ari_id=f"a.{name}", ari_block=checked(ago))
               for name, ago in (("watched", 2), ("left", 30))]
    sqs = FakeSqs()
    report = Sweep(settings=WATCHED, certificates=FakeCertificates(entries),
                   reader=NoRenewalInfo(), now=lambda: NOW,
                   queue=RenewalQueue(sqs, "https://sqs/q.fifo", no_sleep_deadline()),
                   ).run(SweepEvent()).as_dict()
    assert report["queued"] == ["left"]
    (planned,) = report["renewals"]
    assert "no watch follows" in planned["detail"]


def test_an_unfollowed_window_that_opens_first_still_decides() -> None:
    lifetime = life(5, 45)  # threshold at day 30, far away; the CA says renew now
    decision = decide(lifetime, NOW, horizons=Horizons(7 * DAY, 12 * HOUR).unfollowed(),
                      ari_selected=NOW - HOUR, ari_end=NOW + HOUR)
    assert decision.due and decision.reason == "ari"
    assert entry("x", ari_block=window(NOW)).renewal_info is not None
