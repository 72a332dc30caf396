"""The sweep's pure parts: due decisions, force selection, event validation, summaries."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from wildcert.adapters import slack
from wildcert.adapters.bucket.inventory import Broken, Entry, parse_entry
from wildcert.jobs.over_inventory import EventRejected, plan
from wildcert.jobs.sweep.job import ForceSelection, covers, parse_sweep_event, select_forced
from wildcert.logic import ari
from wildcert.logic.renewal import Horizons, Lifetime, decide, disruption_margin, is_due
from wildcert.logic.request import normalise_serial

NOW = dt.datetime(2027, 3, 1, 6, 0, tzinfo=dt.UTC)
MONTH = dt.timedelta(days=30)
HALF_DAY = dt.timedelta(hours=12)
SWEEP_ONLY = Horizons(threshold=MONTH, ari=MONTH)
WITH_WATCH = Horizons(threshold=MONTH, ari=HALF_DAY)


def iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def entry(name: str, *, age_days: float = 10, days: float = 90, serial: str = "abc123",
          domains: tuple[str, ...] = ("*.example.com", "example.com"),
          ari_block: dict | None = None, **extra: object) -> Entry:
    start = NOW - dt.timedelta(days=age_days)
    body = {
        "name": name, "domains": list(domains), "serial": serial,
        "not_before": iso(start), "not_after": iso(start + dt.timedelta(days=days)),
        "issuer": "CN=test", "key_type": "ec256", "sha256": {}, "archive": f"{name}/archive/",
        "issued_at": iso(start), "version": 1, **extra,
    }
    if ari_block is not None:
        body["ari"] = ari_block
    parsed = parse_entry(name, json.dumps(body).encode(), '"etag"')
    assert isinstance(parsed, Entry), parsed
    return parsed


def window(selected: dt.datetime, *, end: dt.datetime | None = None) -> dict[str, str]:
    return ari.RenewalInfo(start=selected - dt.timedelta(days=1),
                           end=end or selected + dt.timedelta(days=1), selected=selected,
                           next_check=NOW + dt.timedelta(hours=6)).as_json()


# -- due decisions -----------------------------------------------------------------------------


def life(age: float, days: float) -> Lifetime:
    start = NOW - dt.timedelta(days=age)
    return Lifetime(start, start + dt.timedelta(days=days))


def test_threshold_looks_a_whole_sweep_ahead() -> None:
    # 90 days, 35 old: the third-left point (day 60) comes before the next sweep (day 65)
    decision = decide(life(35, 90), NOW, horizons=SWEEP_ONLY)
    assert decision.due and decision.reason == "due" and decision.needs_force
    assert "before the next run" in decision.detail
    assert not decide(life(25, 90), NOW, horizons=SWEEP_ONLY).due


def test_due_now_needs_no_force_and_expired_is_due() -> None:
    assert decide(life(61, 90), NOW, horizons=SWEEP_ONLY).needs_force is False
    expired = decide(life(91, 90), NOW, horizons=SWEEP_ONLY)
    assert expired.due and not expired.needs_force and "expired" in expired.detail


@pytest.mark.parametrize("days", [90, 64, 45])
@pytest.mark.parametrize("sweep_days", [30, 31])
def test_monthly_sweep_never_lets_a_certificate_expire(days: int, sweep_days: int) -> None:
    """Whatever day it was issued, the sweep before its threshold queues it, with days to spare.

    Days to spare: a third of the lifetime, except that sweeps 31 days apart cannot give a
    45-day certificate more than 45 - 31 = 14 (the watch's own check renews it at day 30).
    """
    horizons = Horizons(threshold=dt.timedelta(days=sweep_days), ari=dt.timedelta(days=sweep_days))
    for offset in range(sweep_days):
        start = NOW + dt.timedelta(days=offset, hours=1)
        lifetime = Lifetime(start, start + dt.timedelta(days=days))
        sweep = NOW + dt.timedelta(days=sweep_days)  # the first sweep after issuance
        while not decide(lifetime, sweep, horizons=horizons).due:
            sweep += dt.timedelta(days=sweep_days)
        spare = min(lifetime.length / 3, lifetime.length - horizons.threshold)
        assert lifetime.not_after - sweep >= spare >= dt.timedelta(days=14)


def test_ari_moment_decides_over_the_threshold() -> None:
    # threshold would say "due" (day 60 < day 65) but the CA picks day 70 and the watch runs
    lifetime = life(35, 90)
    chosen = NOW + dt.timedelta(days=35)
    decision = decide(lifetime, NOW, horizons=WITH_WATCH, ari_selected=chosen,
                      ari_end=chosen + dt.timedelta(days=1))
    assert not decision.due and "renewal window" in decision.detail
    # without a watch the sweep is the next look, so a moment within the month is due now
    swept = decide(lifetime, NOW, horizons=SWEEP_ONLY, ari_selected=chosen - MONTH / 2,
                   ari_end=chosen)
    assert swept.due and swept.reason == "ari" and swept.needs_force


def test_ari_renew_now_before_threshold() -> None:
    """A CA incident: the window moved into the past for a young certificate."""
    decision = decide(life(3, 90), NOW, horizons=WITH_WATCH,
                      ari_selected=NOW - dt.timedelta(hours=1), ari_end=NOW)
    assert decision.due and decision.reason == "ari" and decision.needs_force


def test_ari_certificate_expiring_before_the_next_sweep_is_renewed_anyway() -> None:
    """The watch owns ARI moments, but if it never runs the sweep must not let it lapse."""
    lifetime = life(20, 45)  # expires in 25 days, before the next sweep
    chosen = NOW + dt.timedelta(days=10)
    decision = decide(lifetime, NOW, horizons=WITH_WATCH, ari_selected=chosen,
                      ari_end=chosen + dt.timedelta(days=1))
    assert decision.due and decision.reason == "due" and "before the next sweep" in decision.detail


def test_window_ending_after_expiry_is_ignored() -> None:
    lifetime = life(35, 90)
    late = lifetime.not_after + dt.timedelta(days=5)
    decision = decide(lifetime, NOW, horizons=WITH_WATCH, ari_selected=late - dt.timedelta(days=1),
                      ari_end=late)
    assert decision.due and decision.reason == "due"  # the threshold took over


def test_short_lived_threshold_is_half() -> None:
    # Renewed a disruption margin (a third of the 3-day window: one day) before half its life.
    assert not decide(life(1.9, 6), NOW, horizons=Horizons(dt.timedelta(0), dt.timedelta(0))).due
    assert decide(life(2, 6), NOW, horizons=Horizons(dt.timedelta(0), dt.timedelta(0))).due
    assert not is_due(life(2.9, 6), NOW)
    assert is_due(life(3, 6), NOW)


def test_renewals_start_a_disruption_margin_before_their_point() -> None:
    no_look = Horizons(dt.timedelta(0), dt.timedelta(0))
    # 90 days: the point is at 60 days; 36 hours before it the renewal is queued.
    assert not decide(life(58.4, 90), NOW, horizons=no_look).due
    assert decide(life(58.5, 90), NOW, horizons=no_look).due
    assert disruption_margin(dt.timedelta(days=90)) == dt.timedelta(hours=36)
    assert disruption_margin(dt.timedelta(days=6)) == dt.timedelta(days=1)


def test_a_moment_chosen_late_in_the_window_is_brought_forward_by_the_margin() -> None:
    lifetime = life(60, 90)
    start, end = NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=47)
    late_pick = decide(lifetime, NOW, horizons=Horizons(dt.timedelta(0), dt.timedelta(hours=12)),
                       ari_selected=end - dt.timedelta(hours=1), ari_end=end, ari_start=start)
    assert late_pick.due and late_pick.reason == "ari"  # end - 36 h is within 12 hours
    early = decide(lifetime, NOW, horizons=Horizons(dt.timedelta(0), dt.timedelta(0)),
                   ari_selected=NOW + dt.timedelta(hours=2), ari_end=end, ari_start=start)
    assert not early.due  # its own moment comes first
    # Never before the window opens, however short the window.
    short = decide(lifetime, NOW, horizons=Horizons(dt.timedelta(0), dt.timedelta(0)),
                   ari_selected=NOW + dt.timedelta(hours=5), ari_end=NOW + dt.timedelta(hours=6),
                   ari_start=NOW + dt.timedelta(hours=4))
    assert not short.due


# -- plan --------------------------------------------------------------------------------------


def test_plan_queues_due_and_forced_once_each() -> None:
    entries = [
        entry("fresh", age_days=5),
        entry("due", age_days=40),
        entry("expired", age_days=100),
        entry("both", age_days=40),
        entry("ari-now", age_days=3, ari_block=window(NOW - dt.timedelta(hours=2),
                                                      end=NOW + dt.timedelta(hours=1))),
    ]
    planned = plan(entries, NOW, horizons=WITH_WATCH, remaining_fraction=1 / 3,
                   forced={"fresh": ("serial abc",), "both": ("name both",)})
    got = {p.entry.name: (p.reason, p.force) for p in planned}
    assert got == {
        "fresh": ("forced", True),
        "due": ("due", True),
        "expired": ("due", False),
        "both": ("forced", True),
        "ari-now": ("ari", True),
    }
    request = next(p for p in planned if p.entry.name == "due").renewal().request()
    assert request == {"domains": ["*.example.com", "example.com"], "name": "due",
                       "key_type": "ec256", "force": True, "renews": "abc123"}


def test_renewal_leaves_endpoints_to_the_stored_certificate() -> None:
    """The issuer keeps cert.json's endpoints through a renewal that names none; sending them
    would have the validator judge entries stored under older rules (an IP literal, a port
    ENDPOINT_PORTS no longer lists) and reject the renewal itself."""
    item = entry("web", age_days=100, endpoints=["web.example.com:443", "10.0.0.1:8443"])
    (planned,) = plan([item], NOW, horizons=SWEEP_ONLY, remaining_fraction=1 / 3)
    assert "endpoints" not in planned.renewal().request()


def test_a_staging_certificate_renews_from_staging() -> None:
    item = entry("web", age_days=100, ca="staging", team="alpha")
    (planned,) = plan([item], NOW, horizons=SWEEP_ONLY, remaining_fraction=1 / 3)
    assert planned.renewal().request()["ca"] == "staging"
    (planned,) = plan([entry("web", age_days=100)], NOW, horizons=SWEEP_ONLY,
                      remaining_fraction=1 / 3)
    assert "ca" not in planned.renewal().request()


# -- force selection ---------------------------------------------------------------------------


@pytest.mark.parametrize(("san", "domain", "covered"), [
    ("example.com", "example.com", True),
    ("*.example.com", "a.example.com", True),
    ("*.example.com", "a.b.example.com", False),  # a wildcard covers one label
    ("*.example.com", "example.com", False),
    ("*.example.com", "*.example.com", True),
    ("a.example.com", "*.example.com", False),
    ("*.example.com", "aexample.com", False),
])
def test_covers(san: str, domain: str, covered: bool) -> None:
    assert covers(san, domain) is covered


def test_select_by_names_domains_and_serials() -> None:
    entries = [
        entry("wild", serial="3ab0", domains=("*.example.com",)),
        entry("apex", serial="1f", domains=("example.com",)),
        entry("team", serial="ff01", domains=("*.team.example.com", "team.example.com")),
        entry("net", serial="77", domains=("example.net",)),
    ]
    force = ForceSelection(names=("net", "missing"), domains=("www.example.com", "nope.org"),
                           serials=("ff01", "dead"))
    forced = select_forced(entries, force)
    assert forced.selected == {
        "wild": ("domain www.example.com",),
        "team": ("serial ff01",),
        "net": ("name net",),
    }
    assert forced.unmatched == ForceSelection(names=("missing",), domains=("nope.org",),
                                              serials=("dead",))


def test_select_by_domain_takes_every_certificate_covering_it() -> None:
    entries = [entry("a", domains=("*.example.com",)), entry("b", domains=("x.example.com",)),
               entry("c", domains=("y.example.com",))]
    forced = select_forced(entries, ForceSelection(domains=("x.example.com",)))
    assert set(forced.selected) == {"a", "b"}


@pytest.mark.parametrize(("given", "stored"), [
    ("03:AB:cd", "3abcd"), ("0x03abcd", "3abcd"), (" 3A BC D ", "3abcd"), ("00", "0"),
    ("xyz", None), ("", None), ("0x", None), ("12-34", None),
])
def test_serials_are_case_colon_and_zero_insensitive(given: str, stored: str | None) -> None:
    assert normalise_serial(given) == stored


# -- the event ---------------------------------------------------------------------------------


def test_empty_and_scheduled_events_mean_a_plain_sweep() -> None:
    scheduled = {"version": "0", "id": "x", "detail-type": "Scheduled Event",
                 "source": "aws.events", "detail": {}}
    for event in (None, {}, scheduled):
        parsed = parse_sweep_event(event)
        assert not parsed.force and not parsed.dry_run


def test_force_event_is_normalised() -> None:
    parsed = parse_sweep_event({"force": {
        "names": ["web", "web"], "domains": ["WWW.Example.com."], "serials": ["03:AB"]},
        "dry_run": True})
    assert parsed.force == ForceSelection(("web",), ("www.example.com",), ("3ab",))
    assert parsed.dry_run


def test_eventbridge_detail_carries_the_force() -> None:
    event = {"detail-type": "wildcert.jobs.sweep.job.requested", "source": "ops",
             "detail": {"force": {"serials": ["ab"]}}}
    assert parse_sweep_event(event).force.serials == ("ab",)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(EventRejected) as rejected:
        parse_sweep_event({
            "force": {"name": ["x"], "names": ["Bad Name", 3], "domains": ["1.2.3.4", "*.*.a.com"],
                      "serials": ["zz", ""]},
            "dry_run": "yes",
            "forced": {},
        })
    text = str(rejected.value)
    for needle in ("unknown field 'forced'", "unknown field 'name'", "force.names[0] 'Bad Name'",
                   "force.names[1] must be a non-empty string", "force.domains[0] '1.2.3.4'",
                   "IP address", "force.domains[1] '*.*.a.com'", "force.serials[0] 'zz'",
                   "force.serials[1]", "dry_run must be true or false"):
        assert needle in text, needle
    assert len(rejected.value.problems) == 9


@pytest.mark.parametrize(("event", "needle"), [
    ({"force": {}}, "force selects nothing"),
    ({"force": ["web"]}, "force must be an object"),
    ({"force": {"names": "web"}}, "force.names must be a list"),
    ({"force": {"serials": ["a"] * 1001}}, "at most 1000"),
    ([], "must be a JSON object"),
    ({"force": {"names": ["\x1b[31mred"]}}, "\\x1b"),  # no control characters in messages
])
def test_single_problems(event: object, needle: str) -> None:
    with pytest.raises(EventRejected, match=None) as rejected:
        parse_sweep_event(event)
    assert needle in str(rejected.value)


def test_problem_list_is_bounded() -> None:
    with pytest.raises(EventRejected) as rejected:
        parse_sweep_event({"force": {"serials": [f"bad{i}x" for i in range(40)]}})
    assert len(rejected.value.problems) == 16
    assert "and 25 more problems" in rejected.value.problems[-1]


# -- inventory entries -------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "needle"), [
    (b"not json", "not a wildcert description"),
    (b"[]", "not a JSON object"),
    (b'{"name": "x"}', "not a wildcert description"),
])
def test_broken_cert_json(raw: bytes, needle: str) -> None:
    found = parse_entry("x", raw, '"e"')
    assert isinstance(found, Broken) and needle in found.problem


def test_cert_json_of_another_name_or_bad_dates_is_broken() -> None:
    good = json.loads(json.dumps(entry("a").body))
    found = parse_entry("b", json.dumps(good).encode(), '"e"')
    assert isinstance(found, Broken) and "names the certificate 'a'" in found.problem
    found = parse_entry("a", json.dumps({**good, "not_after": "soon"}).encode(), '"e"')
    assert isinstance(found, Broken) and "unreadable" in found.problem
    found = parse_entry("a", json.dumps({**good, "not_after": good["not_before"]}).encode(), "e")
    assert isinstance(found, Broken) and "not after" in found.problem


def test_unreadable_ari_block_means_no_ari() -> None:
    assert entry("a", ari_block={"window_start": "x"}).renewal_info is None
    assert entry("a", ari_block=window(NOW)).renewal_info is not None


# -- the summary -------------------------------------------------------------------------------


def test_summary_counts_and_lists_failures_and_broken() -> None:
    message = slack.sweep_summary(
        checked=12, due=["a", "b"], forced=["c"], queued=2,
        failed=[("c", "KMS.AccessDeniedException: denied <@U1>")],
        broken=[("d", "cert.json is not a JSON object")], unmatched=["deadbeef"],
    )
    body = message.payload()["blocks"][0]["text"]["text"]
    assert body.startswith(":warning: Renewal sweep: 12 certificates checked, 2 due, 1 forced, "
                           "queued 2, 1 failed, 1 broken")
    assert "*c*: KMS.AccessDeniedException" in body and "&lt;@U1&gt;" in body
    assert "*d*: cert.json is not a JSON object" in body
    assert "Force matched nothing*: deadbeef" in body


def test_quiet_summary_has_no_per_certificate_lines_beyond_names() -> None:
    message = slack.sweep_summary(checked=40, due=[], forced=[], queued=0, failed=[], broken=[])
    assert message.lines == (":recycle: Renewal sweep: 40 certificates checked, 0 due, 0 forced, "
                             "queued 0, 0 failed, 0 broken",)
    dry = slack.sweep_summary(checked=3, due=["a"], forced=[], queued=0, failed=[], broken=[],
                              dry_run=True)
    assert "(dry run)" in dry.lines[0] and "would queue 1" in dry.lines[0]
