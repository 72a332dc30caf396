"""The watch: the CA's renewal windows twice a day, and whether certificates reach their servers.

Let's Encrypt sends no expiry e-mail any more and has no OCSP: noticing a certificate that was
not renewed, or renewed but never installed, is wildcert's job. The watch
  * refreshes the renewal windows the CA asked to re-check and queues every certificate whose
    window has opened (a CA incident renews itself within hours, with nobody sending events),
    and any certificate due by its lifetime within the next watch (a failed renewal retries);
  * flags stored certificates expiring within EXPIRY_WARNING_DAYS, or expired;
  * for certificates with `endpoints`, connects to each and compares the certificate served
    with the one stored: an older serial means the host never picked up the renewal. An
    endpoint is a host name on an ENDPOINT_PORTS port (`logic.request.endpoints`), resolved
    once and connected to only if every address is public; what the finding says about a
    failed connection does not tell a closed port from a filtered one. Each endpoint has
    ENDPOINT_SECONDS, and probing stops PROBE_RESERVE_SECONDS before the invocation's
    deadline; the teams' endpoints are taken in turn (one of each team's, then the next), so a
    team with many slow endpoints never uses up another's time, and what was not checked is
    reported per team;
  * deletes the archived private keys of certificates past not_after that cert.json no longer
    names (adapters/bucket/archive.py), last, so it never holds up a renewal.

The event (directly, or as an EventBridge event's `detail`), every field optional:
    {"dry_run": false, "refresh_ari": false}
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from wildcert.adapters import slack
from wildcert.adapters.bucket.archive import ArchivedKeys, Cleanup
from wildcert.adapters.bucket.inventory import Entry
from wildcert.adapters.dns import addresses_of
from wildcert.adapters.tls import ENDPOINT_SECONDS, NotProbed, Prober, Resolve, system_addresses
from wildcert.deadline import Deadline
from wildcert.jobs.over_inventory import (
    Look,
    OverInventory,
    Round,
    event_fields,
    flag,
    reject_if,
)
from wildcert.logic import certificates as certs
from wildcert.logic.cas import STAGING_NAME, Ca, issuer_of
from wildcert.logic.renewal import Horizons
from wildcert.logic.request import normalise_serial
from wildcert.logic.request.echo import show
from wildcert.logic.request.endpoints import (
    DEFAULT_PORTS,
    Endpoint,
    parse_endpoint,
)
from wildcert.logic.times import iso_minutes
from wildcert.settings import Settings

logger = logging.getLogger("wildcert.jobs.watch.job")

WATCH_FIELDS = ("dry_run", "refresh_ari")
DEFAULT_WATCH_INTERVAL = dt.timedelta(hours=12)
# What probing leaves of the invocation: the archived-key clean-up and the report.
PROBE_RESERVE_SECONDS = 45.0
PROBE_WORKERS = 16
# The label put before a wildcard's base when a certificate has no other name to ask for.
SNI_LABEL = "www"


@dataclass(frozen=True)
class Finding:
    name: str
    # expired | expiring | stale | other | served-expiring | unreachable | refused | broken
    # | archive | fallback | revoked
    kind: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "text": self.text}


@dataclass(frozen=True)
class WatchEvent:
    dry_run: bool = False
    refresh_ari: bool = False  # ask the CA about every certificate now, not when it said


def parse_watch_event(event: object) -> WatchEvent:
    problems: list[str] = []
    payload = event_fields(event, WATCH_FIELDS, "watch", problems)
    dry_run = flag(payload.get("dry_run"), "dry_run", problems)
    refresh = flag(payload.get("refresh_ari"), "refresh_ari", problems)
    reject_if(problems)
    return WatchEvent(dry_run=dry_run, refresh_ari=refresh)


# -- expiry ------------------------------------------------------------------------------------


def _in(delta: dt.timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:.1f} days" if days < 10 else f"{days:.0f} days"


def expiry_text(not_after: dt.datetime, now: dt.datetime) -> str:
    if now >= not_after:
        return f"expired {iso_minutes(not_after)}, {_in(now - not_after)} ago"
    return f"expires {iso_minutes(not_after)}, in {_in(not_after - now)}"


def expiry_finding(entry: Entry, now: dt.datetime, warning: dt.timedelta) -> Finding | None:
    not_after = entry.meta.not_after_time
    text = f"the stored certificate {expiry_text(not_after, now)}"
    if now >= not_after:
        return Finding(entry.name, "expired", text)
    if not_after - now <= warning:
        return Finding(entry.name, "expiring", text)
    return None


def fallback_finding(entry: Entry, cas: Sequence[Ca]) -> Finding | None:
    """A certificate from a CA other than the first: the first was unavailable when it was
    issued. It returns to the first CA at its next renewal; until then the operators know
    which CA their servers serve."""
    issuer = issuer_of(entry.meta.extra, cas)
    if not cas or issuer in (cas[0].name, STAGING_NAME):
        return None
    return Finding(entry.name, "fallback", f"issued by the fallback CA {issuer} (the first CA, "
                   f"{cas[0].name}, was unavailable); it returns to {cas[0].name} at its next "
                   "renewal")


def revoked_finding(entry: Entry) -> Finding | None:
    """The live certificate was revoked and its replacement never stored (the reissue after a
    revoke failed): servers keep the set they had, and no puller installs this one."""
    revoked = {r.get("serial"): r for r in entry.meta.extra.get("revoked", [])
               if isinstance(r, dict)}
    mark = revoked.get(entry.meta.serial)
    if mark is None:
        return None
    return Finding(entry.name, "revoked", f"serial {entry.meta.serial} was revoked "
                   f"({mark.get('reason', 'unspecified')}) and not replaced: reissue "
                   f"{entry.name!r} with {{\"force\": true}}")


# -- endpoints ---------------------------------------------------------------------------------


def sni_for(domains: Sequence[str]) -> str:
    """The name to ask a server for: the first plain name, else a name under the wildcard."""
    for domain in domains:
        if not domain.startswith("*."):
            return domain
    return f"{SNI_LABEL}.{domains[0][2:]}"


def prober_for(settings: Settings) -> Prober:
    """The probe a deployed watch uses; DNS_SERVER_OVERRIDE, if set, is its resolver."""
    server = settings.dns_server_override
    resolve: Resolve = (functools.partial(addresses_of, server=server) if server
                        else system_addresses)
    return Prober(resolve=resolve, allow_loopback=settings.watch_allow_loopback)


def compare_served(entry: Entry, endpoint: Endpoint, sni: str, served: x509.Certificate, *,
                   now: dt.datetime, warning: dt.timedelta) -> Finding | None:
    """Pure: what is wrong with what `endpoint` serves, compared with the bucket."""
    stored = entry.meta
    serial = certs.serial_hex(served)
    served_until = certs.not_after(served)
    expiry = expiry_text(served_until, now)
    if serial != normalise_serial(stored.serial):
        # Not newer than the bucket's: a reissue within the same second (the CA's not_before
        # has whole seconds) is the renewal the host has not installed, too.
        if certs.not_before(served) <= stored.not_before_time:
            return Finding(entry.name, "stale", (
                f"{endpoint} serves serial {serial} ({expiry}), bucket has {stored.serial}: "
                "the host has not installed the renewal"))
        return Finding(entry.name, "other", (
            f"{endpoint} serves serial {serial} ({expiry}) for {sni}, not the bucket's "
            f"{stored.serial}: it serves a certificate wildcert did not store"))
    if now >= served_until or served_until - now <= warning:
        return Finding(entry.name, "served-expiring", f"{endpoint} serves serial {serial}, "
                       f"which {expiry}")
    return None


Probe = Callable[[Endpoint, str], x509.Certificate]
DEFAULT_PROBE: Probe = Prober()  # the system resolver, public addresses only


def check_endpoint(entry: Entry, text: str, now: dt.datetime, warning: dt.timedelta,
                   probe: Probe = DEFAULT_PROBE, *,
                   ports: Collection[int] = DEFAULT_PORTS) -> Finding | None:
    checked = parse_endpoint(text, ports)
    if checked.endpoint is None:
        return Finding(entry.name, "refused",
                       f"endpoint {show(text)} {checked.problem}; the watch skips it.")
    endpoint = checked.endpoint
    sni = sni_for(entry.meta.domains)
    try:
        served = probe(endpoint, sni)
    except NotProbed as skipped:
        return Finding(entry.name, skipped.kind, skipped.text)
    except (OSError, ValueError):
        # Closed, filtered, reset or not TLS read alike: the reason is in the debug log only.
        return Finding(entry.name, "unreachable",
                       f"could not get a certificate from {endpoint} (SNI {sni})")
    return compare_served(entry, endpoint, sni, served, now=now, warning=warning)


@dataclass(frozen=True)
class EndpointRound:
    """What the endpoint checks found, and how many endpoints each team had checked and not
    (the operators' certificates under "operators")."""

    findings: list[Finding]
    checked: dict[str, int]
    unchecked: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "unchecked": self.unchecked}


