"""A fleet at real latencies, on paper: hours to renew, Route 53 and CA load, Lambda cost.

`python bench/fleet_model.py [bench/work/results.json]` prints the tables of docs/FLEET.md.
The Route 53 calls a renewal makes come from the fleet bench (what it measured on the stack,
where moto is INSYNC at once and the name servers are the stack's own) plus what only real
Route 53 adds, counted from wildcert's own code: GetChange polls on its schedule
(adapters/route53.py: first after 1 s, doubling to 15 s) while a change is PENDING, and one
GetHostedZone per challenge record when it asks for the zone's name servers.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (str(ROOT), str(ROOT / "layers" / "wildcert")):
    if path not in sys.path:
        sys.path.insert(0, path)

from wildcert.adapters.route53 import (  # noqa: E402
    INSYNC_FIRST_POLL,
    INSYNC_MAX_POLL,
    ROUTE53_QUOTA,
)
from wildcert.jobs.issue.crash_safety import CLEANUP_SECONDS  # noqa: E402

HOUR = 3600.0
# AWS Lambda, us-east-1, arm64 (Graviton), first pricing tier: per GB-second and per request.
ARM64_GB_SECOND = 0.0000133334
REQUEST = 0.20 / 1_000_000
FREE_GB_SECONDS = 400_000  # Lambda's monthly free tier (x86 and arm64 together)
ROUTE53_PER_SECOND = ROUTE53_QUOTA.rate  # the burst (50) is spent in the first seconds
LE_ORDERS_PER_HOUR = 300 / 3  # 300 per 3 h, one back every 36 s


def poll_times(limit: float) -> list[float]:
    """When wildcert asks GetChange, in seconds after the change, up to `limit`."""
    times, at, delay = [], 0.0, INSYNC_FIRST_POLL
    while at + delay <= limit:
        at += delay
        times.append(at)
        delay = min(delay * 2, INSYNC_MAX_POLL)
    return times


def insync_wait(insync: float, budget: float | None = None) -> tuple[float, int]:
    """(seconds waited, GetChange calls) for a change Route 53 reports INSYNC after `insync`
    seconds; with a `budget` wildcert gives up at its end (the cleanup's 15 s)."""
    limit = insync + INSYNC_MAX_POLL if budget is None else budget
    polls = poll_times(limit)
    if budget is not None and (not polls or polls[-1] < insync):
        return budget, len(polls)
    seen = next(t for t in polls if t >= insync)
    return seen, polls.index(seen) + 1


@dataclass(frozen=True)
class Renewal:
    """One renewal invocation in AWS, by its parts."""

    insync: float = 90.0  # Route 53 INSYNC, typically 60-120 s
    other_seconds: float = 15.0  # S3, CAA and TXT lookups, ACME (LE validates in seconds)
    cleanup_budget: float | None = CLEANUP_SECONDS  # None: the cleanup waits for INSYNC too
    measured_route53: float = 2.0  # calls per certificate the bench counted (writes, reads)
    records: int = 1  # challenge record names per certificate (wildcard + apex share one)
    identifiers: int = 2  # GetHostedZone per challenge (one per identifier's record)

    def add(self) -> tuple[float, int]:
        return insync_wait(self.insync)

    def remove(self) -> tuple[float, int]:
        return insync_wait(self.insync, self.cleanup_budget)

    @property
    def seconds(self) -> float:
        return self.other_seconds + self.add()[0] + self.remove()[0]

    @property
    def route53_calls(self) -> float:
        return (self.measured_route53 + self.add()[1] + self.remove()[1]
                + self.identifiers)


@dataclass(frozen=True)
class Fleet:
    certificates: int = 5000
    workers: int = 3  # RenewalConcurrency (template default 3, at most 10)
    memory_gb: float = 0.5  # IssuerMemorySize (template default 512 MB)
    lifetime_days: float = 90.0
    renew_with_left: float = 1 / 3  # renewed with a third of the lifetime left
    ari_exempt: bool = True  # ARI renewals inside their window skip every CA limit

    @property
    def renewals_per_month(self) -> float:
        return self.certificates * 30.4 / (self.lifetime_days * (1 - self.renew_with_left))


def throughput(fleet: Fleet, renewal: Renewal) -> dict[str, float]:
    """Renewals per hour each resource allows, and what binds."""
    workers = fleet.workers * HOUR / renewal.seconds
    route53 = ROUTE53_PER_SECOND * HOUR / renewal.route53_calls
    ca = float("inf") if fleet.ari_exempt else LE_ORDERS_PER_HOUR
    return {"workers": workers, "route53": route53, "ca_orders": ca}


def hours_to_renew_all(fleet: Fleet, renewal: Renewal) -> tuple[float, str]:
    rates = throughput(fleet, renewal)
    binding = min(rates, key=lambda k: rates[k])
    if binding == "ca_orders":  # the bucket's 300 go at the workers' pace first
        burst = min(300.0, fleet.certificates)
        pace = min(rates["workers"], rates["route53"])
        return burst / pace + (fleet.certificates - burst) / rates["ca_orders"], binding
    return fleet.certificates / rates[binding], binding


def monthly_cost(fleet: Fleet, renewal: Renewal, extra_invocations: float = 0.0) -> float:
    renewals = fleet.renewals_per_month
    gb_seconds = renewals * renewal.seconds * fleet.memory_gb
    return gb_seconds * ARM64_GB_SECOND + (renewals + extra_invocations) * REQUEST


def measured(path: Path) -> float | None:
    """Route 53 calls per certificate the fleet bench admitted (writes and reads; moto is
    INSYNC at once and the stack answers DNS itself, so no GetChange nor GetHostedZone), from
    bench/work/results.json or a bench/fleet.py summary."""
    if not path.exists():
        return None
    found: dict[str, Any] = json.loads(path.read_text())
    full = found.get("fleet", {}).get("full") if "fleet" in found else found
    if not full or "route53" not in full:
        return None
    calls = dict(full["route53"]["calls"])
    calls.pop("GetChange", None)
    calls.pop("GetHostedZone", None)
    return float(sum(calls.values())) / max(int(full["renewed"]), 1)


def table(rows: list[tuple[str, ...]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


CLEANUPS = (("today: cleanup gives up after 15 s", CLEANUP_SECONDS),
            ("cleanup waits for INSYNC", None))


def per_renewal(calls: float) -> str:
    rows: list[tuple[str, ...]] = [("cleanup", "INSYNC after", "seconds per renewal",
                                    "Route 53 calls per renewal", "of which GetChange")]
    for label, budget in CLEANUPS:
        for insync in (60.0, 90.0, 120.0):
            r = Renewal(insync=insync, cleanup_budget=budget, measured_route53=calls)
            rows.append((label, f"{insync:.0f} s", f"{r.seconds:.0f}",
                         f"{r.route53_calls:.0f}", str(r.add()[1] + r.remove()[1])))
    return table(rows)


def fleet_hours(calls: float) -> str:
    rows: list[tuple[str, ...]] = [(
        "cleanup", "workers", "CA orders", "renewals/h: workers", "Route 53", "CA",
        "hours for 5,000 (INSYNC 60-120 s)", "binds")]
    for label, budget in CLEANUPS:
        for workers in (3, 10):
            for exempt in (True, False):
                fleet = Fleet(workers=workers, ari_exempt=exempt)
                spans = []
                for insync in (60.0, 120.0):
                    r = Renewal(insync=insync, cleanup_budget=budget, measured_route53=calls)
                    spans.append((throughput(fleet, r), *hours_to_renew_all(fleet, r)))
                (fast, h_fast, b_fast), (slow, h_slow, b_slow) = spans

                def span(key: str, fast: dict[str, float] = fast,
                         slow: dict[str, float] = slow) -> str:
                    if fast[key] == float("inf"):
                        return "-"
                    low, high = f"{slow[key]:.0f}", f"{fast[key]:.0f}"
                    return low if low == high else f"{low}-{high}"

                binds = b_fast if b_fast == b_slow else f"{b_fast} / {b_slow}"
                rows.append((label, str(workers),
                             "ARI-exempt" if exempt else "300 / 3 h",
                             span("workers"), span("route53"), span("ca_orders"),
                             f"{h_fast:.0f}-{h_slow:.0f}", binds.replace("_", " ")))
    return table(rows)


def costs(calls: float) -> str:
    rows: list[tuple[str, ...]] = [(
        "cleanup", "certificate lifetime", "renewals / month", "GB-s / month (INSYNC 60-120 s)",
        "$ / month, arm64, no free tier")]
    for label, budget in CLEANUPS:
        for lifetime in (90.0, 45.0):
            fleet = Fleet(lifetime_days=lifetime)
            low, high = (Renewal(insync=i, cleanup_budget=budget, measured_route53=calls)
                         for i in (60.0, 120.0))
            gbs = [fleet.renewals_per_month * r.seconds * fleet.memory_gb for r in (low, high)]
            rows.append((label, f"{lifetime:.0f} days", f"{fleet.renewals_per_month:,.0f}",
                         f"{gbs[0]:,.0f}-{gbs[1]:,.0f}",
                         f"{monthly_cost(fleet, low):.2f}-{monthly_cost(fleet, high):.2f}"))
    return table(rows)


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else ROOT / "bench" / "work" / "results.json"
    calls = measured(path)
    print("Route 53 calls per certificate measured by the fleet bench: "
          + ("not found, 2.0 assumed" if calls is None else f"{calls:.3f}"))
    calls = 2.0 if calls is None else calls
    print(f"GetChange polls (s after the change): {poll_times(130)}\n")
    print(per_renewal(calls), "\n")
    print(fleet_hours(calls), "\n")
    print(costs(calls))


if __name__ == "__main__":
    main(sys.argv[1:])
