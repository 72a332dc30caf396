"""What the sweep and the watch share: checking the event, one round over the inventory (the
CA's windows refreshed, what is due queued), and the Lambda's shape around it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from wildcert import container, metrics, runtime
from wildcert.adapters import aws, slack
from wildcert.adapters.acme import AcmeError, RenewalInfoReader
from wildcert.adapters.bucket.fleet import FleetInventory
from wildcert.adapters.bucket.inventory import (
    Entry,
    Inventory,
    ManagedCertificates,
    Refreshed,
    refresh_all,
)
from wildcert.adapters.bucket.objects import Bucket, StorageError
from wildcert.adapters.sqs import Renewal, RenewalQueue, SendResult
from wildcert.deadline import Deadline
from wildcert.errors import WildcertError
from wildcert.logic import cas, fleet
from wildcert.logic.cas import STAGING_NAME
from wildcert.logic.renewal import Decision, Horizons, decide
from wildcert.logic.request import is_eventbridge
from wildcert.logic.request.echo import show
from wildcert.settings import Settings, SettingsError

LISTED_PROBLEMS = 15


# -- the event ---------------------------------------------------------------------------------


class EventRejected(WildcertError):
    """The event cannot be acted on; `problems` lists every reason at once."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def payload_of(event: object) -> object:
    """The job's own fields: an EventBridge event's `detail`, or the event itself."""
    if is_eventbridge(event):
        detail = event.get("detail")
        return {} if detail is None else detail
    return {} if event is None else event


def unknown_field(key: object, allowed: Sequence[str], where: str) -> str:
    return f"{where} has an unknown field {show(key)}; the fields are {', '.join(allowed)}."


def event_fields(event: object, allowed: Sequence[str], what: str,
                 problems: list[str]) -> dict[Any, Any]:
    """The event's own fields, with a problem for each one not in `allowed`."""
    payload = payload_of(event)
    if not isinstance(payload, dict):
        problems.append(f"The {what} event must be a JSON object; got {show(payload)}.")
        return {}
    problems.extend(unknown_field(k, allowed, f"The {what} event") for k in payload
                    if k not in allowed)
    return payload


def flag(value: object, where: str, problems: list[str]) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    problems.append(f"{where} must be true or false (a JSON boolean); got {show(value)}.")
    return False


def reject_if(problems: list[str]) -> None:
    if problems:
        shown = problems[:LISTED_PROBLEMS]
        if len(problems) > LISTED_PROBLEMS:
            shown.append(f"…and {len(problems) - LISTED_PROBLEMS} more problems.")
        raise EventRejected(shown)


# -- what is due -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    entry: Entry
    reason: str
    detail: str
    force: bool

    def renewal(self) -> Renewal:
        # No endpoints: the issuer keeps cert.json's. Sent, an entry stored under older rules
        # (an IP literal, a port ENDPOINT_PORTS no longer lists) would get the renewal rejected.
        meta = self.entry.meta
        # A staging certificate renews from staging (cert.json says "ca" only then).
        ca = meta.extra.get("ca")
        return Renewal(name=self.entry.name, domains=tuple(meta.domains),
                       key_type=meta.key_type, reason=self.reason, serial=meta.serial,
                       force=self.force,
                       ca=ca if isinstance(ca, str) and ca else "production")

    def as_dict(self) -> dict[str, Any]:
        meta = self.entry.meta
        return {"name": self.entry.name, "reason": self.reason, "detail": self.detail,
                "serial": meta.serial, "not_after": meta.not_after}


def plan(entries: Iterable[Entry], now: dt.datetime, *, horizons: Horizons,
         remaining_fraction: float, forced: Mapping[str, tuple[str, ...]] | None = None,
         unfollowed: Collection[str] = frozenset()) -> list[Planned]:
    """Pure: what to queue, forced first in reason, each certificate once.

    `unfollowed` names certificates whose renewal window no run is seen re-reading: they are
    decided with `horizons.unfollowed()`.
    """
    forced = forced or {}
    out: list[Planned] = []
    for entry in entries:
        if entry.name in forced:
            out.append(Planned(entry, "forced", "forced by " + ", ".join(forced[entry.name]),
                               force=True))
            continue
        decision = decision_for(
            entry, now, remaining_fraction=remaining_fraction,
            horizons=horizons.unfollowed() if entry.name in unfollowed else horizons)
        if decision.due:
            out.append(Planned(entry, decision.reason, decision.detail,
                               force=decision.needs_force))
    return out


def decision_for(entry: Entry, now: dt.datetime, *, horizons: Horizons,
                 remaining_fraction: float) -> Decision:
    info = entry.renewal_info
    return decide(entry.lifetime, now, horizons=horizons, remaining_fraction=remaining_fraction,
                  ari_selected=info.selected if info else None,
                  ari_end=info.end if info else None,
                  ari_start=info.start if info else None)


@dataclass(frozen=True)
class AriRound:
    """The renewal windows after refreshing those the CA asked to re-check."""

    entries: tuple[Entry, ...]
    refreshed: int
    problems: tuple[tuple[str, str], ...]  # (name, problem)


