"""bench/RESULTS.md from the raw results (bench/work/results.json)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bench import fleet_report, removed

MIB = 1024 * 1024

# Pebble's routes in protocol order, with the fewest requests a wildcard + apex order needs
# (RFC 8555: a nonce, the order, one POST-as-GET per authorization, one POST per challenge,
# finalize, one order poll, the download). The directory and the account are per client,
# not per certificate: a long-lived client fetches them once.
ACME_MINIMUM = (
    ("GET directory", 0),
    ("HEAD newNonce", 1),
    ("POST newAccount", 0),
    ("POST newOrder", 1),
    ("POST authz", 2),
    ("POST challenge", 2),
    ("POST finalize", 1),
    ("POST order", 1),
    ("POST certificate", 1),
)
TOOLS = (("wildcert_cold", "wildcert, cold container"),
         ("wildcert_warm", "wildcert, warm container"),
         ("certbot", "certbot + S3 hook"))


# ---------------------------------------------------------------- numbers


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def spread(values: Sequence[float], unit: str = "s", digits: int = 2) -> str:
    """Median with the range of the samples: "1.23 s (1.10-1.40)"."""
    if not values:
        return "n/a"
    return (f"{med(values):.{digits}f} {unit} ({min(values):.{digits}f}-"
            f"{max(values):.{digits}f}, n={len(values)})")


def count_cell(values: Sequence[int]) -> str:
    """A count over repeated runs: "9", or "10 (9-11)" when the runs differed."""
    if not values:
        return "-"
    middle = med(values)
    text = f"{middle:g}"
    return text if min(values) == max(values) else f"{text} ({min(values)}-{max(values)})"


def runs_of(results: dict[str, Any], tool: str, kind: str) -> list[dict[str, int]]:
    return [run.get(kind, {}) for run in results.get("work", {}).get(tool, [])]


def per_key(runs: list[dict[str, int]], key: str) -> list[int]:
    return [run.get(key, 0) for run in runs]


def totals(runs: list[dict[str, int]], prefix: str = "") -> list[int]:
    return [sum(v for k, v in run.items() if k.startswith(prefix)) for run in runs]


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# ---------------------------------------------------------------- sections


def headline(results: dict[str, Any]) -> list[str]:
    timing = results.get("timing", {})
    warm = med(timing.get("wildcert_warm", []))
    cold = med(timing.get("wildcert_cold_to_return", []))
    certbot = med(timing.get("certbot_wall", []))
    rows = [
        ("Stored wildcard + apex cert: wildcert warm container vs certbot + S3 hook",
         seconds(warm), seconds(certbot), f"certbot takes {certbot / warm:.1f}x"),
        ("Stored wildcard + apex cert: wildcert cold container (new process) vs certbot + S3 hook",
         seconds(cold), seconds(certbot),
         f"certbot takes {certbot / cold:.1f}x (wildcert/certbot {cold / certbot:.2f})"),
    ]
    rows += (_whole_process_rows(results) + _cold_rows(results) + _layer_rows(results)
             + _work_rows(results))
    return table(("metric", "wildcert", "certbot", "ratio / note"), rows)


def _whole_process_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    whole = results.get("cold_issuance") or {}
    if not whole.get("wildcert_peak_rss_mib") or not whole.get("certbot_peak_rss_mib"):
        return []
    rss_w, rss_c = med(whole["wildcert_peak_rss_mib"]), med(whole["certbot_peak_rss_mib"])
    cpu_w, cpu_c = med(whole["wildcert_cpu_s"]), med(whole["certbot_cpu_s"])
    return [
        ("Stored cert, cold: peak RSS of the whole process (certbot: it or its S3 hook)",
         f"{rss_w:.1f} MiB", f"{rss_c:.1f} MiB", f"wildcert/certbot {rss_w / rss_c:.2f}"),
        ("Stored cert, cold: CPU of the whole process (certbot: with its S3 hook)",
         seconds(cpu_w), seconds(cpu_c), f"wildcert/certbot {cpu_w / cpu_c:.2f}"),
    ]


def _cold_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    cold = results.get("coldstart")
    if not cold:
        return []
    w, c = cold["wildcert"], cold["certbot"]
    wall_w, wall_c = med([r["wall"] for r in w]), med([r["wall"] for r in c])
    imp_w, imp_c = (med([r["import_seconds"] for r in w]),
                    med([r["import_seconds"] for r in c]))
    rss_w, rss_c = med([r["peak_rss_mib"] for r in w]), med([r["peak_rss_mib"] for r in c])
    return [
        ("Cold start: importing the entry point (import alone)", seconds(imp_w),
         seconds(imp_c), f"wildcert/certbot {imp_w / imp_c:.2f}"),
        ("Cold start: fresh process importing the entry point (wall)", seconds(wall_w),
         seconds(wall_c), f"wildcert/certbot {wall_w / wall_c:.2f}"),
        ("Cold start: peak RSS of that process", f"{rss_w:.1f} MiB", f"{rss_c:.1f} MiB",
         f"wildcert/certbot {rss_w / rss_c:.2f}"),
    ]


def _layer_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    built = results.get("layers") or {}
    w, c = built.get("wildcert") or {}, built.get("certbot") or {}
    if "unzipped_bytes" not in w or "unzipped_bytes" not in c:
        return []
    return [
        ("Layer, unzipped (arm64, py3.13, without boto3/botocore)",
         f"{w['unzipped_bytes'] / MIB:.1f} MiB", f"{c['unzipped_bytes'] / MIB:.1f} MiB",
         f"wildcert/certbot {w['unzipped_bytes'] / c['unzipped_bytes']:.2f}"),
        ("Layer, zipped", f"{w['zipped_bytes'] / MIB:.1f} MiB",
         f"{c['zipped_bytes'] / MIB:.1f} MiB",
         f"wildcert/certbot {w['zipped_bytes'] / c['zipped_bytes']:.2f}"),
    ]


def _work_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    if not results.get("work"):
        return []
    minimum = sum(m for _, m in ACME_MINIMUM)

    def acme(tool: str) -> str:
        return count_cell(totals(acme_counts(results, tool)))

    def r53(tool: str) -> str:
        return count_cell(totals(runs_of(results, tool, "aws_proxy"), "route53 "))

    return [
        ("ACME requests per certificate (cold: new process)", acme("wildcert_cold"),
         acme("certbot"), f"protocol minimum {minimum} (+1 directory per process)"),
        ("ACME requests per certificate (wildcert warm container)", acme("wildcert_warm"),
         "-", f"protocol minimum {minimum}"),
        ("Route 53 API calls per certificate", r53("wildcert_cold"), r53("certbot"),
         "minimum 2 writes (add, remove) + waits"),
    ]


def time_section(results: dict[str, Any]) -> list[str]:
    timing = results.get("timing", {})
    first = results.get("first_runs", {})
    rows = [
        ("wildcert, warm container (handler call in a process that already served one)",
         spread(timing.get("wildcert_warm", []))),
        ("wildcert, cold container (new process: spawn to the first handler call's return)",
         spread(timing.get("wildcert_cold_to_return", []))),
        ("  the same process, spawn to exit (adds interpreter teardown, which Lambda skips)",
         spread(timing.get("wildcert_cold_wall", []))),
        ("  of which importing app.py", spread(timing.get("wildcert_cold_import", []))),
        ("  of which the first handler call", spread(timing.get("wildcert_cold_handler", []))),
        ("certbot certonly --dns-route53 + S3 deploy hook (new process)",
         spread(timing.get("certbot_wall", []))),
        ("  of which the S3 deploy hook (4 PutObject, SSE-KMS)",
         spread(timing.get("certbot_hook", []))),
        ("  certbot alone (stores locally only)", spread(timing.get("certbot_local", []))),
        *_whole_process_spread(results),
        ("first run on a fresh stack, with ACME account registration: wildcert cold",
         seconds(first.get("wildcert_cold", float("nan")))),
        ("first run on a fresh stack, with ACME account registration: certbot + S3",
         seconds(first.get("certbot", float("nan")))),
    ]
    return ["## Time to a stored wildcard + apex certificate", "",
            *table(("run", "median (min-max, n)"), rows)]


def _whole_process_spread(results: dict[str, Any]) -> list[tuple[str, str]]:
    whole = results.get("cold_issuance") or {}
    if not whole:
        return []
    return [
        ("wildcert, cold container: peak RSS of the process",
         spread(whole.get("wildcert_peak_rss_mib", []), "MiB", 1)),
        ("wildcert, cold container: CPU of the process (user + system, teardown included)",
         spread(whole.get("wildcert_cpu_s", []))),
        ("certbot + S3 hook: peak RSS (the larger of certbot and the hook)",
         spread(whole.get("certbot_peak_rss_mib", []), "MiB", 1)),
        ("certbot + S3 hook: CPU (user + system, both processes)",
         spread(whole.get("certbot_cpu_s", []))),
    ]


FRONT_ONLY = ("GET renewalInfo",)  # served by the stack's ACME front, never reaching Pebble


def acme_counts(results: dict[str, Any], tool: str) -> list[dict[str, int]]:
    """Per run: Pebble's counts plus the requests only the ACME front answered."""
    fronts = runs_of(results, tool, "acme_front") or [{}] * len(runs_of(results, tool,
                                                                          "acme_server"))
    return [{**server, **{k: front.get(k, 0) for k in FRONT_ONLY if front.get(k)}}
            for server, front in zip(runs_of(results, tool, "acme_server"), fronts,
                                     strict=False)]