OPERATORS = "operators"
_NOT_CHECKED = Finding("", "unchecked", "")  # a job that found no time left


def whose(entry: Entry) -> str:
    team = entry.meta.extra.get("team")
    return team if isinstance(team, str) and team else OPERATORS


def in_turn(jobs: Sequence[tuple[Entry, str]], turn: int = 0) -> list[int]:
    """The order to check `jobs` (entry, endpoint) in, as indices: one of each team's in turn,
    the first of every team, then the second, … `turn` rotates each team's list, so runs that
    cannot check everything leave different endpoints out each time."""
    by_team: dict[str, list[int]] = {}
    for index, (entry, _) in enumerate(jobs):
        by_team.setdefault(whose(entry), []).append(index)
    queues = [q[turn % len(q):] + q[:turn % len(q)] for q in by_team.values()]
    longest = max((len(q) for q in queues), default=0)
    return [q[i] for i in range(longest) for q in queues if i < len(q)]


def check_endpoints(entries: Iterable[Entry], now: dt.datetime, warning: dt.timedelta, *,
                    probe: Probe = DEFAULT_PROBE, ports: Collection[int] = DEFAULT_PORTS,
                    workers: int = PROBE_WORKERS,
                    deadline: Deadline | None = None) -> EndpointRound:
    """Check every endpoint, the teams' in turn, while `deadline` leaves an endpoint's time
    and the reserve; what was left unchecked is one finding per team."""
    jobs = [(entry, text) for entry in entries for text in entry.endpoints]
    if not jobs:
        return EndpointRound([], {}, {})

    def run(index: int) -> tuple[int, Finding | None]:
        if deadline is not None and deadline.remaining() < ENDPOINT_SECONDS + PROBE_RESERVE_SECONDS:
            return index, _NOT_CHECKED
        entry, text = jobs[index]
        return index, check_endpoint(entry, text, now, warning, probe, ports=ports)

    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        found = dict(pool.map(run, in_turn(jobs, turn=int(now.timestamp() // 3600))))
    results = [found[index] for index in range(len(jobs))]  # findings in the inventory's order
    checked: Counter[str] = Counter()
    unchecked: Counter[str] = Counter()
    for (entry, _), result in zip(jobs, results, strict=True):
        (unchecked if result is _NOT_CHECKED else checked)[whose(entry)] += 1
    findings = [f for f in results if f is not None and f is not _NOT_CHECKED]
    totals = checked + unchecked
    findings += [Finding(OPERATORS if team == OPERATORS else f"team {team}", "unchecked", (
        f"{count} of {totals[team]} endpoint(s) not checked: the watch ran out of time "
        "(endpoints are checked in turn between teams; another run checks others first)"))
        for team, count in sorted(unchecked.items())]
    if unchecked:
        logger.warning("watch: out of time, endpoints not checked: %s", dict(unchecked))
    return EndpointRound(findings, dict(checked), dict(unchecked))


# -- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchReport:
    done: Round
    findings: tuple[Finding, ...]
    archived_keys: Cleanup = field(default_factory=Cleanup)
    endpoints: EndpointRound = field(default_factory=lambda: EndpointRound([], {}, {}))

    def as_dict(self) -> dict[str, Any]:
        return {**self.done.as_dict(), "findings": [f.as_dict() for f in self.findings],
                "archived_keys": self.archived_keys.as_dict(),
                "endpoints": self.endpoints.as_dict()}

    @property
    def worth_posting(self) -> bool:
        return bool(self.findings or self.done.sent.failed)

    def message(self) -> slack.Message:
        return slack.watch_findings(
            checked=self.done.checked,
            findings=[(f.name, f.text) for f in self.findings],
            queued=list(self.done.sent.queued),
            failed=list(self.done.sent.failed),
        )


def watch_horizons(settings: Settings) -> Horizons:
    every = (dt.timedelta(hours=settings.watch_interval_hours)
             if settings.watch_interval_hours else DEFAULT_WATCH_INTERVAL)
    return Horizons(threshold=every, ari=every)


@dataclass
class Watch(OverInventory):
    probe: Probe | None = None  # None: `prober_for(settings)`
    # None leaves archived keys to the bucket's lifecycle rule alone.
    archived_keys: ArchivedKeys | None = None

    def run(self, event: WatchEvent) -> WatchReport:
        look = self.look(dry_run=event.dry_run, refresh_all=event.refresh_ari)
        done = self.queue_due(look, horizons=watch_horizons(self.settings))
        now, warning = look.now, dt.timedelta(days=self.settings.expiry_warning_days)
        findings = [Finding(b.name, "broken", b.problem) for b in look.inventory.broken]
        findings += [f for e in look.entries if (f := expiry_finding(e, now, warning))]
        findings += [f for e in look.entries if (f := fallback_finding(e, self.settings.cas))]
        findings += [f for e in look.entries if (f := revoked_finding(e))]
        endpoints = check_endpoints(look.entries, now, warning,
                                    probe=self.probe or prober_for(self.settings),
                                    ports=self.settings.endpoint_ports, deadline=self.deadline)
        findings += endpoints.findings
        by_name: dict[str, list[str]] = {}
        for finding in endpoints.findings:
            by_name.setdefault(finding.name, []).append(finding.text)
        self.record(done, "watch", endpoints=by_name)
        cleanup = self.clean_archives(look)
        findings += [Finding(name, "archive", problem) for name, problem in cleanup.problems]
        logger.info("watch checked %d, %d findings, queued %d of %d, %d archived keys %s",
                    done.checked, len(findings), len(done.sent.queued), len(done.planned),
                    len(cleanup.deleted), "to delete" if look.dry_run else "deleted")
        return WatchReport(done, tuple(findings), cleanup, endpoints)

    def clean_archives(self, look: Look) -> Cleanup:
        """Expired archived keys of every name with a readable cert.json or none at all; a
        broken cert.json may name any set as live, so its name is left alone."""
        if self.archived_keys is None:
            return Cleanup()
        live: dict[str, str | None] = {name: None for name in look.inventory.unmanaged}
        live.update({entry.name: entry.meta.archive for entry in look.entries})
        return self.archived_keys.clean(live, look.now, dry_run=look.dry_run)
