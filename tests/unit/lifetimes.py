"""A year of virtual time over wildcert's real renewal code, for each certificate lifetime.

What runs is the product's own code: the `Sweep` and `Watch` job classes (reading the
inventory, refreshing the CA's renewal windows, planning, queueing through `RenewalQueue`) and
the issuer's "is there anything to do" decision (`parse_request`, `skip_reason`). Fakes stand
only at the adapter seams: an in-memory bucket behind `Bucket`'s interface (so the real
`ManagedCertificates` reads and conditionally rewrites cert.json), an SQS client behind
`RenewalQueue`, and a CA that issues certificates of a given lifetime, serves renewal windows
and can be down. The clock is injected; no server, no sleep.

Each case is one lifetime (90, 64, 45 or 6 days), with or without ARI (the CA's window opens
with a third of the lifetime left and lasts up to two days, as Let's Encrypt's does), on the
schedule the template derives for it, through one of these years:

  calm        nothing goes wrong
  outage      the CA is down for 12 hours, starting the moment a renewal is first queued
              after day 91 (so it certainly hits one)
  missed      no sweep or watch runs for 24 hours, starting at the first run after day 182
              that would have queued a renewal
  revocation  on day 273 the CA announces it revokes every certificate within 24 hours;
              two hours later the operator forces a sweep on all serials (the runbook); with
              ARI the CA's windows also move into the past
  watch-down  the watch never runs (the sweep alone, though it believes a watch exists),
              and the first sweep after day 182 that would queue a renewal is missed

(Shorter spans put the events at the same fractions of the span.)

Measured per case: certificates that expired before being replaced (must be 0), the longest
time a certificate was served past its renewal point (ARI's chosen moment, or the lifetime
threshold), renewals per certificate per year, the remaining lifetime at renewal (least and
most), and for the revocation the hours until the last certificate was replaced.

`python -m tests.unit.lifetimes` prints the table (docs/RENEWAL.md carries it);
tests/unit/test_lifetimes.py asserts on shortened runs. It is a test of renewal decisions,
not a measurement of speed, so it lives with the tests rather than in `make bench`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import heapq
import itertools
import json
import logging
import random
import sys
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "layers" / "wildcert"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from wildcert.adapters.acme import AcmeError  # noqa: E402 - the paths above come first
from wildcert.adapters.bucket import inventory  # noqa: E402
from wildcert.adapters.bucket.certificates import StoredCertificate  # noqa: E402
from wildcert.adapters.bucket.inventory import ManagedCertificates  # noqa: E402
from wildcert.adapters.bucket.objects import (  # noqa: E402
    NotFound,
    PreconditionFailed,
    StoredObject,
)
from wildcert.adapters.sqs import RenewalQueue  # noqa: E402
from wildcert.deadline import Deadline  # noqa: E402
from wildcert.jobs.over_inventory import plan  # noqa: E402
from wildcert.jobs.sweep.job import (  # noqa: E402
    Sweep,
    parse_sweep_event,
    sweep_horizons,
    unfollowed_windows,
)
from wildcert.jobs.watch.job import Watch, WatchEvent, watch_horizons  # noqa: E402
from wildcert.logic import ari  # noqa: E402
from wildcert.logic.renewal import (  # noqa: E402
    Lifetime,
    longest_run_gap,
    renewal_window,
    skip_reason,
)
from wildcert.logic.request import parse_request  # noqa: E402
from wildcert.logic.times import iso  # noqa: E402
from wildcert.settings import Settings  # noqa: E402

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
START = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
ZONE = "example.com"
QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/111122223333/renewals"

# The template's defaults: cron(0 6 ...) sweeps, cron(17 5,17 ...) watches.
SWEEP_AT = dt.timedelta(hours=6)
WATCH_AT = dt.timedelta(hours=5, minutes=17)
WATCH_EVERY = dt.timedelta(hours=12)
DEFAULT_SHORTEST = dt.timedelta(days=45)  # the template's ShortestLifetimeDays default
# The renewal queue (template.yaml): a failed delivery comes back after the visibility
# timeout; the tenth receive goes to the dead-letter queue.
VISIBILITY = dt.timedelta(seconds=5400)
MAX_RECEIVES = 10
ISSUER_LATENCY = dt.timedelta(minutes=1)  # from queueing to the issuer's run
# Let's Encrypt: ARI checks every 6 hours, windows about two days long.
RETRY_AFTER = 6 * 3600
WINDOW = dt.timedelta(days=2)
OUTAGE = dt.timedelta(hours=12)
MISSED = dt.timedelta(hours=24)
REVOKE_WITHIN = dt.timedelta(hours=24)
OPERATOR_REACTION = dt.timedelta(hours=2)

SCENARIOS = ("calm", "outage", "missed", "revocation", "watch-down")
LIFETIMES = (90, 64, 45, 6)


# ---------------------------------------------------------------- fakes at the adapter seams


class MemoryBucket:
    """`objects.Bucket`'s interface over a dict: ETags, If-Match and If-None-Match as S3's."""

    def __init__(self) -> None:
        self.objects: dict[str, StoredObject] = {}
        self._etags = itertools.count(1)
        self._lock = threading.Lock()  # ManagedCertificates reads and writes from a pool

    def get(self, key: str, *, limit: int | None = None) -> StoredObject | None:
        with self._lock:
            found = self.objects.get(key)
        if found is None or limit is None:
            return found
        return StoredObject(found.body[:limit], found.etag)

    def put(self, key: str, body: bytes, *, content_type: str, if_none_match: bool = False,
            if_match: str | None = None) -> str:
        with self._lock:
            current = self.objects.get(key)
            if if_none_match and current is not None:
                raise PreconditionFailed(f"{key} exists")
            if if_match is not None:
                if current is None:
                    raise NotFound(f"{key} is gone")
                if current.etag != if_match:
                    raise PreconditionFailed(f"{key} changed")
            etag = f'"{next(self._etags)}"'
            self.objects[key] = StoredObject(body, etag)
            return etag

    def folders(self) -> list[str]:
        with self._lock:
            return sorted({key.split("/", 1)[0] for key in self.objects})


@dataclass(frozen=True)
class Message:
    id: str
    body: dict[str, Any]
    reason: str


class MemorySqs:
    """SendMessageBatch accepting everything; the simulation delivers what it holds."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self._ids = itertools.count(1)

    def send_message_batch(self, QueueUrl: str,  # boto3's argument names
                           Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ok = []
        for entry in Entries:
            message = Message(f"m{next(self._ids)}", json.loads(entry["MessageBody"]),
                              entry["MessageAttributes"]["reason"]["StringValue"])
            self.sent.append(message)
            ok.append({"Id": entry["Id"], "MessageId": message.id})
        return {"Successful": ok, "Failed": []}

    def take(self) -> list[Message]:
        sent, self.sent = self.sent, []
        return sent


@dataclass
class IssuedCert:
    name: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def cert_id(self) -> str:
        return cert_id(self.serial)


def cert_id(serial: str) -> str:
    return f"a2V5.{serial}"  # an ARI CertID's shape: AKI "." serial


@dataclass
class Ca:
    """Issues certificates of `lifetime`, answers renewalInfo when `ari`, fails while down."""

    lifetime: dt.timedelta
    ari: bool
    outages: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)
    issued: dict[str, IssuedCert] = field(default_factory=dict)  # by cert_id
    incident: dict[str, dt.datetime] = field(default_factory=dict)  # cert_id: announced
    _serials: Iterator[int] = field(default_factory=lambda: itertools.count(0x1000))

    def down(self, now: dt.datetime) -> bool:
        return any(start <= now < end for start, end in self.outages)

    def issue(self, name: str, now: dt.datetime) -> IssuedCert:
        cert = IssuedCert(name, f"{next(self._serials):x}", now, now + self.lifetime)
        self.issued[cert.cert_id] = cert
        return cert

    def window(self, cert_id: str, now: dt.datetime) -> tuple[dict[str, Any], float]:
        """Let's Encrypt's window: from a third of the lifetime left, about two days long;
        after an incident, one that has already closed ("renew now")."""
        if self.down(now):
            raise AcmeError("fetching renewal information failed: HTTP 503 (the CA is down)")
        cert = self.issued[cert_id]
        if cert_id in self.incident:
            announced = self.incident[cert_id]
            start, end, retry = announced - 2 * HOUR, announced - HOUR, 3600
        else:
            start = cert.not_before + (cert.not_after - cert.not_before) * 2 / 3
            end, retry = start + min(WINDOW, (cert.not_after - start) / 2), RETRY_AFTER
        return {"suggestedWindow": {"start": iso(start), "end": iso(end)}}, retry


