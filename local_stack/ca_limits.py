"""Let's Encrypt's issuance limits, enforced by the ACME front on newOrder (Pebble has none).

Modelled on Boulder (Let's Encrypt's CA: wfe2 NewOrder and its rate-limit transactions) and
the limits Let's Encrypt publishes, each a token bucket (not a fixed window):

  newOrdersPerAccount     300 orders per account per 3 hours (one back every 36 s)
  certificatesPerDomain   50 certificates per registered domain per week
  certificatesPerSet      5 certificates per exact set of identifiers per week

Exemptions, as Boulder decides them on newOrder:
  ARI renewal   `replaces` names a certificate this CA issued, and its renewal window
                (`suggestedWindow`, as the front serves it) holds now: exempt from all three.
  renewal       the exact set of identifiers was issued within the last 120 days: exempt
                from the first two (`renewals_skip_orders`, `renewals_skip_domain`), never
                from the third. Boulder's code exempts renewals from both; Let's Encrypt's
                documentation names only ARI renewals as exempt from the order limit, so a
                bench can switch `renewals_skip_orders` off to model that stricter reading.

Orders are spent on newOrder (and refunded when Pebble refuses the order); certificates are
checked on newOrder and spent when issued (a renewal spends only its exact set's) — here,
when the front first relays a certificate it has not seen, which is when wildcert downloads
it. Buckets start full when limits are switched on; the issuance history behind the renewal
exemption is kept from the stack's start.

Registered domain: the last two labels of each identifier (after `*.`). That is what the
Public Suffix List gives for the stack's zones (example.com, team.example.com, example.net:
all under example.com or example.net); it would be wrong for e.g. example.co.uk, which the
stack never serves.

`scale` shortens every period (not the counts) so a run takes minutes: with scale 360 an
order comes back every 0.1 s instead of 36 s, and a week lasts 28 minutes. Renewal windows
stay in real time: they are dates inside certificates.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from local_stack.http_plumbing import TokenBucket

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
ORDERS = "newOrdersPerAccount"
PER_DOMAIN = "certificatesPerDomain"
PER_SET = "certificatesPerSet"
LIMIT_NAMES = (ORDERS, PER_DOMAIN, PER_SET)
DOCS = "https://letsencrypt.org/docs/rate-limits/"


@dataclass(frozen=True)
class Policy:
    """The limits and how fast time runs for them; Let's Encrypt's numbers by default."""

    orders_per_account: int = 300
    orders_period: float = 3 * HOUR
    certificates_per_domain: int = 50
    certificates_per_set: int = 5
    certificates_period: float = WEEK
    renewal_lookback: float = 120 * DAY
    renewals_skip_orders: bool = True
    renewals_skip_domain: bool = True
    ari_exemption: bool = True
    scale: float = 1.0

    def __post_init__(self) -> None:
        counts = (self.orders_per_account, self.certificates_per_domain,
                  self.certificates_per_set)
        periods = (self.orders_period, self.certificates_period, self.renewal_lookback)
        if min(counts) < 1 or min(periods) <= 0 or not self.scale > 0:
            raise ValueError("limits need counts >= 1 and positive periods and scale")

    def seconds(self, period: float) -> float:
        """A period as this policy runs it (scaled)."""
        return period / self.scale

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


POLICY_FIELDS = frozenset(f.name for f in fields(Policy))


def policy_from(wanted: Mapping[str, Any]) -> Policy:
    unknown = set(wanted) - POLICY_FIELDS
    if unknown:
        raise ValueError(f"unknown limit fields {sorted(unknown)}; known: {sorted(POLICY_FIELDS)}")
    given: dict[str, Any] = {}
    for name, value in wanted.items():
        if value is None:
            continue
        kind = Policy.__dataclass_fields__[name].type
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            given[name] = value
        elif kind == "int":
            given[name] = int(value)
        else:
            given[name] = float(value)
    return Policy(**given)


def registered_domain(identifier: str) -> str:
    labels = identifier.lower().rstrip(".").removeprefix("*.").split(".")
    return ".".join(labels[-2:])


def identifier_set(identifiers: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({i.lower().rstrip(".") for i in identifiers}))


def duration(seconds: float) -> str:
    """Go's way of printing a duration, as Boulder's messages do: 3h0m0s, 28m0s, 0.5s."""
    if seconds < 60:
        return f"{seconds:g}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + f"{minutes}m{secs}s"


@dataclass(frozen=True)
class Verdict:
    """What the limits say about one newOrder."""

    allowed: bool
    exempt: str | None = None  # "ari" | "renewal" | None
    refused_by: str | None = None
    retry_after: int = 0  # whole seconds, at least 1 when refused
    detail: str = ""
    spent_order: bool = False

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"allowed": self.allowed}
        if self.exempt:
            body["exempt"] = self.exempt
        if not self.allowed:
            body.update(refused_by=self.refused_by, retry_after=self.retry_after,
                        detail=self.detail)
        return body


@dataclass
class Issuances:
    """When each exact set of identifiers was issued: the CA's memory, kept with or without
    limits, so a renewal is recognised even if limits were switched on after the first issue."""

    clock: Callable[[], float] = time.monotonic
    times: dict[tuple[str, ...], list[float]] = field(default_factory=dict)

    def add(self, names: tuple[str, ...]) -> None:
        self.times.setdefault(names, []).append(self.clock())

    def issued_within(self, names: tuple[str, ...], seconds: float) -> bool:
        since = self.clock() - seconds
        return any(at >= since for at in self.times.get(names, ()))


@dataclass
class CaLimits:
    """The buckets of one policy; thread-safety is the caller's (the front's state lock)."""

    policy: Policy
    clock: Callable[[], float] = time.monotonic
    buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    allowed: int = 0
    exempt: dict[str, int] = field(default_factory=lambda: {"ari": 0, "renewal": 0})
    refused: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LIMIT_NAMES, 0))
    issued: int = 0
    orders_spent: int = 0  # orders that drew on an account's bucket (refunds given back)

    def _bucket(self, limit: str, key: str) -> TokenBucket:
        found = self.buckets.get((limit, key))
        if found is None:
            count, period = self._shape(limit)
            found = TokenBucket.full(count, self.policy.seconds(period), self.clock())
            self.buckets[(limit, key)] = found
        return found

    def _shape(self, limit: str) -> tuple[int, float]:
        p = self.policy
        return {
            ORDERS: (p.orders_per_account, p.orders_period),
            PER_DOMAIN: (p.certificates_per_domain, p.certificates_period),
            PER_SET: (p.certificates_per_set, p.certificates_period),
        }[limit]

    def new_order(self, account: str, identifiers: Iterable[str], *, ari_window_open: bool,
                  history: Issuances) -> Verdict:
        """Check (and spend one order of) the limits for a newOrder; nothing spent if refused."""
        names = identifier_set(identifiers)
        if ari_window_open and self.policy.ari_exemption:
            self.exempt["ari"] += 1
            return Verdict(True, exempt="ari")
        renewal = self._renewal(names, history)
        skip_orders = renewal and self.policy.renewals_skip_orders
        skip_domain = renewal and self.policy.renewals_skip_domain
        wanted = [(PER_SET, ",".join(names))]
        if not skip_orders:
            wanted.append((ORDERS, account))
        if not skip_domain:
            wanted += [(PER_DOMAIN, d) for d in sorted({registered_domain(n) for n in names})]
        now = self.clock()
        short = [(limit, key, self._bucket(limit, key).wait(now)) for limit, key in wanted]
        short = [(limit, key, wait) for limit, key, wait in short if wait > 0]
        if short:
            limit, key, wait = max(short, key=lambda s: s[2])
            self.refused[limit] += 1
            return Verdict(False, refused_by=limit, retry_after=max(1, math.ceil(wait)),
                           detail=self._detail(limit, key, wait))
        if not skip_orders:
            self._bucket(ORDERS, account).take(now)
            self.orders_spent += 1
        self.allowed += 1
        exempt = "renewal" if skip_orders or skip_domain else None
        if exempt:
            self.exempt[exempt] += 1
        return Verdict(True, exempt=exempt, spent_order=not skip_orders)

    def _renewal(self, names: tuple[str, ...], history: Issuances) -> bool:
        return history.issued_within(names, self.policy.seconds(self.policy.renewal_lookback))

    def refund_order(self, account: str, verdict: Verdict) -> None:
        """The CA did not create the order after all (Pebble refused it, a badNonce among
        others): its order comes back (as in Boulder), and it is not counted as allowed."""
        if not verdict.allowed:
            return
        if verdict.exempt:
            self.exempt[verdict.exempt] -= 1
        if verdict.exempt != "ari":  # an ARI renewal is counted as exempt only
            self.allowed -= 1
        if verdict.spent_order:
            self._bucket(ORDERS, account).refund(self.clock())
            self.orders_spent -= 1

    def certificate_issued(self, names: tuple[str, ...], history: Issuances) -> None:
        """Spend what an issued certificate costs; call before `history` records it."""
        now = self.clock()
        self._bucket(PER_SET, ",".join(names)).take(now)
        # A renewal does not use up its registered domain's certificates.
        if not (self.policy.renewals_skip_domain and self._renewal(names, history)):
            for domain in sorted({registered_domain(n) for n in names}):
                self._bucket(PER_DOMAIN, domain).take(now)
        self.issued += 1

    def _detail(self, limit: str, key: str, wait: float) -> str:
        """Boulder's words, which clients (wildcert's logic.ratelimit) read the scope from."""
        count, period = self._shape(limit)
        window = duration(self.policy.seconds(period))
        if self.policy.scale != 1:
            window += f" ({duration(period)} scaled down {self.policy.scale:g} times)"
        what, anchor = {
            ORDERS: (f"too many new orders ({count}) from this account in the last {window}",
                     "new-orders-per-account"),
            PER_DOMAIN: (f"too many certificates ({count}) already issued for {json.dumps(key)} "
                         f"in the last {window}", "new-certificates-per-registered-domain"),
            PER_SET: (f"too many certificates ({count}) already issued for this exact set of "
                      f"identifiers in the last {window}",
                      "new-certificates-per-exact-set-of-identifiers"),
        }[limit]
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
        return (f"{what}, retry after {when:%Y-%m-%d %H:%M:%S} UTC: see "
                f"{DOCS}#{anchor}")

    def as_json(self) -> dict[str, Any]:
        return {"policy": self.policy.as_json(), "allowed": self.allowed,
                "exempt": dict(self.exempt), "refused": dict(self.refused),
                "orders_spent": self.orders_spent, "issued": self.issued}
