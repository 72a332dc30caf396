"""The renewal sweep: decide which stored certificates are due and queue one renewal each.

Run on a schedule (monthly by default) it looks a whole sweep interval ahead, so nothing
crosses its renewal point before the next sweep. Run by hand during an incident it also
queues the certificates named by `force` (names, covered domains or serials), due or not.

The event (directly, or as an EventBridge event's `detail`), every field optional:
    {"force": {"names": [...], "domains": [...], "serials": [...]}, "dry_run": false}
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wildcert.adapters import slack
from wildcert.adapters.acme import AcmeError, RenewalInfoReader
from wildcert.adapters.bucket.inventory import (
    Entry,
    Inventory,
    ManagedCertificates,
    Refreshed,
    refresh_all,
)
from wildcert.adapters.sqs import Renewal, RenewalQueue, SendResult
from wildcert.logic.renewal import Decision, Horizons, decide
from wildcert.logic.request import is_valid_cert_name, normalise_domain
from wildcert.settings import Settings, SettingsError

logger = logging.getLogger("wildcert.jobs.sweep.job")

SWEEP_FIELDS = ("force", "dry_run")
FORCE_FIELDS = ("names", "domains", "serials")
MAX_FORCE_ENTRIES = 1000  # a CA's mass-revocation list per account stays far below this
LISTED_PROBLEMS = 15
_HEX = re.compile(r"[0-9a-f]+")


class EventRejected(Exception):
    """The event cannot be acted on; `problems` lists every reason at once."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


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


def normalise_serial(text: str) -> str | None:
    """Hex as wildcert stores it: lower case, no colons or spaces, no leading zeros."""
    value = re.sub(r"[\s:]", "", text.strip().lower())
    value = value.removeprefix("0x")
    if not value or not _HEX.fullmatch(value):
        return None
    return format(int(value, 16), "x")


def payload_of(event: object) -> object:
    """The sweep's own fields: an EventBridge event's `detail`, or the event itself."""
    if isinstance(event, dict) and "detail-type" in event and "source" in event:
        detail = event.get("detail")
        return {} if detail is None else detail
    return {} if event is None else event


def _show(value: object, limit: int = 60) -> str:
    """A value quoted for a problem sentence: JSON-escaped, so no control characters, and short."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unknown(key: object, allowed: Sequence[str], where: str) -> str:
    return (f"{where} has an unknown field {_show(key)}; the fields are "
            f"{', '.join(allowed)}.")


def _strings(value: object, where: str, problems: list[str]) -> list[tuple[int, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{where} must be a list of strings; got {_show(value)}.")
        return []
    if len(value) > MAX_FORCE_ENTRIES:
        problems.append(f"{where} lists {len(value)} entries; at most {MAX_FORCE_ENTRIES}.")
        return []
    good: list[tuple[int, str]] = []
    for index, item in enumerate(value):
        if isinstance(item, str) and item.strip():
            good.append((index, item.strip()))
        else:
            problems.append(f"{where}[{index}] must be a non-empty string; got {_show(item)}.")
    return good


def _names(value: object, problems: list[str]) -> tuple[str, ...]:
    out = []
    for index, item in _strings(value, "force.names", problems):
        if is_valid_cert_name(item):
            out.append(item)
        else:
            problems.append(f"force.names[{index}] {_show(item)} is not a certificate name "
                            "(lower-case letters, digits, '.', '_' and '-').")
    return tuple(dict.fromkeys(out))


def _domains(value: object, problems: list[str]) -> tuple[str, ...]:
    out = []
    for index, item in _strings(value, "force.domains", problems):
        checked = normalise_domain(item)
        if checked.name is None:
            problems.append(f"force.domains[{index}] {_show(item)}: {checked.problem}")
        else:
            out.append(checked.name)
    return tuple(dict.fromkeys(out))


def _serials(value: object, problems: list[str]) -> tuple[str, ...]:
    out = []
    for index, item in _strings(value, "force.serials", problems):
        serial = normalise_serial(item)
        if serial is None:
            problems.append(f"force.serials[{index}] {_show(item)} is not a hexadecimal serial "
                            "number (colons, spaces and 0x are allowed).")
        else:
            out.append(serial)
    return tuple(dict.fromkeys(out))


def _force(value: object, problems: list[str]) -> ForceSelection:
    if value is None:
        return ForceSelection()
    if not isinstance(value, dict):
        problems.append('force must be an object such as {"serials": ["03ab..."]}; '
                        f"got {_show(value)}.")
        return ForceSelection()
    before = len(problems)
    problems.extend(_unknown(k, FORCE_FIELDS, "force") for k in value if k not in FORCE_FIELDS)
    selection = ForceSelection(
        names=_names(value.get("names"), problems),
        domains=_domains(value.get("domains"), problems),
        serials=_serials(value.get("serials"), problems),
    )
    if len(problems) == before and not selection:
        problems.append("force selects nothing: give at least one of names, domains or "
                        "serials, or leave force out.")
    return selection


def flag(value: object, where: str, problems: list[str]) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    problems.append(f"{where} must be true or false (a JSON boolean); got {_show(value)}.")
    return False


def event_fields(event: object, allowed: Sequence[str], what: str,
                 problems: list[str]) -> dict[Any, Any]:
    """The event's own fields, with a problem for each one not in `allowed`."""
    payload = payload_of(event)
    if not isinstance(payload, dict):
        problems.append(f"The {what} event must be a JSON object; got {_show(payload)}.")
        return {}
    problems.extend(_unknown(k, allowed, f"The {what} event") for k in payload
                    if k not in allowed)
    return payload