class Reader:
    """`RenewalInfoReader`'s interface: a directory that names renewalInfo or not."""

    def __init__(self, ca: Ca, now: dt.datetime):
        self.ca, self.now = ca, now

    @property
    def url(self) -> str | None:
        if self.ca.down(self.now):
            raise AcmeError("fetching the ACME directory failed: HTTP 503 (the CA is down)")
        return "https://ca.test/renewal-info" if self.ca.ari else None

    def fetch(self, cert_id: str) -> tuple[dict[str, Any], float | None]:
        return self.ca.window(cert_id, self.now)


class InlinePool:
    """`ThreadPoolExecutor`'s `map` on the calling thread: starting threads for every run of
    a thousand would take most of the simulation's time, and order is all that matters here."""

    def __init__(self, max_workers: int | None = None):
        self.max_workers = max_workers

    def __enter__(self) -> InlinePool:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, fn: Callable[..., Any], *iterables: Any) -> Iterator[Any]:
        return iter([fn(*args) for args in zip(*iterables, strict=True)])


@contextlib.contextmanager
def virtual_world(seed: int) -> Iterator[None]:
    """Repeatable and fast: the moment chosen inside each window is random (RFC 9773 spreads
    a fleet's renewals), so a seeded generator picks it; the inventory's reads run inline."""
    shared = random.Random(seed)
    saved = ari.random, inventory.ThreadPoolExecutor
    ari.random = types.SimpleNamespace(Random=lambda: shared)  # type: ignore[assignment]
    inventory.ThreadPoolExecutor = InlinePool  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        ari.random, inventory.ThreadPoolExecutor = saved  # type: ignore[misc]


