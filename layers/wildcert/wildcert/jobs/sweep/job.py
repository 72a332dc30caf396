"""The renewal sweep: decide which stored certificates are due and queue one renewal each.

Run on a schedule (weekly by default) it looks a whole sweep interval ahead, so nothing
crosses its renewal point before the next sweep. Where the watch runs, the sweep leaves the
CA's renewal windows (ARI) to it, unless it sees a window the watch has not re-read in time.
Run by hand during an incident it also queues the certificates named by `force` (names,
covered domains or serials), due or not.

The event (directly, or as an EventBridge event's `detail`), every field optional:
    {"force": {"names": [...], "domains": [...], "serials": [...]}, "dry_run": false}
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from wildcert.adapters import slack
from wildcert.adapters.bucket.inventory import Entry
from wildcert.jobs.over_inventory import (
    OverInventory,
    Round,
    event_fields,
    flag,
    reject_if,
    unknown_field,
)
from wildcert.logic.renewal import Horizons
from wildcert.logic.request import is_valid_cert_name, normalise_domain, normalise_serial
from wildcert.logic.request.echo import show
from wildcert.settings import Settings

logger = logging.getLogger("wildcert.jobs.sweep.job")

SWEEP_FIELDS = ("force", "dry_run")
FORCE_FIELDS = ("names", "domains", "serials")
MAX_FORCE_ENTRIES = 1000  # a CA's mass-revocation list per account stays far below this
WATCH_SLACK = dt.timedelta(hours=1)  # how late a scheduled watch may run and still count


# -- the event ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForceSelection:
    """Certificates to renew regardless of dueness; values normalised."""

    names: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    serials: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.names or self.domains or self.serials)


@dataclass(frozen=True)
class SweepEvent:
    force: ForceSelection = field(default_factory=ForceSelection)
    dry_run: bool = False


def _strings(value: object, where: str, problems: list[str]) -> list[tuple[int, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{where} must be a list of strings; got {show(value)}.")
        return []
    if len(value) > MAX_FORCE_ENTRIES:
        problems.append(f"{where} lists {len(value)} entries; at most {MAX_FORCE_ENTRIES}.")
        return []
    good: list[tuple[int, str]] = []
    for index, item in enumerate(value):
        if isinstance(item, str) and item.strip():
            good.append((index, item.strip()))
        else:
            problems.append(f"{where}[{index}] must be a non-empty string; got {show(item)}.")
    return good


def _names(value: object, problems: list[str]) -> tuple[str, ...]:
    out = []
    for index, item in _strings(value, "force.names", problems):
        if is_valid_cert_name(item):
            out.append(item)
        else:
            problems.append(f"force.names[{index}] {show(item)} is not a certificate name "
                            "(lower-case letters, digits, '.', '_' and '-').")
    return tuple(dict.fromkeys(out))


def _domains(value: object, problems: list[str]) -> tuple[str, ...]:
    out = []
    for index, item in _strings(value, "force.domains", problems):
        checked = normalise_domain(item)
        if checked.name is None:
            problems.append(f"force.domains[{index}] {show(item)}: {checked.problem}")
        else:
            out.append(checked.name)
    return tuple(dict.fromkeys(out))


def _serials(value: object, problems: list[str]) -> tuple[str, ...]:
    out = []
    for index, item in _strings(value, "force.serials", problems):
        serial = normalise_serial(item)
        if serial is None:
            problems.append(f"force.serials[{index}] {show(item)} is not a hexadecimal serial "
                            "number (colons, spaces and 0x are allowed).")
        else:
            out.append(serial)
    return tuple(dict.fromkeys(out))


def _force(value: object, problems: list[str]) -> ForceSelection:
    if value is None:
        return ForceSelection()
    if not isinstance(value, dict):
        problems.append('force must be an object such as {"serials": ["03ab..."]}; '
                        f"got {show(value)}.")
        return ForceSelection()
    before = len(problems)
    problems.extend(unknown_field(k, FORCE_FIELDS, "force")
                    for k in value if k not in FORCE_FIELDS)
    selection = ForceSelection(
        names=_names(value.get("names"), problems),
        domains=_domains(value.get("domains"), problems),
        serials=_serials(value.get("serials"), problems),
    )
    if len(problems) == before and not selection:
        problems.append("force selects nothing: give at least one of names, domains or "
                        "serials, or leave force out.")
    return selection


def parse_sweep_event(event: object) -> SweepEvent:
    """Validate the whole event, listing every problem at once."""
    problems: list[str] = []
    payload = event_fields(event, SWEEP_FIELDS, "sweep", problems)
    force = _force(payload.get("force"), problems)
    dry_run = flag(payload.get("dry_run"), "dry_run", problems)
    reject_if(problems)
    return SweepEvent(force=force, dry_run=dry_run)


# -- selection -------------------------------------------------------------------------------


def covers(san: str, domain: str) -> bool:
    """A SAN covers a domain when equal, or as a wildcard for exactly one more label."""
    if san == domain:
        return True
    if not san.startswith("*.") or domain.startswith("*."):
        return False
    head, _, parent = domain.partition(".")
    return bool(head) and parent == san[2:]


@dataclass(frozen=True)
class Forced:
    """The forced certificates (name -> what selected it) and the selectors that hit nothing."""

    selected: dict[str, tuple[str, ...]]
    unmatched: ForceSelection


def select_forced(entries: Iterable[Entry], force: ForceSelection) -> Forced:
    selected: dict[str, list[str]] = {}
    hit: set[tuple[str, str]] = set()
    for entry in entries:
        sans = [d.lower() for d in entry.meta.domains]
        serial = normalise_serial(entry.meta.serial) or entry.meta.serial
        why: list[str] = []
        if entry.name in force.names:
            why.append(f"name {entry.name}")
            hit.add(("names", entry.name))
        for domain in force.domains:
            if any(covers(san, domain) for san in sans):
                why.append(f"domain {domain}")
                hit.add(("domains", domain))
        if serial in force.serials:
            why.append(f"serial {serial}")
            hit.add(("serials", serial))
        if why:
            selected[entry.name] = why
    unmatched = ForceSelection(
        names=tuple(n for n in force.names if ("names", n) not in hit),
        domains=tuple(d for d in force.domains if ("domains", d) not in hit),
        serials=tuple(s for s in force.serials if ("serials", s) not in hit),
    )
    return Forced({k: tuple(v) for k, v in selected.items()}, unmatched)


# -- the run -----------------------------------------------------------------------------------


def sweep_horizons(settings: Settings) -> Horizons:
    sweep = dt.timedelta(days=settings.sweep_interval_days)
    if not settings.watch_interval_hours:
        # Without a scheduled watch the next look at the CA's window is the next sweep, which
        # cannot follow it closely: the lifetime threshold applies as well.
        return Horizons(threshold=sweep, ari=sweep).unfollowed()
    return Horizons(threshold=sweep, ari=dt.timedelta(hours=settings.watch_interval_hours))


def unfollowed_windows(entries: Iterable[Entry], now: dt.datetime,
                       settings: Settings) -> frozenset[str]:
    """Certificates whose renewal window the scheduled watch has not re-read in time.

    The watch re-reads every window whose `next_check` has passed, so while it runs none is
    left more than one watch interval behind (WATCH_SLACK allows for a late run). One further
    behind means the watch missed it: the sweep then stops leaving that certificate to it.
    Otherwise, with the CA's moment beyond the watch's horizon, only "expires before the next
    sweep" would catch it, and one missed sweep could let it lapse. (The sweep re-reads
    windows too, but a sweep interval is longer than this, so its own reads do not hide a
    stopped watch.)
    """
    if not settings.watch_interval_hours:
        return frozenset()
    late = now - dt.timedelta(hours=settings.watch_interval_hours) - WATCH_SLACK
    return frozenset(e.name for e in entries
                     if e.ari_id and (info := e.renewal_info) is not None
                     and info.next_check < late)


@dataclass(frozen=True)
class SweepReport:
    done: Round
    unmatched: ForceSelection

    def _names(self, *, forced: bool) -> list[str]:
        return [p.entry.name for p in self.done.planned if (p.reason == "forced") == forced]

    def as_dict(self) -> dict[str, Any]:
        inventory = self.done.look.inventory
        return {
            **self.done.as_dict(),
            "due": self._names(forced=False),
            "forced": self._names(forced=True),
            "broken": [{"name": b.name, "problem": b.problem} for b in inventory.broken],
            "unmanaged": list(inventory.unmanaged),
            "unmatched": {"names": list(self.unmatched.names),
                          "domains": list(self.unmatched.domains),
                          "serials": list(self.unmatched.serials)},
        }

    def message(self) -> slack.Message:
        inventory = self.done.look.inventory
        return slack.sweep_summary(
            checked=self.done.checked,
            due=self._names(forced=False),
            forced=self._names(forced=True),
            queued=len(self.done.sent.queued),
            failed=list(self.done.sent.failed),
            broken=[(b.name, b.problem) for b in inventory.broken],
            unmanaged=list(inventory.unmanaged),
            unmatched=[*self.unmatched.names, *self.unmatched.domains, *self.unmatched.serials],
            ari_problems=list(self.done.look.windows.problems),
            dry_run=self.done.look.dry_run,
        )


class Sweep(OverInventory):
    def run(self, event: SweepEvent) -> SweepReport:
        look = self.look(dry_run=event.dry_run)
        forced = select_forced(look.entries, event.force)
        # As read, before this sweep refreshed any window itself.
        unfollowed = unfollowed_windows(look.inventory.entries, look.now, self.settings)
        if unfollowed:
            logger.warning("the watch has not re-read the CA's renewal window of %d "
                           "certificates (%s) in time; the sweep applies the lifetime "
                           "threshold to them too", len(unfollowed),
                           ", ".join(sorted(unfollowed)[:5]))
        done = self.queue_due(look, horizons=sweep_horizons(self.settings),
                              forced=forced.selected, unfollowed=unfollowed)
        logger.info("sweep checked %d, queued %d of %d, %d failed, %d broken",
                    done.checked, len(done.sent.queued), len(done.planned),
                    len(done.sent.failed), len(look.inventory.broken))
        self.record(done, "sweep")
        return SweepReport(done, forced.unmatched)