def acme_section(results: dict[str, Any]) -> list[str]:
    counts = {tool: acme_counts(results, tool) for tool, _ in TOOLS}
    seen = {k for runs in counts.values() for run in runs for k in run}
    steps = list(ACME_MINIMUM) + [(k, 0) for k in sorted(seen - {s for s, _ in ACME_MINIMUM})]
    rows = [
        (step, str(minimum), *(count_cell(per_key(counts[tool], step)) for tool, _ in TOOLS))
        for step, minimum in steps
    ]
    rows.append(("**total**", f"**{sum(m for _, m in steps)}**", *(
        f"**{count_cell(totals(counts[tool]))}**" for tool, _ in TOOLS)))
    return [
        "## Work per certificate", "",
        "### ACME requests", "",
        "Counted from Pebble's log (one line per request it served), plus the requests the "
        "stack's ACME front answers itself (`GET renewalInfo`: Pebble 2.4 has no ARI). Both "
        "tools use the stack's `ACME_DIRECTORY_URL`, so they take the same path.", "",
        *table(("step", "minimum", *(name for _, name in TOOLS)), rows),
    ]


def aws_section(results: dict[str, Any]) -> list[str]:
    keys = sorted({k for tool, _ in TOOLS for run in runs_of(results, tool, "aws_proxy")
                   for k in run})
    rows = [(key, *(count_cell(per_key(runs_of(results, tool, "aws_proxy"), key))
                    for tool, _ in TOOLS)) for key in keys]
    return [
        "### AWS API calls", "",
        "Counted by the local stack's AWS fault proxy in front of moto (`AWS_ENDPOINT_URL`), "
        "which every call of both tools passes, by operation, seen from outside the tool.", "",
        *table(("service operation", *(name for _, name in TOOLS)), rows),
    ]