# ---------------------------------------------------------------- the year


@dataclass(frozen=True)
class Deployment:
    """What the template deploys for a shortest lifetime: its schedules and settings."""

    shortest: dt.timedelta
    sweep: dt.timedelta
    watch: dt.timedelta | None = WATCH_EVERY
    fraction: float = 1 / 3

    @classmethod
    def for_lifetime(cls, lifetime: dt.timedelta, *, fraction: float = 1 / 3) -> Deployment:
        """ShortestLifetimeDays 45 (the default) or the lifetime if shorter; whole-day sweeps
        as far apart as the rule allows."""
        shortest = min(lifetime, DEFAULT_SHORTEST)
        days = max(1, int(longest_run_gap(shortest, fraction) / DAY))
        return cls(shortest, days * DAY, fraction=fraction)

    def settings(self) -> Settings:
        return Settings(
            bucket="certs", kms_key_id="key", allowed_zone_ids=("Z1",),
            renewal_queue_url=QUEUE_URL, renew_at_remaining_fraction=self.fraction,
            sweep_interval_days=self.sweep / DAY,
            watch_interval_hours=self.watch / HOUR if self.watch else None,
            shortest_lifetime_days=self.shortest / DAY)


@dataclass(frozen=True)
class Case:
    lifetime_days: float
    ari: bool
    scenario: str
    deployment: Deployment
    certificates: int = 12
    days: float = 365.0
    seed: int = 1

    @property
    def lifetime(self) -> dt.timedelta:
        return self.lifetime_days * DAY


@dataclass
class Served:
    """One certificate's time in the bucket: issued, and replaced (or still there)."""

    name: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    replaced_at: dt.datetime | None = None
    renewal_point: dt.datetime | None = None  # as the bucket said when it was replaced
    chosen: dt.datetime | None = None  # the moment picked inside the CA's window, if any
    forced: bool = False


@dataclass
class Counts:
    sweeps: int = 0
    watches: int = 0
    missed_runs: int = 0
    queued: int = 0
    skipped: int = 0
    failed_attempts: int = 0
    dead_letters: int = 0


@dataclass(order=True)
class Event:
    at: dt.datetime
    seq: int
    kind: str = field(compare=False)
    payload: Any = field(compare=False, default=None)