def reject_if(problems: list[str]) -> None:
    if problems:
        shown = problems[:LISTED_PROBLEMS]
        if len(problems) > LISTED_PROBLEMS:
            shown.append(f"…and {len(problems) - LISTED_PROBLEMS} more problems.")
        raise EventRejected(shown)


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


@dataclass(frozen=True)
class Planned:
    entry: Entry
    reason: str
    detail: str
    force: bool

    def renewal(self) -> Renewal:
        meta = self.entry.meta
        return Renewal(name=self.entry.name, domains=tuple(meta.domains),
                       key_type=meta.key_type, reason=self.reason, serial=meta.serial,
                       force=self.force, endpoints=self.entry.endpoints)

    def as_dict(self) -> dict[str, Any]:
        meta = self.entry.meta
        return {"name": self.entry.name, "reason": self.reason, "detail": self.detail,
                "serial": meta.serial, "not_after": meta.not_after}


def plan(entries: Iterable[Entry], now: dt.datetime, *, horizons: Horizons,
         remaining_fraction: float, forced: dict[str, tuple[str, ...]] | None = None,
         ) -> list[Planned]:
    """Pure: what to queue, forced first in reason, each certificate once."""
    forced = forced or {}
    out: list[Planned] = []
    for entry in entries:
        if entry.name in forced:
            out.append(Planned(entry, "forced", "forced by " + ", ".join(forced[entry.name]),
                               force=True))
            continue
        decision = decision_for(entry, now, horizons=horizons,
                                remaining_fraction=remaining_fraction)
        if decision.due:
            out.append(Planned(entry, decision.reason, decision.detail,
                               force=decision.needs_force))
    return out


def decision_for(entry: Entry, now: dt.datetime, *, horizons: Horizons,
                 remaining_fraction: float) -> Decision:
    info = entry.renewal_info
    return decide(entry.lifetime, now, horizons=horizons, remaining_fraction=remaining_fraction,
                  ari_selected=info.selected if info else None,
                  ari_end=info.end if info else None)


def sweep_horizons(settings: Settings) -> Horizons:
    sweep = dt.timedelta(days=settings.sweep_interval_days)
    # Without a scheduled watch, the next look at the CA's window is the next sweep.
    ari = (dt.timedelta(hours=settings.watch_interval_hours)
           if settings.watch_interval_hours else sweep)
    return Horizons(threshold=sweep, ari=ari)