def dns_section(results: dict[str, Any]) -> list[str]:
    def server(tool: str, qtype: str) -> str:
        return count_cell(per_key(runs_of(results, tool, "dns_server"), qtype))

    qtypes = sorted({k for tool, _ in TOOLS for run in runs_of(results, tool, "dns_server")
                     for k in run})
    rows = [(f"answered by the stack's DNS server: {q}", server("wildcert_cold", q),
              server("wildcert_warm", q), server("certbot", q)) for q in qtypes]
    slack = [count_cell(per_key(runs_of(results, tool, "slack"), "posts")) for tool, _ in TOOLS]
    rows.append(("Slack webhook posts", *slack))
    return [
        "### DNS queries and notifications", "",
        "The stack's DNS server answers both the tool and Pebble's validation (Pebble asks "
        "for the TXT record of each challenge); certbot-dns-route53 sends no DNS query itself.",
        "", *table(("what", *(name for _, name in TOOLS)), rows),
    ]


def cold_section(results: dict[str, Any]) -> list[str]:
    cold = results.get("coldstart")
    if not cold:
        return []
    names = {
        "wildcert": "wildcert: `import app` (functions/issuer + layers/wildcert on sys.path)",
        "certbot": "certbot: `import certbot.main` + `certbot_dns_route53._internal.dns_route53`",
        "python_venv": "baseline: `python -c pass` (.venv)",
        "python_certbot_venv": "baseline: `python -c pass` (certbot venv)",
    }
    rows = [(label, spread([r["wall"] for r in cold[kind]]),
             spread([r["import_seconds"] for r in cold[kind]]),
             spread([r["peak_rss_mib"] for r in cold[kind]], "MiB", 1))
            for kind, label in names.items() if kind in cold]
    return ["## Cold start", "",
            *table(("process", "wall", "import alone", "peak RSS"), rows)]