class Year:
    """The event loop: scheduled runs, deliveries to the issuer, the CA's incidents."""

    def __init__(self, case: Case):
        self.case = case
        self.deployment = case.deployment
        self.settings = case.deployment.settings()
        self.ca = Ca(case.lifetime, case.ari)
        self.bucket = MemoryBucket()
        self.sqs = MemorySqs()
        self.end = START + case.days * DAY
        self.served: dict[str, list[Served]] = {}
        self.counts = Counts()
        self.events: list[Event] = []
        self._seq = itertools.count()
        self.outage_pending = case.scenario == "outage"
        self.miss_from: dt.datetime | None = None  # the missed period, once it started
        self.revoked_at: dt.datetime | None = None
        self.revocation_names: set[str] = set()

    # -- setup

    def day(self, share: float) -> dt.datetime:
        """Midnight of the day `share` of the way through the simulated span."""
        return START + int(self.case.days * share) * DAY

    def at(self, when: dt.datetime, kind: str, payload: Any = None) -> None:
        if when < self.end:
            heapq.heappush(self.events, Event(when, next(self._seq), kind, payload))

    def stock(self) -> None:
        """Certificates issued before the year starts, spread so none is yet due."""
        # ...and none reaches its renewal point before the first sweep could look ahead to it.
        spread = (self.case.lifetime - self.deployment.sweep
                  - renewal_window(self.case.lifetime, self.deployment.fraction))
        for index in range(self.case.certificates):
            issued = START - spread * (index + 0.5) / self.case.certificates
            self.store(f"c{index:03d}", issued, request_id=None)

    def schedule(self) -> None:
        sweep = START + SWEEP_AT
        while sweep < self.end:
            self.at(sweep, "sweep")
            sweep += self.deployment.sweep
        every = self.deployment.watch
        if every and self.case.scenario != "watch-down":
            watch = START + WATCH_AT
            while watch < self.end:
                self.at(watch, "watch")
                watch += every
        if self.case.scenario == "revocation":
            self.at(self.day(0.75) + 10 * HOUR, "announce")

    # -- the issuer

    def store(self, name: str, now: dt.datetime, *, request_id: str | None) -> Served:
        cert = self.ca.issue(name, now)
        extra: dict[str, Any] = {"ari_id": cert.cert_id}
        if request_id:
            extra["request_id"] = request_id
        if self.ca.ari:  # the issuer asks for the window right after issuance (best effort)
            with contextlib.suppress(AcmeError):
                body, retry_after = self.ca.window(cert.cert_id, now)
                extra["ari"] = ari.parse(body, retry_after_seconds=retry_after,
                                         now=now).as_json()
        meta = StoredCertificate(
            name=name, domains=(f"*.{name}.{ZONE}", f"{name}.{ZONE}"), serial=cert.serial,
            not_before=iso(cert.not_before), not_after=iso(cert.not_after), issuer="CN=sim",
            key_type="ec256", sha256={}, archive=f"{name}/archive/{cert.serial}/",
            issued_at=iso(now), extra=extra)
        self.bucket.put(f"{name}/cert.json", meta.to_json(), content_type="application/json")
        served = Served(name, cert.serial, cert.not_before, cert.not_after)
        self.served.setdefault(name, []).append(served)
        return served

    def current(self, name: str) -> StoredCertificate:
        found = self.bucket.get(f"{name}/cert.json")
        assert found is not None
        return StoredCertificate.from_json(found.body)

    def deliver(self, now: dt.datetime, message: Message, receives: int) -> None:
        """The issuer's handling of one queue message, up to the ACME order."""
        request = parse_request(message.body, [ZONE])
        current = self.current(request.name)
        if skip_reason(current, request, message.id, now,
                       remaining_fraction=self.deployment.fraction):
            self.counts.skipped += 1
            return
        if self.ca.down(now):
            self.counts.failed_attempts += 1
            if receives + 1 < MAX_RECEIVES:
                self.at(now + VISIBILITY, "deliver", (message, receives + 1))
            else:
                self.counts.dead_letters += 1
            return
        old = self.served[request.name][-1]
        old.replaced_at = now
        old.renewal_point = renewal_point(current, self.deployment.fraction)
        old.chosen = chosen_moment(current)
        old.forced = message.reason == "forced"
        self.store(request.name, now, request_id=message.id)

    # -- the sweep and the watch

    def run(self, now: dt.datetime, kind: str, event: Any = None) -> None:
        if self.missing(now):
            self.counts.missed_runs += 1
            return
        parts = {"settings": self.settings,
                 "certificates": ManagedCertificates(self.bucket),  # type: ignore[arg-type]
                 "reader": Reader(self.ca, now),
                 "queue": RenewalQueue(self.sqs, QUEUE_URL, Deadline.after(60)),
                 "now": lambda: now}
        if kind == "watch":
            self.counts.watches += 1
            Watch(**parts).run(WatchEvent())  # type: ignore[arg-type]
        else:
            self.counts.sweeps += 1
            Sweep(**parts).run(event or parse_sweep_event({}))  # type: ignore[arg-type]
        sent = self.sqs.take()
        self.counts.queued += len(sent)
        if sent and self.outage_pending and now >= self.day(0.25):
            self.outage_pending = False
            self.ca.outages.append((now, now + OUTAGE))
        for message in sent:
            self.at(now + ISSUER_LATENCY, "deliver", (message, 0))

    def missing(self, now: dt.datetime) -> bool:
        """Whether this scheduled run is lost to the scenario's missed period."""
        scenario = self.case.scenario
        if scenario not in ("missed", "watch-down"):
            return False
        if self.miss_from is None:
            if now < self.day(0.5) or not self.would_queue(now):
                return False
            self.miss_from = now
        length = MISSED if scenario == "missed" else self.deployment.sweep / 2
        return now < self.miss_from + length

    def would_queue(self, now: dt.datetime) -> bool:
        """Whether a sweep or a watch run now would queue anything (the real planner)."""
        entries = ManagedCertificates(self.bucket).load().entries  # type: ignore[arg-type]
        fraction = self.deployment.fraction
        unfollowed = unfollowed_windows(entries, now, self.settings)
        return bool(plan(entries, now, horizons=sweep_horizons(self.settings),
                         remaining_fraction=fraction, unfollowed=unfollowed)
                    or plan(entries, now, horizons=watch_horizons(self.settings),
                            remaining_fraction=fraction))

    def announce(self, now: dt.datetime) -> None:
        """The CA will revoke every live certificate within REVOKE_WITHIN."""
        self.revoked_at = now
        live = {name: runs[-1] for name, runs in self.served.items()}
        self.revocation_names = set(live)
        for served in live.values():
            self.ca.incident[cert_id(served.serial)] = now
        force = {"force": {"serials": sorted(s.serial for s in live.values())}}
        self.at(now + OPERATOR_REACTION, "sweep", parse_sweep_event(force))

    # -- the loop

    def simulate(self) -> Outcome:
        self.stock()
        self.schedule()
        while self.events:
            event = heapq.heappop(self.events)
            if event.kind in ("sweep", "watch"):
                self.run(event.at, event.kind, event.payload)
            elif event.kind == "deliver":
                message, receives = event.payload
                self.deliver(event.at, message, receives)
            elif event.kind == "announce":
                self.announce(event.at)
        return measure(self)


