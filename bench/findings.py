"""What the numbers say, as sentences: each finding is written only when the counts show it.

The explanations come from reading the code each tool ran (wildcert's layer, the installed
certbot, certbot-dns-route53 and acme); the numbers come from the results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.report import (
    ACME_MINIMUM,
    MIB,
    acme_counts,
    med,
    per_key,
    runs_of,
    totals,
)

MINIMUM = dict(ACME_MINIMUM)


def _median_count(results: dict[str, Any], tool: str, kind: str, key: str) -> float:
    runs = acme_counts(results, tool) if kind == "acme" else runs_of(results, tool, kind)
    return med(per_key(runs, key))


def acme_findings(results: dict[str, Any]) -> list[str]:
    found = []

    def count(tool: str, step: str) -> float:
        return _median_count(results, tool, "acme", step)

    floor = sum(MINIMUM.values())
    total = med(totals(acme_counts(results, "wildcert_warm")))
    if total > floor:
        found.append(
            f"wildcert sends {total:g} ACME requests per certificate in a warm container "
            f"against the minimum of {floor}; the extra ones, step by step:")
    if count("wildcert_warm", "GET directory") >= 1:
        found.append(
            "  - `GET directory` on every invocation: each invocation builds a new "
            "`AcmeSession`, whose `client` fetches the directory again. A warm container "
            "could keep it (one request per certificate less; certbot, a new process per "
            "run, cannot).")
    extra_authz = count("wildcert_warm", "POST authz") - MINIMUM["POST authz"]
    if extra_authz > 0:
        found.append(
            f"  - {extra_authz:g} authorization poll(s) beyond the two first fetches: "
            "`wait_for_authorizations` polls each authorization until it is valid, the first "
            "time right after answering (Pebble has not validated yet and says `pending`), "
            "then after 0.1 s growing 1.6x. Polling the order, which turns `ready` once both "
            "are valid, would need one request; certbot sleeps a fixed 1 s first and then "
            f"needs {count('certbot', 'POST authz') - MINIMUM['POST authz']:g}.")
    if count("wildcert_warm", "GET renewalInfo") >= 1:
        found.append(
            "  - `GET renewalInfo` after issuance: wildcert asks for the ARI window of the new "
            "certificate and stores it in cert.json. Not needed to issue, but it replaces a "
            "later request of the renewal sweep.")
    extra_order = count("wildcert_warm", "POST order") - MINIMUM["POST order"]
    if extra_order > 0:
        found.append(f"  - {extra_order:g} order poll(s) more than one after finalize.")
    differ = _client_against_server(results, "wildcert_warm")
    if differ:
        found.append(
            "wildcert's HTTP session and the CA's side count differently (warm medians, as "
            "the session's response hook saw them vs Pebble's log plus the front): "
            + ", ".join(differ) + ". A request the session saw but Pebble did not log was "
            "answered (or cut) by the front; the reverse would be a counting bug.")
    return found


def _client_against_server(results: dict[str, Any], tool: str) -> list[str]:
    """Steps whose median differs between the client's count and Pebble's log + front."""
    client = runs_of(results, tool, "acme_client")
    if not any(client):
        return []
    server = acme_counts(results, tool)
    steps = sorted({k for run in (*client, *server) for k in run})
    return [f"`{step}` {med(per_key(client, step)):g} vs {med(per_key(server, step)):g}"
            for step in steps if med(per_key(client, step)) != med(per_key(server, step))]


def aws_findings(results: dict[str, Any]) -> list[str]:
    def proxy(tool: str, key: str) -> float:
        return _median_count(results, tool, "aws_proxy", key)

    def warm(key: str) -> float:
        return _median_count(results, "wildcert_warm", "aws_client", key)

    found = [
        f"Route 53: wildcert makes {warm('route53 ChangeResourceRecordSets'):g} "
        "ChangeResourceRecordSets per certificate (one transactional batch adding both values "
        "to the shared `_acme-challenge` set, one removing them), lists the hosted zones "
        f"{proxy('wildcert_cold', 'route53 ListHostedZones'):g} time(s) per container "
        f"({warm('route53 ListHostedZones'):g} when warm) and no GetChange on moto, which "
        "answers INSYNC at once. certbot-dns-route53 calls ListHostedZones before every "
        f"change ({proxy('certbot', 'route53 ListHostedZones'):g}), changes the record once "
        f"per challenge value and once per cleanup "
        f"({proxy('certbot', 'route53 ChangeResourceRecordSets'):g}) and polls GetChange "
        f"after each write in `perform` ({proxy('certbot', 'route53 GetChange'):g}). On real "
        "Route 53 (INSYNC in 60-120 s) both add GetChange polls; wildcert also calls "
        "GetHostedZone for the name servers, which the stack's DNS_SERVER_OVERRIDE skips here.",
    ]
    s3_warm = sum(v for k, v in _median_ops(results, "wildcert_warm", "aws_client").items()
                  if k.startswith("s3 "))
    probe = ("the bucket probe (PutObject, HeadObject, DeleteObject) on every invocation — it "
             "could run once per container; " if warm("s3 HeadObject") else
             "no bucket probe (it runs once per container, in the cold run); ")
    found.append(
        f"S3: wildcert makes {s3_warm:g} S3 calls per certificate when warm "
        f"({warm('s3 PutObject'):g} PutObject): reads of the current cert.json, the CA "
        f"cooldown and the account record; {probe}the name's lease and journal (created, "
        "updated, deleted); then four archive files, four live files and cert.json. certbot's "
        f"deploy hook writes {proxy('certbot', 's3 PutObject'):g} objects.")
    return found


def _median_ops(results: dict[str, Any], tool: str, kind: str) -> dict[str, float]:
    runs = runs_of(results, tool, kind)
    keys = {k for run in runs for k in run}
    return {k: med(per_key(runs, k)) for k in keys}


def time_findings(results: dict[str, Any]) -> list[str]:
    timing = results.get("timing", {})
    teardown = med(timing.get("wildcert_cold_wall", [])) - med(
        timing.get("wildcert_cold_to_return", []))
    return [
        "certbot's time is mostly waiting (every `sleep(` in the code it runs is listed "
        "above). For this order it sleeps 1 s before the first authorization poll "
        "(`auth_handler._poll_authorizations`; then the Retry-After or 3 s) and 1 s before "
        "the first order poll after finalize (`acme.client.poll_finalization`). "
        "certbot-dns-route53 sleeps 5 s between GetChange polls, never reached on moto "
        "(INSYNC at once) but for 60-120 s on real Route 53. The Route 53 plugin is not a "
        "`dns_common.DNSAuthenticator`, so no `--dns-route53-propagation-seconds` sleep runs.",
        f"A new Python process spends {teardown:.2f} s (median) tearing the interpreter down "
        "after wildcert's handler returned; Lambda freezes the process instead, so the cold "
        "figure stops at the handler's return. certbot, a command, pays its own teardown.",
        f"The S3 deploy hook costs certbot {med(timing.get('certbot_hook', [])):.2f} s "
        "(a second Python process importing boto3, four PutObject calls).",
    ]


def footprint_findings(results: dict[str, Any]) -> list[str]:
    found = []
    built = results.get("layers") or {}
    w, c = built.get("wildcert") or {}, built.get("certbot") or {}
    if "top" in w and "top" in c:
        top = dict(w["top"])
        extras = ", ".join(f"{name} {top[name] / MIB:.1f} MiB"
                           for name in ("aws_lambda_powertools", "slack_sdk", "dns")
                           if name in top)
        found.append(
            f"Layer: wildcert's is {w['unzipped_bytes'] / MIB:.1f} MiB unzipped against "
            f"certbot's {c['unzipped_bytes'] / MIB:.1f} MiB; cryptography is most of both. "
            f"wildcert's own extras are {extras}: the Powertools logger (and its batch "
            "utility and event classes for SQS and EventBridge), the Slack SDK for one webhook "
            "POST, dnspython for the checks.")
    cold = results.get("coldstart") or {}
    if "wildcert" in cold and "certbot" in cold:
        found.append(
            "Cold start: certbot-dns-route53 imports boto3 in its plugin module, so certbot's "
            "import includes the AWS SDK's client machinery. wildcert's entry point imports "
            "the Powertools logger, its own request checks and botocore's exceptions only: "
            "its first AWS call makes the container's one botocore session, and the ACME "
            "stack, dnspython and the Slack SDK load once a request needs them (a rejected "
            "or skipped request never does), so those costs are in the first handler call.")
    whole = results.get("cold_issuance") or {}
    if whole.get("wildcert_peak_rss_mib") and whole.get("certbot_peak_rss_mib"):
        found.append(
            f"Memory of a cold issuance: wildcert's process peaks at "
            f"{med(whole['wildcert_peak_rss_mib']):.1f} MiB, certbot's at "
            f"{med(whole['certbot_peak_rss_mib']):.1f} MiB (its S3 hook is a process of its "
            "own, so the larger of the two counts). Both load cryptography, pyOpenSSL, "
            "requests, acme and botocore; wildcert's process also makes the S3 client (S3's "
            "service model is botocore's largest) and loads dnspython and the Slack SDK, "
            "where certbot leaves S3 to a second process. botocore loads its models and "
            "endpoint data as it ships them (the `sdk` section measures what the lean "
            "loader wildcert no longer uses saved).")
    return found


def scale_findings(results: dict[str, Any]) -> list[str]:
    runs = results.get("scale") or []
    if not runs:
        return []
    worker = med([r["worker_cpu"] / r["n"] for r in runs])
    stack = med([r["stack_cpu"] / r["n"] for r in runs])
    ns = sorted({int(r["n"]) for r in runs})

    def at(n: int, value: Callable[[dict[str, Any]], float]) -> float:
        return med([value(r) for r in runs if int(r["n"]) == n])

    small, large = ns[0], ns[-1]
    per_cert = {n: at(n, lambda r: r["wall"] / r["n"]) for n in (small, large)}
    growth = {n: at(n, lambda r: r["rss_peak_mib"] - r["rss_baseline_mib"])
              for n in (small, large)}
    return [
        f"Scale: wildcert's process uses {worker:.2f} CPU-s per certificate and the local "
        f"stack {stack:.2f} CPU-s (moto, the DNS server and the ACME front share one Python "
        "process; Pebble is another), on 2 cores shared with whatever else runs, so the "
        "certificates per minute measure this machine's stack more than wildcert. Wall time "
        f"per certificate is {per_cert[small]:.2f} s at N={small} and {per_cert[large]:.2f} s "
        f"at N={large}; the issuing process's peak RSS rises {growth[small]:.1f} MiB above its "
        f"size after the warm-up call at N={small} and {growth[large]:.1f} MiB at N={large}.",
    ]


SECTIONS: tuple[tuple[str, Callable[[dict[str, Any]], list[str]]], ...] = (
    ("ACME", acme_findings), ("AWS", aws_findings), ("Time", time_findings),
    ("Footprint", footprint_findings), ("Scale", scale_findings),
)


def render(results: dict[str, Any]) -> list[str]:
    lines = ["## Findings", ""]
    for _, make in SECTIONS:
        try:
            found = make(results)
        except (KeyError, ValueError, TypeError, ZeroDivisionError) as error:
            found = [f"(not computed: {type(error).__name__}: {error})"]
        lines += [item if item.startswith("  - ") else f"- {item}" for item in found]
    return lines


def method_notes() -> list[str]:
    return ["## Method", "", *(f"- {note}" for note in METHOD)]


METHOD = (
    "Stack: the bench starts its own local stack (bench/work/stack, port base 15000 or the "
    "next free one) and stops it at the end. Pebble runs with the stack's "
    "`PEBBLE_VA_NOSLEEP=1` plus `PEBBLE_AUTHZREUSE=0` (no authorization reuse: every order "
    "needs both validations) and `PEBBLE_WFE_NONCEREJECT=0` (no random badNonce), so request "
    "counts are stable. Every issuance uses a fresh label: `*.<label>.example.com` + "
    "`<label>.example.com`, so nothing is skipped or reused.",
    "Both tools use the stack's `ACME_DIRECTORY_URL` (the stack's ACME front before Pebble "
    "when it has one), trust the stack's TLS CA, and reach moto through `AWS_ENDPOINT_URL` "
    "with dummy credentials. Pebble validates against the stack's DNS server, which answers "
    "from moto, so each tool's records are what Pebble sees.",
    "wildcert: the real handler, functions/issuer/app.py, with a fake Lambda context "
    "(900 s), `POWERTOOLS_LOG_LEVEL=WARNING`. Warm container: in the bench process after a "
    "first invocation. Cold container: a new Python process (bench/invoke_once.py) timed "
    "from spawn to the handler's return, with the issuer's `MALLOC_ARENA_MAX=2` from "
    "template.yaml (so are the scale workers). The first issuance on a fresh stack registers the "
    "ACME account (wildcert keeps it in the bucket) and is reported apart.",
    "certbot: 5.8.0 + certbot-dns-route53 5.8.0 (with acme 5.9.0, pinned in "
    "bench/requirements-certbot.txt) in bench/work/venv-certbot, run as `certbot certonly "
    "--dns-route53 --server <ACME_DIRECTORY_URL> --config-dir/--work-dir/--logs-dir <temp> "
    "--agree-tos -m bench@example.com --no-eff-email --non-interactive --key-type ecdsa "
    "--elliptic-curve secp256r1 --cert-name <label> -d *.<label>.example.com -d "
    "<label>.example.com --deploy-hook '<python> bench/s3_deploy_hook.py'` with "
    "`REQUESTS_CA_BUNDLE` set to the stack's CA. One config dir per bench: the first run "
    "registers the account (reported apart), later runs reuse it, like wildcert.",
    "Stored certificate: certbot only stores locally, so its deploy hook copies privkey, "
    "cert, chain and fullchain to `s3://<bucket>/certbot/<label>/` with SSE-KMS (the stack's "
    "key), and the timed certbot run includes it. wildcert writes its archive, live copies "
    "and cert.json itself.",
    "Timed runs interleave the tools (wildcert warm, wildcert cold, certbot) so that load "
    "changes hit all of them; tables show the median with the range. The machine is shared "
    "with other work: the load averages at the start and end are in the machine table.",
    "Work is counted in runs of its own, never in timed ones: ACME requests from Pebble's log "
    "(and the front's counters for what it answers itself), AWS calls from the stack's AWS "
    "fault proxy, which both tools' calls pass (`AWS_ENDPOINT_URL`), and from botocore "
    "`before-call` events on wildcert's clients, DNS queries from wildcert's "
    "`dns_checks.STATS` and the stack DNS server's counters, Slack posts from the sink.",
    "Cold start: a fresh `python -c` that imports the entry point with a perf_counter around "
    "the import; wall time from spawn to exit; peak RSS from the child's own `wait4` rusage. "
    "Both venvs use the same Python build; one unrecorded run per kind first (bytecode "
    "compiled, files cached).",
    "Whole process of a timed cold issuance: peak RSS and CPU from `wait4`'s rusage of the "
    "process (wildcert's bench/invoke_once.py; certbot, which waits for its deploy hook, so "
    "the hook's peak and CPU are counted with it). Every measured process is started by a "
    "small launcher process (bench/process.py) that the bench starts first: a child forked "
    "from the bench itself would start its peak RSS at the bench's size.",
    "Layers: `pip install --target --platform manylinux2014_aarch64 --python-version 3.13 "
    "--implementation cp --only-binary=:all:` of layers/wildcert/requirements.txt (+ the "
    "wildcert package) and of certbot==5.8.0 certbot-dns-route53==5.8.0; boto3, botocore, "
    "s3transfer and jmespath removed from both, so the two compare package for package "
    "(the layer wildcert ships, with its pinned SDK and bytecode, is measured in the SDK "
    "section); zipped = deflate of the tree under `python/`.",
    "Scale: one new process per N and run (bench/scale_worker.py): a warm-up invocation, "
    "then N certificates, each its own label, from a `ThreadPoolExecutor` of 8 threads calling "
    "the handler. RSS sampled every 50 ms plus VmHWM; CPU of the worker (`os.times`) and of "
    "the stack's process group (/proc). No tracemalloc: it slows every allocation, and RSS "
    "is what Lambda's memory setting limits.",
    "The working tree is shared with other engineers: the commit and the count of "
    "uncommitted files under layers/, functions/ and local_stack/ are in the machine table; "
    "the numbers describe that tree.",
)