def layer_section(results: dict[str, Any]) -> list[str]:
    built = results.get("layers")
    if not built:
        return []
    rows = []
    for name in ("wildcert", "certbot", "sam_build"):
        size = built.get(name)
        if not size:
            continue
        if "error" in size:
            rows.append((name, "not built", size["error"][-200:].replace("\n", " "), "", ""))
            continue
        top = ", ".join(f"{entry} {b / MIB:.1f}" for entry, b in size["top"])
        rows.append((name, f"{size['unzipped_bytes'] / MIB:.1f} MiB",
                     f"{size['zipped_bytes'] / MIB:.1f} MiB", str(size["files"]), top))
    return ["## Lambda layer size", "",
            *table(("layer", "unzipped", "zipped", "files", "biggest entries (MiB)"), rows)]


SDK_HEADING = "## The AWS SDK in the layer"


def sdk_section(results: dict[str, Any]) -> list[str]:
    """bench/sdk.py: the layer with the pinned SDK and its bytecode, and the lean loader's
    removal, each against the way before it."""
    sdk = results.get("sdk")
    if not sdk:
        return []
    run = sdk.get("measured", {})
    layer = sdk["layer"]
    size_rows = [(label, f"{layer[key]['unzipped_bytes'] / MIB:.1f} MiB",
                  f"{layer[key]['zipped_bytes'] / MIB:.1f} MiB", str(layer[key]["files"]))
                 for key, label in (("before", "before: no SDK, no bytecode"),
                                    ("now", "now: pinned SDK, bytecode for Python 3.13"))]
    cold = sdk["cold"]

    def cell(key: str, field: str, unit: str, digits: int = 2) -> str:
        samples = cold[key]["samples"][field]
        return f"{med(samples):.{digits}f} {unit} ({min(samples):.{digits}f}-" \
               f"{max(samples):.{digits}f})"

    cold_rows = [(cold[key]["label"], cell(key, "cpu", "s"), cell(key, "import", "s"),
                  cell(key, "first_client", "s"), cell(key, "peak_rss_mib", "MiB", 1),
                  cell(key, "wall", "s"))
                 for key in cold]

    def saved(before: str, after: str, field: str) -> float:
        return float(cold[before]["median"][field] - cold[after]["median"][field])

    lean_cpu, lean_rss = saved("after", "after_lean", "cpu"), saved("after", "after_lean",
                                                                    "peak_rss_mib")
    shipped, naive = saved("before", "after", "cpu"), -saved("before", "sdk_no_bytecode", "cpu")
    return [
        SDK_HEADING, "",
        f"Measured by `bench/run.py --section sdk` (bench/sdk.py) on {run.get('date', '?')} at "
        f"commit {run.get('commit', '?')}, load average {run.get('load_average', '?')} "
        f"({run.get('nproc', '?')} CPUs shared with other work: CPU time is the steadier "
        "measure, wall time is shown for completeness). This section's numbers come from that "
        "run alone; the other sections may come from an earlier full `make bench`.", "",
        "Layer, arm64, as layers/wildcert/Makefile builds it (what `sam build` ships), against "
        "the same requirements built the way the layer was before (no SDK, no bytecode):", "",
        *table(("layer", "unzipped", "zipped", "files"), size_rows), "",
        f"Cold start: a fresh Python {sdk.get('python', '3.13')} process (the runtime's "
        "version; x86_64 wheels of the same pins) imports functions/issuer/app.py and makes "
        "its first AWS client (S3), with nothing allowed to write bytecode (/opt is read-only "
        "in Lambda). The runtime's SDK is emulated as a compiled directory after the layer on "
        f"sys.path. Medians (min-max) of {sdk.get('runs', '?')} processes each:", "",
        *table(("layout", "CPU (user+sys)", "import app", "first client", "peak RSS",
                "wall"), cold_rows), "",
        f"- Shipping the SDK with its bytecode: {abs(shipped):.2f} s of CPU "
        f"{'less' if shipped >= 0 else 'more'} than the layer as it was (no SDK, and no "
        "bytecode for anything: the layer's bytecode now covers every package, not only the "
        f"SDK it adds); shipped without bytecode it would cost {naive:.2f} s more than before.",
        f"- The lean loader (LeanModels, removed: it replaced botocore's internal file "
        f"loader) bought {lean_cpu:.2f} s of CPU and {lean_rss:.1f} MiB of a cold container "
        "in today's layout. On the local stack, where nothing waits, that is a sizeable part "
        "of a cold issuance's CPU (see the time section); in AWS a cold issuance waits "
        "60-120 s for Route 53, so it is well under 5% of one. It was bought through "
        "botocore's internals, and no public botocore option drops model documentation or "
        "endpoint data, so it goes.",
    ]