def refresh_windows(entries: tuple[Entry, ...], reader: RenewalInfoReader,
                    certificates: ManagedCertificates, now: dt.datetime, *,
                    everything: bool = False) -> AriRound:
    """One directory look-up, then the due refreshes side by side; never raises for the CA."""
    if not any(e.ari_id for e in entries):
        return AriRound(entries, 0, ())
    try:
        offered = reader.url is not None
    except AcmeError as exc:
        return AriRound(entries, 0, (("(directory)", str(exc)),))
    if not offered:
        return AriRound(entries, 0, ())
    results: list[Refreshed] = refresh_all(entries, reader.fetch, certificates, now,
                                           everything=everything)
    return AriRound(
        tuple(r.entry for r in results),
        sum(r.refreshed for r in results),
        tuple((r.entry.name, r.problem) for r in results if r.problem),
    )


# -- one round over the inventory --------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    """The inventory as this run found it, with the CA's windows refreshed where due."""

    now: dt.datetime
    inventory: Inventory
    windows: AriRound
    dry_run: bool

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self.windows.entries


@dataclass(frozen=True)
class Round:
    """What one run over the inventory saw and queued: the start of every report."""

    look: Look
    planned: tuple[Planned, ...]
    sent: SendResult

    @property
    def checked(self) -> int:
        return len(self.look.entries)

    def as_dict(self) -> dict[str, Any]:
        windows = self.look.windows
        return {
            "status": "ok" if not self.sent.failed else "incomplete",
            "dry_run": self.look.dry_run,
            "checked": self.checked,
            "renewals": [p.as_dict() for p in self.planned],
            "queued": list(self.sent.queued),
            "failed": [{"name": n, "error": e} for n, e in self.sent.failed],
            "ari": {"refreshed": windows.refreshed,
                    "problems": [{"name": n, "problem": p} for n, p in windows.problems]},
        }


@dataclass
class OverInventory:
    """The sweep's and the watch's parts, and the two steps of their rounds."""

    settings: Settings
    certificates: ManagedCertificates
    reader: RenewalInfoReader  # the first CA's
    queue: RenewalQueue | None  # None only for a dry run
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    # The other CAs' (ACME_CAS), by name: ARI is asked only of the CA that issued a certificate.
    other_readers: Mapping[str, RenewalInfoReader] = field(default_factory=dict)
    deadline: Deadline | None = None  # the invocation's; None: no limit (tests, tools)
    fleet: FleetInventory | None = None  # the owners' inventories; None: not written

    def look(self, *, dry_run: bool, refresh_all: bool = False) -> Look:
        """Read every cert.json and refresh the CA's windows (all of them on request).

        A run that would queue checks it can before it reads or writes anything.
        """
        if not dry_run:
            self._queue()
        now = self.now()
        inventory = self.certificates.load()
        windows = self._refresh(inventory.entries, now, everything=refresh_all)
        return Look(now, inventory, windows, dry_run)

    def _refresh(self, entries: tuple[Entry, ...], now: dt.datetime, *,
                 everything: bool) -> AriRound:
        """Each certificate's window from the CA that issued it (none from a CA no longer
        configured: its stored window stands), in the inventory's order."""
        by_ca: dict[str, list[Entry]] = {}
        for entry in entries:
            by_ca.setdefault(cas.issuer_of(entry.meta.extra, self.settings.cas), []).append(entry)
        first = self.settings.cas[0].name
        rounds = []
        for name, group in by_ca.items():
            reader = self.reader if name == first else self.other_readers.get(name)
            rounds.append(AriRound(tuple(group), 0, ()) if reader is None else refresh_windows(
                tuple(group), reader, self.certificates, now, everything=everything))
        found = {e.name: e for r in rounds for e in r.entries}
        return AriRound(tuple(found[e.name] for e in entries), sum(r.refreshed for r in rounds),
                        tuple(p for r in rounds for p in r.problems))

    def queue_due(self, look: Look, *, horizons: Horizons,
                  forced: Mapping[str, tuple[str, ...]] | None = None,
                  unfollowed: Collection[str] = frozenset()) -> Round:
        """Queue a renewal for each certificate due within `horizons`, and each forced one."""
        planned = plan(look.entries, look.now, horizons=horizons,
                       remaining_fraction=self.settings.renew_at_remaining_fraction,
                       forced=forced, unfollowed=unfollowed)
        sent = SendResult((), ())
        if planned and not look.dry_run:
            sent = self._queue().send([p.renewal() for p in planned])
        return Round(look, tuple(planned), sent)

    def record(self, done: Round, job: str,
               endpoints: Mapping[str, Sequence[str]] | None = None) -> None:
        """Each owner's inventory as this run saw it: every certificate as cert.json says,
        its renewal state and, from the watch (`endpoints`: the findings by name), its
        endpoints' state; rows of certificates that are gone are dropped. Each owner's days
        to its soonest expiry go to the dashboard. A dry run changes nothing."""
        look = done.look
        if look.dry_run:
            return
        by_owner: dict[str, dict[str, fleet.Row]] = {}
        for entry in look.entries:
            team = entry.meta.extra.get("team")
            team = team if isinstance(team, str) and team else None
            row = {**fleet.certificate_row(entry.meta, team),
                   "renewal": _renewal_state(entry.name, done, job)}
            if endpoints is not None:
                row["endpoints"] = _endpoints_state(entry, endpoints.get(entry.name, ()),
                                                    look.now)
            by_owner.setdefault(fleet.owner_of(team), {})[entry.name] = row
        by_owner.setdefault(fleet.OPERATORS, {})  # it lists every owner, with or without
        if self.fleet is not None:  # an owner whose last certificate is gone: emptied
            for gone in set(self.fleet.owners()) - set(by_owner):
                self.fleet.update(gone, {}, look.now, keep=())
        for owner, rows in by_owner.items():
            soonest = fleet.soonest_days_left(rows.values(), look.now)
            if soonest is not None:
                metrics.put(self.settings.metrics_namespace, metrics.DAYS_TO_SOONEST_EXPIRY,
                            round(soonest, 2), team=owner, unit=MetricUnit.NoUnit)
            if self.fleet is not None:
                self.fleet.update(owner, rows, look.now, keep=rows, owners=(
                    [o for o in by_owner if o != fleet.OPERATORS]
                    if owner == fleet.OPERATORS else None))

    def _queue(self) -> RenewalQueue:
        if self.queue is None:
            raise SettingsError("wildcert is misconfigured: RENEWAL_QUEUE_URL is not set")
        return self.queue