@dataclass(frozen=True)
class AriRound:
    """The renewal windows after refreshing those the CA asked to re-check."""

    entries: tuple[Entry, ...]
    refreshed: int
    problems: tuple[tuple[str, str], ...]  # (name, problem)


def refresh_windows(inventory: Inventory, reader: RenewalInfoReader, bucket: ManagedCertificates,
                    now: dt.datetime, *, everything: bool = False) -> AriRound:
    """One directory look-up, then the due refreshes side by side; never raises for the CA."""
    if not any(e.ari_id for e in inventory.entries):
        return AriRound(inventory.entries, 0, ())
    try:
        offered = reader.url is not None
    except AcmeError as exc:
        return AriRound(inventory.entries, 0, (("(directory)", str(exc)),))
    if not offered:
        return AriRound(inventory.entries, 0, ())
    results: list[Refreshed] = refresh_all(inventory.entries, reader.fetch, bucket, now,
                                           everything=everything)
    return AriRound(
        tuple(r.entry for r in results),
        sum(r.refreshed for r in results),
        tuple((r.entry.name, r.problem) for r in results if r.problem),
    )


@dataclass(frozen=True)
class SweepReport:
    checked: int
    planned: tuple[Planned, ...]
    sent: SendResult
    inventory: Inventory
    unmatched: ForceSelection
    ari: AriRound
    dry_run: bool

    @property
    def complete(self) -> bool:
        return not self.sent.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.complete else "incomplete",
            "dry_run": self.dry_run,
            "checked": self.checked,
            "due": [p.entry.name for p in self.planned if p.reason != "forced"],
            "forced": [p.entry.name for p in self.planned if p.reason == "forced"],
            "queued": list(self.sent.queued),
            "failed": [{"name": n, "error": e} for n, e in self.sent.failed],
            "renewals": [p.as_dict() for p in self.planned],
            "broken": [{"name": b.name, "problem": b.problem} for b in self.inventory.broken],
            "unmanaged": list(self.inventory.unmanaged),
            "unmatched": {"names": list(self.unmatched.names),
                          "domains": list(self.unmatched.domains),
                          "serials": list(self.unmatched.serials)},
            "ari": {"refreshed": self.ari.refreshed,
                    "problems": [{"name": n, "problem": p} for n, p in self.ari.problems]},
        }

    def message(self) -> slack.Message:
        return slack.sweep_summary(
            checked=self.checked,
            due=[p.entry.name for p in self.planned if p.reason != "forced"],
            forced=[p.entry.name for p in self.planned if p.reason == "forced"],
            queued=len(self.sent.queued),
            failed=list(self.sent.failed),
            broken=[(b.name, b.problem) for b in self.inventory.broken],
            unmanaged=list(self.inventory.unmanaged),
            unmatched=[*self.unmatched.names, *self.unmatched.domains, *self.unmatched.serials],
            ari_problems=list(self.ari.problems),
            dry_run=self.dry_run,
        )


@dataclass
class Sweep:
    settings: Settings
    bucket: ManagedCertificates
    reader: RenewalInfoReader
    queue: RenewalQueue | None  # None only for a dry run
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))

    def run(self, event: SweepEvent) -> SweepReport:
        if self.queue is None and not event.dry_run:
            raise SettingsError("wildcert is misconfigured: RENEWAL_QUEUE_URL is not set")
        now = self.now()
        inventory = self.bucket.load()
        windows = refresh_windows(inventory, self.reader, self.bucket, now)
        forced = select_forced(windows.entries, event.force)
        planned = plan(windows.entries, now, horizons=sweep_horizons(self.settings),
                       remaining_fraction=self.settings.renew_at_remaining_fraction,
                       forced=forced.selected)
        sent = SendResult((), ())
        if planned and not event.dry_run:
            assert self.queue is not None
            sent = self.queue.send([p.renewal() for p in planned])
        logger.info("sweep checked %d, queued %d of %d, %d failed, %d broken",
                    len(windows.entries), len(sent.queued), len(planned), len(sent.failed),
                    len(inventory.broken))
        return SweepReport(len(windows.entries), tuple(planned), sent, inventory,
                           forced.unmatched, windows, event.dry_run)
