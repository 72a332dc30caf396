"""What a CA's `rateLimited` answer limits, so that only that waits.

Pure. Let's Encrypt counts most of its limits per registered domain or per exact set of names,
and only a few per account; its problem document's `detail` says which, e.g.

    too many certificates (50) already issued for "example.com" in the last 168h0m0s,
        retry after 2026-01-01 00:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/…
    too many certificates (5) already issued for this exact set of identifiers in the last
        168h0m0s, retry after …
    too many failed authorizations (5) for "www.example.com" in the last 1h0m0s, retry after …
    too many new orders (300) from this account in the last 3h0m0s, retry after …

A limit wildcert cannot place (new orders, registrations, wording it does not know) is taken
as the whole account's: waiting too broadly costs time, ordering into a limit costs the
account's standing with the CA. Each team orders with an ACME account of its own (the
operators with the default one), so an account's cooldown holds only that account's orders.

A cooldown never holds an order the CA exempts from the limit it records (`holding`): a
renewal of the exact set of names a stored certificate has is exempt from the per-registered-
domain limit, and an ARI renewal carrying `replaces` inside its window from every limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wildcert.logic import ari
from wildcert.logic.certificates import StoredCertificate
from wildcert.logic.times import iso, parse_time

ACCOUNT = "account"  # every order of the ACME account
DOMAIN = "domain"  # every name at or under a registered domain
IDENTIFIER = "identifier"  # one name (failed authorizations)
NAMES = "names"  # one exact set of names
# What the CA exempts an order from, as `holding` reads it.
SET_RENEWAL = "set-renewal"  # the exact set a stored certificate has: not the per-domain limit
ARI_RENEWAL = "ari-renewal"  # carries `replaces` inside the ARI window: no limit at all
DEFAULT_WAIT_SECONDS = 3600.0

_PER_DOMAIN = re.compile(r'already issued for:?\s*"?(?P<name>[a-z0-9.-]+\.[a-z0-9-]+)"?',
                         re.IGNORECASE)
_EXACT_SET = re.compile(r"exact set of (identifiers|domains|hostnames|names)", re.IGNORECASE)
_FAILED_AUTHZ = re.compile(r'failed authorizations[^"]*"(?P<name>[a-z0-9.*-]+)"', re.IGNORECASE)
_RETRY_AFTER = re.compile(
    r"retry after (?P<date>\d{4}-\d{2}-\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})", re.IGNORECASE)


@dataclass(frozen=True)
class Scope:
    """What one rate limit covers."""

    kind: str
    value: str = ""  # ACCOUNT: the team whose account it is ("": the operators' default one)

    def covers(self, domains: Sequence[str], account: str = "") -> bool:
        """Would an order for `domains` with the account of `account` count against it?"""
        if self.kind == ACCOUNT:
            return self.value == account
        if self.kind == NAMES:
            return _names_key(domains) == self.value
        bases = {d.removeprefix("*.").lower() for d in domains}
        if self.kind == IDENTIFIER:
            return self.value in bases
        return any(b == self.value or b.endswith("." + self.value) for b in bases)

    @property
    def key(self) -> str:
        """A short, stable file name for this scope."""
        if self.kind == ACCOUNT:
            return f"{ACCOUNT}-{self.value}" if self.value else ACCOUNT
        return f"{self.kind}-{hashlib.sha256(self.value.encode()).hexdigest()[:16]}"

    def describe(self) -> str:
        if self.kind == ACCOUNT:
            return (f"team {self.value}'s whole ACME account" if self.value
                    else "the operators' whole ACME account")
        if self.kind == DOMAIN:
            return f"names under {self.value}"
        if self.kind == IDENTIFIER:
            return f"the name {self.value}"
        return f"the exact set of names {self.value}"


ACCOUNT_SCOPE = Scope(ACCOUNT)


@dataclass(frozen=True)
class Cooldown:
    """The CA said to stop ordering for `scope` until `until`."""

    scope: Scope
    until: dt.datetime
    reason: str = ""

    def to_json(self) -> bytes:
        return json.dumps({"scope": self.scope.kind, "value": self.scope.value,
                           "until": iso(self.until), "reason": self.reason[:500]}).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Cooldown:
        body = json.loads(raw)
        scope = Scope(str(body.get("scope", ACCOUNT)), str(body.get("value", "")))
        return cls(scope, parse_time(body["until"]), str(body.get("reason", "")))


def holding(cooldowns: Iterable[Cooldown], domains: Sequence[str], now: dt.datetime, *,
            account: str = "", renewal: str | None = None) -> Cooldown | None:
    """The cooldown in force that an order for `domains`, with the account of `account` (a
    team id; "": the operators'), would count against (the one that ends last), if any.

    renewal: SET_RENEWAL or ARI_RENEWAL when the CA exempts the order from limits (above).
    """
    if renewal == ARI_RENEWAL:
        return None
    waiting = [c for c in cooldowns if c.until > now and c.scope.covers(domains, account)
               and not (renewal == SET_RENEWAL and c.scope.kind == DOMAIN)]
    return max(waiting, key=lambda c: c.until, default=None)


def cooldown_after(detail: str | None, retry_after: float | None, domains: Sequence[str],
                   now: dt.datetime, reason: str, *, account: str = "") -> Cooldown:
    """What a `rateLimited` answer to an order of `domains` limits, and until when."""
    wait = wait_seconds(retry_after, detail, now)
    return Cooldown(scope_of(detail, domains, account), now + dt.timedelta(seconds=wait),
                    reason)


def scope_of(detail: str | None, domains: Sequence[str], account: str = "") -> Scope:
    """The scope a `rateLimited` problem's detail names, for an order of `domains` with the
    account of `account` (a team id; "": the operators')."""
    text = detail or ""
    if _EXACT_SET.search(text):
        return Scope(NAMES, _names_key(domains))
    found = _FAILED_AUTHZ.search(text)
    if found:
        return Scope(IDENTIFIER, found["name"].lower().removeprefix("*.").rstrip("."))
    found = _PER_DOMAIN.search(text)
    if found:
        return Scope(DOMAIN, found["name"].lower().rstrip("."))
    return Scope(ACCOUNT, account)


def retry_after_in_detail(detail: str | None, now: dt.datetime) -> float | None:
    """Seconds until the `retry after <time> UTC` the detail names, if it names one."""
    found = _RETRY_AFTER.search(detail or "")
    if not found:
        return None
    try:
        when = dt.datetime.fromisoformat(f"{found['date']}T{found['time']}+00:00")
    except ValueError:
        return None
    return max(0.0, (when - now).total_seconds())


def wait_seconds(retry_after: float | None, detail: str | None, now: dt.datetime) -> float:
    """How long a `rateLimited` answer says to wait: its Retry-After, else the time its detail
    names, else an hour (Let's Encrypt always sends Retry-After; this is a fallback)."""
    if retry_after is not None:
        return retry_after
    named = retry_after_in_detail(detail, now)
    return DEFAULT_WAIT_SECONDS if named is None else named


def _names_key(domains: Sequence[str]) -> str:
    return ",".join(sorted({d.lower() for d in domains}))


def ordered_by(stored: StoredCertificate, account_url: str | None, team: str | None) -> bool:
    """Was `stored` ordered by the account at `account_url` (of `team`; None: the operators')?
    Certificates that do not say were ordered by the operators' default account (before each
    team had its own)."""
    recorded = stored.extra.get("acme_account")
    if recorded:
        return bool(recorded == account_url)
    return team is None


def exemption(stored: StoredCertificate | None, domains: Sequence[str], now: dt.datetime, *,
              account_url: str | None, account_team: str | None, same_ca: bool) -> str | None:
    """What the CA exempts an order for `domains` from: a renewal of the exact set it issued
    before (SET_RENEWAL); an ARI renewal (this account's `replaces`, inside the CA's window)
    from everything (ARI_RENEWAL). A certificate of another CA is no renewal at this one."""
    if stored is None or not same_ca:
        return None
    window = stored.extra.get("ari")
    if (stored.extra.get("ari_id") and isinstance(window, dict) and account_url
            and ordered_by(stored, account_url, account_team)
            and set(stored.domains) & set(domains)):
        try:
            if ari.RenewalInfo.from_json(window).start <= now:
                return ARI_RENEWAL
        except (KeyError, TypeError, ValueError):
            pass  # an unreadable window exempts nothing
    same_set = sorted(d.lower() for d in stored.domains) == sorted(d.lower() for d in domains)
    return SET_RENEWAL if same_set else None