def renewal_point(meta: StoredCertificate, fraction: float) -> dt.datetime:
    """By when the bucket said the renewal was due: the end of the CA's renewal window (ARI),
    else the lifetime threshold."""
    info = _window(meta)
    if info is not None:
        return info.end
    return Lifetime(meta.not_before_time, meta.not_after_time).renew_at(fraction)


def chosen_moment(meta: StoredCertificate) -> dt.datetime | None:
    """The moment picked inside the CA's renewal window (RFC 9773 §4.2), if it had one."""
    info = _window(meta)
    return info.selected if info is not None else None


def _window(meta: StoredCertificate) -> ari.RenewalInfo | None:
    block = meta.extra.get("ari")
    if not isinstance(block, dict):
        return None
    info = ari.RenewalInfo.from_json(block)
    return info if info.end <= meta.not_after_time else None


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Outcome:
    lifetime_days: float
    ari: bool
    scenario: str
    sweep_days: float
    watch_hours: float | None
    certificates: int
    days: float
    renewals: int
    expired: int
    hours_without_valid: float
    late_hours: float  # longest time served past the renewal point (not forced)
    after_chosen_hours: float | None  # longest past the moment picked in the window (ARI)
    min_left_days: float
    max_left_days: float
    revocation_hours: float | None  # announcement to the last replacement
    counts: dict[str, int]

    @property
    def renewals_per_cert_year(self) -> float:
        return self.renewals / self.certificates * 365 / self.days