def scale_rows(runs: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    rows = []
    for n in sorted({int(r["n"]) for r in runs}):
        group = [r for r in runs if int(r["n"]) == n]

        def m(key: str, group: list[dict[str, Any]] = group) -> float:
            return med([float(r[key]) for r in group])

        rows.append((
            str(n), str(len(group)), spread([r["wall"] for r in group], "s", 1),
            f"{m('per_minute'):.0f}", f"{m('latency_median'):.2f} / {m('latency_p95'):.2f}",
            f"{m('rss_baseline_mib'):.0f}", f"{m('rss_peak_mib'):.0f}",
            f"{m('rss_peak_mib') - m('rss_baseline_mib'):+.1f}",
            f"{m('worker_cpu'):.1f}", f"{m('stack_cpu'):.1f}",
            str(sum(int(r["failures"]) for r in group)),
        ))
    return rows


def scale_section(results: dict[str, Any]) -> list[str]:
    runs = results.get("scale") or []
    if not runs:
        return []
    concurrency = runs[0]["concurrency"]
    return [
        f"## Scale: N certificates, {concurrency} threads calling the handler", "",
        *table(("N", "runs", "wall, median (min-max)", "certs/min", "latency s (median / p95)",
                "RSS after warm-up MiB", "peak RSS MiB", "growth MiB", "worker CPU s",
                "stack CPU s", "failed"), scale_rows(runs)),
        "", *scale_notes(runs),
    ]


def scale_notes(runs: list[dict[str, Any]]) -> list[str]:
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
        f"wildcert's process uses {worker:.2f} CPU-s per certificate and the local "
        f"stack {stack:.2f} CPU-s (moto, the DNS server and the ACME front share one Python "
        "process; Pebble is another), on 2 cores shared with whatever else runs, so the "
        "certificates per minute measure this machine's stack more than wildcert. Wall time "
        f"per certificate is {per_cert[small]:.2f} s at N={small} and {per_cert[large]:.2f} s "
        f"at N={large}; the issuing process's peak RSS rises {growth[small]:.1f} MiB above its "
        f"size after the warm-up call at N={small} and {growth[large]:.1f} MiB at N={large}.",
    ]