def _renewal_state(name: str, done: Round, job: str) -> dict[str, str]:
    now = done.look.now
    planned = next((p for p in done.planned if p.entry.name == name), None)
    if planned is None:
        return fleet.state("not due", now, f"checked by the {job}")
    failed = dict(done.sent.failed)
    if name in failed:
        return fleet.state("not queued", now, f"{planned.detail}; queueing failed: "
                                              f"{failed[name]}")
    return fleet.state("queued", now, f"{planned.detail} (queued by the {job})")


def _endpoints_state(entry: Entry, findings: Sequence[str],
                     now: dt.datetime) -> dict[str, str]:
    if not entry.endpoints:
        return fleet.state("none", now, "no endpoints given")
    if findings:
        return fleet.state("attention", now, "; ".join(findings))
    return fleet.state("ok", now, f"{len(entry.endpoints)} endpoint(s) serve the current "
                                  "certificate")


# -- the Lambda --------------------------------------------------------------------------------


def renewal_parts(settings: Settings, context: Any) -> dict[str, Any]:
    """The parts an OverInventory job is built from: the bucket, the CA's windows, the queue
    (or what the container was given instead)."""
    outside = container.current().outside
    if outside is not None:
        return outside.renewal_parts(settings, context)
    deadline = runtime.deadline(context)
    queue_url = settings.renewal_queue_url
    bucket = Bucket(aws.client("s3"), settings.bucket, settings.kms_key_id)
    return {
        "settings": settings,
        "certificates": ManagedCertificates(bucket),
        "fleet": FleetInventory(bucket),
        "reader": RenewalInfoReader(settings.cas[0].directory_url, deadline=deadline,
                                    ca_bundle=settings.acme_ca_bundle),
        # A reader looks its directory up only when asked: one per CA costs nothing unused.
        "other_readers": {ca.name: RenewalInfoReader(ca.directory_url, deadline=deadline,
                                                     ca_bundle=settings.acme_ca_bundle)
                          for ca in (*settings.cas[1:], *settings.cas_for(STAGING_NAME))},
        "queue": RenewalQueue(aws.client("sqs"), queue_url, deadline) if queue_url else None,
        "deadline": deadline,
    }


def run_over_inventory(event: Any, context: Any, job: str, parse: Callable[[Any], Any],
                       runner: Callable[..., Any], *, always_post: bool) -> dict[str, Any]:
    """The sweep's and the watch's shape: validate the event, run over the inventory, report.

    A rejected event is answered (and posted) without touching anything. A queueing failure is
    reported, not raised, because Lambda's retry of a whole run would queue the rest twice.
    The bucket failing to list is raised: without the inventory nothing can be decided.
    """
    settings = Settings.from_env()
    notifier = runtime.notifier(settings)
    try:
        parsed = parse(event)
    except EventRejected as rejected:
        notifier.post(slack.event_rejected(job, rejected.problems))
        return {"status": "rejected", "problems": list(rejected.problems),
                "message": "; ".join(rejected.problems)}
    try:
        report = runner(**renewal_parts(settings, context)).run(parsed)
    except StorageError as error:
        notifier.post(slack.failed(job, [], "inventory", str(error)))
        raise
    if always_post or report.worth_posting:
        notifier.post(report.message())
    return dict(report.as_dict())
