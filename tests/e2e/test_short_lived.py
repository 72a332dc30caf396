"""Six-day certificates end to end: a Pebble that issues them, and the sweep and the watch
renewing them at the right moment, as Let's Encrypt's `shortlived` profile will need.

This module runs on a stack of its own (Pebble's `certificateValidityPeriod` applies to every
certificate it issues, and the other tests expect long-lived ones). Pebble's certificates are
real; only the sweep's and the watch's clock is moved forward, to the moments that matter.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest

from local_stack import Stack
from local_stack.pebble import VALIDITY_VARIABLE
from tests.conftest import stack_environment, start_stack
from tests.e2e.support import as_renewal_queue, client, stored_set, unique
from tests.e2e.test_renewal_sweep import issue, mine, receive_all
from wildcert import container, runtime
from wildcert.jobs.issue import entry as issue_entry
from wildcert.jobs.issue.pipeline import Issuer
from wildcert.jobs.issue.wiring import Services
from wildcert.jobs.over_inventory import renewal_parts
from wildcert.jobs.sweep.job import Sweep, SweepEvent
from wildcert.jobs.watch.job import Watch, WatchEvent
from wildcert.logic.renewal import Lifetime, disruption_margin
from wildcert.logic.times import parse_time
from wildcert.settings import Settings

VALIDITY = dt.timedelta(days=6)
MINUTE = dt.timedelta(minutes=1)
SECOND_STACK_OFFSET = 2000  # port bases well away from the session stack's

# One worker runs the whole module (`--dist loadgroup`): under plain load balancing each worker
# started a six-day stack of its own for one test.
pytestmark = pytest.mark.xdist_group("short_lived_stack")


@pytest.fixture(scope="module")
def short_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("short-lived-stack"),
                          pebble_env={VALIDITY_VARIABLE: str(int(VALIDITY.total_seconds()))},
                          offset=SECOND_STACK_OFFSET)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def _on_the_stack(short_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Replaces tests/e2e/conftest.py's: this module's settings name the short-lived stack."""
    stack_environment(short_stack, monkeypatch)
    monkeypatch.setenv("SHORTEST_LIFETIME_DAYS", "6")
    monkeypatch.setenv("SWEEP_INTERVAL_DAYS", "1")  # a daily sweep, as the template requires
    queue = client("sqs").create_queue(QueueName=unique("renewals-"))["QueueUrl"]
    as_renewal_queue(queue, monkeypatch.setenv)
    container.start_afresh()  # wildcert's clients must talk to this stack, not the session's
    yield
    container.start_afresh()


def issued_lifetime(meta: dict[str, Any]) -> Lifetime:
    lifetime = Lifetime(parse_time(meta["not_before"]), parse_time(meta["not_after"]))
    # Pebble counts the last second in: 6 days, give or take a second
    assert abs(lifetime.length - VALIDITY) <= dt.timedelta(seconds=1), lifetime
    return lifetime


def run_at(job: type[Sweep] | type[Watch], when: dt.datetime) -> dict[str, Any]:
    """One run of `job` as it would go at `when`: the real bucket, CA front and queue."""
    parts = renewal_parts(Settings.from_env(), None)
    event = SweepEvent() if job is Sweep else WatchEvent()
    return dict(job(**parts, now=lambda: when).run(event).as_dict())  # type: ignore[arg-type]


def renew(queued: Any, when: dt.datetime) -> dict[str, Any]:
    """The issuer handling the message as it would right after the run that queued it: its
    own "is it due now" check runs at `when` too (Pebble still issues in real time)."""
    settings = Settings.from_env()
    issuer = Issuer(Services(settings, runtime.deadline(None)), runtime.notifier(settings),
                    now=lambda: when)
    (renewed,) = issue_entry.issue_with(issuer, queued.sqs_event(), None,
                                        renewal_queue=settings.renewal_queue_arn)["results"]
    assert renewed["status"] == "renewed" and renewed["renewal"] is True, renewed
    return dict(renewed)


