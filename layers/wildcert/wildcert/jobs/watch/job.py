"""The watch: the CA's renewal windows twice a day, and whether certificates reach their servers.

Let's Encrypt sends no expiry e-mail any more and has no OCSP: noticing a certificate that was
not renewed, or renewed but never installed, is wildcert's job. The watch
  * refreshes the renewal windows the CA asked to re-check and queues every certificate whose
    window has opened (a CA incident renews itself within hours, with nobody sending events),
    and any certificate due by its lifetime within the next watch (a failed renewal retries);
  * flags stored certificates expiring within EXPIRY_WARNING_DAYS, or expired;
  * for certificates with `endpoints`, connects to each and compares the certificate served
    with the one stored: an older serial means the host never picked up the renewal.

The event (directly, or as an EventBridge event's `detail`), every field optional:
    {"dry_run": false, "refresh_ari": false}
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from wildcert.adapters import slack
from wildcert.adapters.bucket.inventory import Entry
from wildcert.jobs.over_inventory import (
    OverInventory,
    Round,
    event_fields,
    flag,
    reject_if,
)
from wildcert.logic import certificates as certs
from wildcert.logic.renewal import Horizons
from wildcert.logic.request import normalise_serial
from wildcert.logic.times import iso_minutes
from wildcert.settings import Settings

logger = logging.getLogger("wildcert.jobs.watch.job")

WATCH_FIELDS = ("dry_run", "refresh_ari")
DEFAULT_WATCH_INTERVAL = dt.timedelta(hours=12)
PROBE_TIMEOUT_SECONDS = 5.0
PROBE_WORKERS = 16
DEFAULT_PORT = 443
# The label put before a wildcard's base when a certificate has no other name to ask for.
SNI_LABEL = "www"


@dataclass(frozen=True)
class Finding:
    name: str
    kind: str  # expired | expiring | stale | other | served-expiring | unreachable | broken
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


# -- endpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint | None:
    """`host:port`, `[v6]:port` or a bare host (port 443); None if unreadable."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else ("" if not rest else None)
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    elif ":" not in text:
        host, port = text, ""
    else:
        return None
    if not host or port is None or (port and not port.isdigit()):
        return None
    number = int(port) if port else DEFAULT_PORT
    return Endpoint(host.lower(), number) if 1 <= number <= 65535 else None


def sni_for(domains: Sequence[str]) -> str:
    """The name to ask a server for: the first plain name, else a name under the wildcard."""
    for domain in domains:
        if not domain.startswith("*."):
            return domain
    return f"{SNI_LABEL}.{domains[0][2:]}"


def served_certificate(endpoint: Endpoint, sni: str,
                       timeout: float = PROBE_TIMEOUT_SECONDS) -> x509.Certificate:
    """The leaf the server presents for `sni`, unverified: the point is to see what is served."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=sni) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server presented no certificate")
    return x509.load_der_x509_certificate(der)


def compare_served(entry: Entry, endpoint: Endpoint, sni: str, served: x509.Certificate, *,
                   now: dt.datetime, warning: dt.timedelta) -> Finding | None:
    """Pure: what is wrong with what `endpoint` serves, compared with the bucket."""
    stored = entry.meta
    serial = certs.serial_hex(served)
    served_until = certs.not_after(served)
    expiry = expiry_text(served_until, now)
    if serial != normalise_serial(stored.serial):
        if certs.not_before(served) < stored.not_before_time:
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


def check_endpoint(entry: Entry, text: str, now: dt.datetime, warning: dt.timedelta,
                   probe: Probe = served_certificate) -> Finding | None:
    endpoint = parse_endpoint(text)
    if endpoint is None:
        return Finding(entry.name, "unreachable",
                       f"endpoint {text!r} is not host:port; fix the certificate's endpoints")
    sni = sni_for(entry.meta.domains)
    try:
        served = probe(endpoint, sni)
    except (OSError, ValueError) as exc:  # ssl.SSLError and socket errors are OSErrors
        reason = str(exc) or type(exc).__name__
        return Finding(entry.name, "unreachable",
                       f"{endpoint} (SNI {sni}) cannot be reached: {type(exc).__name__}: "
                       f"{reason[:200]}")
    return compare_served(entry, endpoint, sni, served, now=now, warning=warning)


def check_endpoints(entries: Iterable[Entry], now: dt.datetime, warning: dt.timedelta, *,
                    probe: Probe = served_certificate,
                    workers: int = PROBE_WORKERS) -> list[Finding]:
    jobs = [(entry, text) for entry in entries for text in entry.endpoints]
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        results = pool.map(lambda job: check_endpoint(job[0], job[1], now, warning, probe), jobs)
        return [f for f in results if f is not None]


# -- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchReport:
    done: Round
    findings: tuple[Finding, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**self.done.as_dict(), "findings": [f.as_dict() for f in self.findings]}

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
    probe: Probe = served_certificate

    def run(self, event: WatchEvent) -> WatchReport:
        look = self.look(dry_run=event.dry_run, refresh_all=event.refresh_ari)
        done = self.queue_due(look, horizons=watch_horizons(self.settings))
        now, warning = look.now, dt.timedelta(days=self.settings.expiry_warning_days)
        findings = [Finding(b.name, "broken", b.problem) for b in look.inventory.broken]
        findings += [f for e in look.entries if (f := expiry_finding(e, now, warning))]
        findings += check_endpoints(look.entries, now, warning, probe=self.probe)
        logger.info("watch checked %d, %d findings, queued %d of %d", done.checked,
                    len(findings), len(done.sent.queued), len(done.planned))
        return WatchReport(done, tuple(findings))