def machine_section(results: dict[str, Any]) -> list[str]:
    rows = [(k, str(v)) for k, v in results.get("machine", {}).items()]
    config = results.get("config", {})
    rows.append(("bench config", ", ".join(f"{k}={v}" for k, v in config.items())))
    durations = results.get("durations", {})
    rows.append(("bench sections (s)", ", ".join(f"{k} {v:.0f}" for k, v in durations.items())))
    return ["## Machine and run", "", *table(("", ""), rows)]


def raw_section(results: dict[str, Any]) -> list[str]:
    timing = {k: round(med(v), 4) for k, v in results.get("timing", {}).items()}
    cold = {kind: {key: round(med([r[key] for r in runs]), 4)
                   for key in ("wall", "import_seconds", "peak_rss_mib")}
            for kind, runs in (results.get("coldstart") or {}).items()}
    whole = {k: round(med(v), 4) for k, v in (results.get("cold_issuance") or {}).items()}
    raw = {"timing_medians_s": timing, "cold_issuance_medians": whole, "coldstart_medians": cold,
           "first_runs_s": {k: round(v, 4) for k, v in results.get("first_runs", {}).items()},
           "scale": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
                      if k not in {"errors"}} for r in results.get("scale", [])]}
    return ["## Raw medians", "", "```json", json.dumps(raw, indent=1), "```"]


# `make fuzz` writes its own results; pointing there from here keeps the link when the bench
# regenerates this file.
FUZZ_SECTION = (
    "## Handler fuzzing",
    "",
    "Not part of `make bench`: `make fuzz` sends 10,000 generated requests and Lambda events "
    "through the issuer's handler on a local stack and checks after each rejected one that "
    "nothing was written; its last run, method and findings are in "
    "[docs/FUZZ.md](../docs/FUZZ.md).",
)


def render(results: dict[str, Any]) -> str:
    parts = [
        ["# wildcert benchmark: wildcert vs certbot on the local stack", "",
         "Generated by `make bench` (bench/run.py); raw samples in bench/work/results.json."],
        machine_section(results), ["## Summary", "", *headline(results)], time_section(results),
        acme_section(results), aws_section(results), dns_section(results),
        cold_section(results), layer_section(results),
        sdk_section(results), removed.section(results), scale_section(results),
        fleet_report.section(results),
        ["## Method", "", *(f"- {note}" for note in METHOD)],
        list(FUZZ_SECTION), raw_section(results),
    ]
    return "\n".join("\n".join(part) + "\n" for part in parts if part)


def write(results: dict[str, Any], markdown_path: Path) -> str:
    markdown = render(results)
    markdown_path.write_text(markdown)
    return markdown


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
    "from spawn to the handler's return. The first issuance on a fresh stack registers the "
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
    "Work is counted in the timed runs, only at the stack, never inside either tool (the "
    "counters are read before and after each run, outside its time): ACME requests from "
    "Pebble's log (and the front's counters for what it answers itself), AWS calls from the "
    "stack's AWS fault proxy, which both tools' calls pass (`AWS_ENDPOINT_URL`), DNS queries "
    "from the stack DNS server's counters (it answers the tools and Pebble's validation "
    "alike), Slack posts from the sink.",
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