def test_daily_sweep_renews_a_six_day_certificate_in_the_last_sweep_before_half_life(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a watch: renewed at the last daily sweep before the renewal point (half the
    lifetime left, under ten days) less the disruption margin (a day), not at the one before."""
    monkeypatch.delenv("WATCH_INTERVAL_HOURS", raising=False)
    label = unique("sl")
    meta = issue(label, [f"*.{label}.example.com", f"{label}.example.com"])
    lifetime = issued_lifetime(meta)
    renewal_point = lifetime.renew_at()
    assert renewal_point == lifetime.not_before + lifetime.length / 2
    aim = renewal_point - disruption_margin(lifetime.length)
    assert abs(renewal_point - aim - dt.timedelta(days=1)) <= dt.timedelta(seconds=1)

    # The sweep a day and a minute before: the next sweep still comes before the aim.
    early = run_at(Sweep, aim - dt.timedelta(days=1) - MINUTE)
    assert label not in early["queued"]
    assert mine(receive_all(os.environ["RENEWAL_QUEUE_URL"]), label) == {}

    # A day less a minute before: the next sweep would come too late, so this one renews.
    queued_at = aim - dt.timedelta(days=1) + MINUTE
    due = run_at(Sweep, queued_at)
    assert label in due["queued"]
    (planned,) = [r for r in due["renewals"] if r["name"] == label]
    assert planned["reason"] == "due" and "before the next run" in planned["detail"]
    queued = mine(receive_all(os.environ["RENEWAL_QUEUE_URL"]), label)[label]
    assert queued.body["force"] is True  # due only by looking ahead: the issuer must renew

    renewed = renew(queued, queued_at)
    assert renewed["serial"] != meta["serial"]
    again = issued_lifetime(stored_set(label)[0])
    assert again.not_before >= lifetime.not_before
    # The new certificate follows the same timing: not due now, nor at the sweep a day and
    # a minute before its own renewal point.
    again_aim = again.renew_at() - disruption_margin(again.length)
    for moment in (dt.datetime.now(dt.UTC), again_aim - dt.timedelta(days=1) - MINUTE):
        assert label not in run_at(Sweep, moment)["queued"]
        assert mine(receive_all(os.environ["RENEWAL_QUEUE_URL"]), label) == {}


def test_watch_renews_a_six_day_certificate_at_the_cas_moment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the watch: the CA's window (ARI; the stack's front opens it with a third of the
    lifetime left) decides, twelve hours ahead at most, and the earlier threshold does not."""
    monkeypatch.setenv("WATCH_INTERVAL_HOURS", "12")
    label = unique("sw")
    meta = issue(label, [f"*.{label}.example.com"])
    lifetime = issued_lifetime(meta)
    window_start = parse_time(meta["ari"]["window_start"])
    assert abs(window_start - (lifetime.not_before + lifetime.length * 2 / 3)) < MINUTE
    chosen = parse_time(meta["ari"]["selected"])
    window_end = parse_time(meta["ari"]["window_end"])
    assert window_start <= chosen <= window_end
    # The moment chosen, or the window's end less the disruption margin if that comes first.
    moment = min(chosen, max(window_start, window_end - disruption_margin(lifetime.length)))

    # Past the lifetime threshold (half), but the CA's moment is more than a watch away.
    calm = run_at(Watch, max(lifetime.renew_at(), moment - dt.timedelta(hours=12)) - MINUTE)
    assert label not in calm["queued"]
    assert mine(receive_all(os.environ["RENEWAL_QUEUE_URL"]), label) == {}
    assert stored_set(label)[0]["ari"]["selected"] == meta["ari"]["selected"]  # kept, not redrawn

    queued_at = moment - dt.timedelta(hours=12) + MINUTE
    due = run_at(Watch, queued_at)
    assert label in due["queued"]
    queued = mine(receive_all(os.environ["RENEWAL_QUEUE_URL"]), label)[label]
    assert queued.reason == "ari"
    renewed = renew(queued, queued_at)
    assert renewed["replaces"] == meta["ari_id"]
    issued_lifetime(stored_set(label)[0])