def measure(year: Year) -> Outcome:
    replaced = [s for runs in year.served.values() for s in runs if s.replaced_at]
    expired = [s for runs in year.served.values() for s in runs
               if (s.replaced_at or year.end) > s.not_after]
    gaps = sum(((s.replaced_at or year.end) - s.not_after for s in expired), dt.timedelta())
    late = [s.replaced_at - s.renewal_point for s in replaced
            if not s.forced and s.replaced_at and s.renewal_point]
    after_chosen = [s.replaced_at - s.chosen for s in replaced
                    if not s.forced and s.replaced_at and s.chosen]
    left = [(s.not_after - s.replaced_at) / DAY for s in replaced if s.replaced_at]
    revocation = None
    if year.revoked_at is not None:
        done = [s.replaced_at for runs in year.served.values() for s in runs
                if s.name in year.revocation_names and s.not_before < year.revoked_at
                and (s.replaced_at is None or s.replaced_at >= year.revoked_at)]
        revocation = max(((r or year.end) - year.revoked_at) / HOUR for r in done)
    deployment = year.deployment
    return Outcome(
        lifetime_days=year.case.lifetime_days, ari=year.case.ari, scenario=year.case.scenario,
        sweep_days=deployment.sweep / DAY,
        watch_hours=(None if year.case.scenario == "watch-down" or not deployment.watch
                     else deployment.watch / HOUR),
        certificates=year.case.certificates, days=year.case.days,
        renewals=len(replaced), expired=len(expired), hours_without_valid=gaps / HOUR,
        late_hours=max([d / HOUR for d in late] + [0.0]),
        after_chosen_hours=(max([d / HOUR for d in after_chosen] + [0.0])
                            if after_chosen else None),
        min_left_days=min(left, default=float("nan")),
        max_left_days=max(left, default=float("nan")),
        revocation_hours=revocation, counts=asdict(year.counts))


def run_case(case: Case) -> Outcome:
    with virtual_world(case.seed):
        return Year(case).simulate()


def cases(lifetimes: Sequence[float] = LIFETIMES, scenarios: Sequence[str] = SCENARIOS, *,
          certificates: int = 12, days: float = 365.0,
          deployment: Callable[[dt.timedelta], Deployment] = Deployment.for_lifetime,
          ) -> list[Case]:
    return [Case(days_, with_ari, scenario, deployment(days_ * DAY), certificates, days)
            for days_ in lifetimes for with_ari in (False, True) for scenario in scenarios]


def run(selected: Sequence[Case]) -> list[Outcome]:
    quiet = logging.getLogger("wildcert")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the sweep warns of a stopped watch at every run
    try:
        return [run_case(case) for case in selected]
    finally:
        quiet.setLevel(level)


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(outcomes: Sequence[Outcome]) -> list[str]:
    header = ("lifetime", "ARI", "year", "sweep / watch", "expired",
              "late past renewal point (h)", "past the moment chosen in the window (h)",
              "renewals / cert / year",
              "left at renewal, days (min-max)", "revocation: all replaced after (h)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for o in outcomes:
        watch = "none" if o.watch_hours is None else f"{o.watch_hours:g} h"
        lines.append("| " + " | ".join((
            f"{o.lifetime_days:g} d", "yes" if o.ari else "no", o.scenario,
            f"{o.sweep_days:g} d / {watch}", str(o.expired), _num(o.late_hours),
            _num(o.after_chosen_hours),
            _num(o.renewals_per_cert_year, 2),
            f"{o.min_left_days:.2f}-{o.max_left_days:.2f}", _num(o.revocation_hours),
        )) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=12)
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    args = parser.parse_args(argv)
    outcomes = run(cases(certificates=args.certificates, days=args.days))
    if args.json:
        print(json.dumps([asdict(o) for o in outcomes], indent=1))
    else:
        print("\n".join(table(outcomes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
