"""The fleet part of bench/RESULTS.md, from results["fleet"] (bench/fleet.py summaries)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

STRESS_NAMES = {
    "ca_orders": "CA order bucket empty (5 orders per 20 s, one back every 4 s)",
    "route53": "Route 53 at 1 request/s (the rest of the account's 10 used elsewhere)",
}
ROUTE53_OPS = ("ChangeResourceRecordSets", "GetChange", "ListResourceRecordSets",
               "ListHostedZones", "GetHostedZone")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _s(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.0f} s"


def _count(items: Sequence[Any] | int) -> str:
    return str(items if isinstance(items, int) else len(items))


def verdict(run: dict[str, Any]) -> str:
    bad = [f"{len(run[k])} {w}" for k, w in (
        ("not_renewed", "not renewed"), ("double_issuance", "issued twice"),
        ("dead_letters", "on the DLQ")) if run[k]]
    if run["failed_not_deferred"]:
        bad.append(f"{run['failed_not_deferred']} failed invocations (not deferred)")
    return "all renewed once" if not bad else ", ".join(bad)


def _route53_cell(run: dict[str, Any]) -> str:
    calls = run["route53"]["calls"]
    parts = [f"{op} {calls[op] / max(run['renewed'], 1):.2f}" for op in ROUTE53_OPS if op in calls]
    return ", ".join(parts) or "0"


def full_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    floors, ca, template = run["floors"], run["ca"], run["template"]
    policy = run["limits"]["ca"]
    refused = sum((ca.get("refused") or {}).values())
    return [
        ("certificates due (by an open ARI window / by age)",
         f"{run['n']} ({run['due']['ari']} / {run['due']['age']})"),
        ("result", f"**{verdict(run)}**: {run['renewed']}/{run['n']} renewed, "
                   f"{_count(run['double_issuance'])} issued twice, "
                   f"{_count(run['dead_letters'])} on the dead-letter queue"),
        ("issuer invocations: issued / deferred (CA said wait) / failed (not deferred)",
         f"{run['outcomes'].get('issued', 0) + run['outcomes'].get('renewed', 0)} / "
         f"{run['deferred']} / {run['failed_not_deferred']}"),
        ("most receives of one message (the queue allows "
         f"{template['max_receive_count']})", str(run["receives_max"])),
        ("messages sent anew to wait (half their receives spent)", str(run.get("sent_anew", 0))),
        ("wall: the sweep's start to the last certificate stored", f"**{_s(run['wall'])}**"),
        (f"floor: Route 53 at {_route53_limit(run)}, (calls admitted - burst) / rate",
         _s(floors["route53"])),
        ("floor: CA, (orders spent - bucket) x refill interval", _s(floors["ca_orders"])),
        (f"floor: the workers' busy time / {template['concurrency']}", _s(floors["workers"])),
        ("issuing invocation, median / p95",
         f"{run['latency_issued']['median']:.2f} s / {run['latency_issued']['p95']:.2f} s"),
        ("Route 53 calls per certificate (admitted)", _route53_cell(run)),
        ("Route 53 throttled (all callers)", f"{run['route53']['throttled']} of "
         f"{run['route53']['admitted'] + run['route53']['throttled']}"),
        ("CA: orders spent / ARI-exempt / refused",
         f"{ca.get('orders_spent')} / {(ca.get('exempt') or {}).get('ari')} / {refused}"),
        ("CA limits as run", f"{policy['orders_per_account']} orders per "
                             f"{policy['orders_period'] / policy['scale']:.0f} s (3 h / "
                             f"{policy['scale']:g}); renewals skip the order limit: "
                             f"{policy['renewals_skip_orders']}"),
        ("Slack failure messages", str(run["slack_failures"])),
        ("seeding (limits off)", f"{_s(run['seed']['wall'])}, {run['seed']['threads']} threads"),
        ("load average during the run (2 CPUs, shared)", " / ".join(run.get("load", []))),
    ]


def stress_rows(stress: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for key, run in stress.items():
        ca = run["ca"]
        rows.append((
            STRESS_NAMES.get(key, key), f"{run['renewed']}/{run['n']}",
            _count(run["dead_letters"]), str(run["failed_not_deferred"]), str(run["deferred"]),
            str(sum((ca.get("refused") or {}).values())),
            f"{run['route53']['throttled']}", str(run["receives_max"]),
            str(run.get("sent_anew", 0)), str(run["slack_failures"]), _s(run["wall"]),
            str(run["ending"]),
        ))
    return rows


def findings(fleet: dict[str, Any]) -> list[str]:
    """Sentences the numbers support, and only those."""
    out = []
    full = fleet.get("full")
    if full:
        floors = full["floors"]
        binding = max(floors, key=lambda k: floors[k])
        words = {"route53": f"Route 53's {_route53_limit(full)}",
                 "ca_orders": "the CA's order limit",
                 "workers": f"the {full['template']['concurrency']} issuer workers themselves"}
        out.append(f"- {full['n']} certificates: {verdict(full)}. The highest floor is "
                   f"{words[binding]} ({_s(floors[binding])} of {_s(full['wall'])}): at the "
                   "template's RenewalConcurrency neither limit holds the fleet back on this "
                   "stack.")
    for key, run in (fleet.get("stress") or {}).items():
        dead = len(run["dead_letters"])
        if key == "ca_orders" and not dead:
            out.append(
                f"- CA stress: {verdict(run)}. {run['deferred']} waits for the order bucket, "
                f"{run.get('sent_anew', 0)} of them sent anew once a message had spent half "
                f"its receives (most receives of one message: {run['receives_max']} of "
                f"{run['template']['max_receive_count']}); "
                f"{sum(run['ca']['refused'].values())} newOrders refused, "
                f"{run['slack_failures']} Slack failure "
                f"post{'' if run['slack_failures'] == 1 else 's'} (only a run that starts a "
                "cooldown tells).")
        if key == "ca_orders" and dead:
            out.append(
                f"- CA stress: {dead} of {run['n']} messages went to the dead-letter queue "
                f"although the CA only ever said *wait*. Every deferral "
                f"({run['deferred']} here) is a receive, and a deferred message comes back "
                "after the CA's Retry-After (one order's refill), so a backlog waiting for the "
                "order bucket reaches maxReceiveCount in about ten refill intervals. "
                f"{sum(run['ca']['refused'].values())} newOrders were refused: workers past "
                "the bucket's cooldown check order anyway, and each refusal posts a Slack "
                f"failure ({run['slack_failures']} posts).")
        if key == "route53" and run["failed_not_deferred"]:
            out.append(
                f"- Route 53 stress: {run['failed_not_deferred']} renewals failed with Route 53 "
                "throttling after the adapter's retries; such a message waits the queue's "
                f"visibility timeout ({run['template']['visibility_timeout']} s) before its "
                "next try.")
        elif key == "route53":
            out.append(
                f"- Route 53 stress: {run['route53']['throttled']} calls throttled, every "
                f"renewal went through ({verdict(run)}): the adapter's backoff outlasts an "
                "account whose other callers leave wildcert 1 request/s.")
    return out


def _route53_limit(run: dict[str, Any]) -> str:
    """The Route 53 limit a run had (runs before the burst was modelled had 5/s, no burst)."""
    config = run.get("config", {})
    rate, burst = config.get("route53_rate", 5.0), config.get("route53_burst")
    return f"{rate:g} requests/s" + (f" (burst {burst:g})" if burst else "")


def section(results: dict[str, Any]) -> list[str]:
    fleet = results.get("fleet")
    if not fleet:
        return []
    lines = ["## Fleet: due certificates through sweep → queue → issuer, under the limits", ""]
    full = fleet.get("full")
    if full:
        t = full["template"]
        lines += [
            f"{full['n']} wildcard + apex certificates over example.com, team.example.com and "
            "example.net, renewed by the real path: the renewal sweep queues them on moto's "
            f"SQS (visibility {t['visibility_timeout']} s, maxReceiveCount "
            f"{t['max_receive_count']} to a dead-letter queue, as template.yaml makes them), "
            f"and {t['concurrency']} worker processes (the template's RenewalConcurrency, the "
            "event source mapping's MaximumConcurrency) poll it with BatchSize "
            f"{t['batch_size']} as Lambda's poller does, each one warm issuer container. "
            f"Route 53: {_route53_limit(full)} for every caller together (the AWS fault "
            "proxy). CA: "
            "Let's Encrypt's limits at the ACME front (300 orders / 3 h / account, 50 "
            "certificates / week / registered domain, 5 / week / exact set; ARI renewals "
            "inside their window exempt), periods shortened as stated. Double issuance is "
            "counted from the certificates the CA handed out, grouped by their names. See "
            "docs/FLEET.md for what this means at 5,000 certificates and real latencies.", "",
            *_table(("", ""), full_rows(full)), "",
        ]
    stress = fleet.get("stress")
    if stress:
        lines += [
            "Stress runs: 30 certificates (6 by ARI, 24 by age) with one limit binding hard.", "",
            *_table(("scenario", "renewed", "on DLQ", "failed (not deferred)", "deferred",
                     "orders refused",
                     "Route 53 throttled", "max receives", "sent anew", "Slack failures",
                     "wall", "ended"),
                    stress_rows(stress)), "",
        ]
    found = findings(fleet)
    if found:
        lines += ["What the fleet runs show:", "", *found]
    return lines
