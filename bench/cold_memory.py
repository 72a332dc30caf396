"""Where a cold issuance's memory goes: `python -m bench.cold_memory [--json] [--no-handler]`.

One fresh process loads what a cold issuance loads, one piece at a time and in the order an
issuance needs them, and reports the resident set each piece adds (from /proc/self/status:
anonymous memory, and file-backed pages such as shared libraries) with the time it took.
Then, unless --no-handler, one handler call issues a wildcard + apex certificate on the stack
that the environment describes (`. <stack dir>/env`), as bench/invoke_once.py does.

Sequential on purpose: in a real cold run the head start's threads load several pieces at
once, so the whole process peaks a little higher (glibc gives each busy thread an arena of
its own) than the last line here; bench/invoke_once.py through the launcher measures that.
Linux only (/proc).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ("s3", "secretsmanager", "route53", "events")
MIB = 1024.0  # /proc/self/status counts kB


def resident() -> dict[str, float]:
    """VmRSS, RssAnon and RssFile of this process, in MiB."""
    found: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile"):
                found[name] = int(value.split()[0]) / MIB
    return found


def _imports(*modules: str) -> Callable[[], None]:
    def load() -> None:
        for module in modules:
            importlib.import_module(module)

    return load


def _client(service: str) -> Callable[[], None]:
    def make() -> None:
        from wildcert.adapters import aws

        aws.client(service)

    return make


def _dns() -> None:
    from wildcert.adapters import dns

    dns.load()


def pieces() -> list[tuple[str, Callable[[], None]]]:
    """What a cold issuance loads, in the order it needs it."""
    sys.path[:0] = [str(ROOT / "functions" / "issuer"), str(ROOT / "layers" / "wildcert")]
    return [
        ("cryptography.x509", _imports("cryptography.x509")),
        ("Powertools logger", _imports("aws_lambda_powertools.logging")),
        ("rest of the entry point (app)", _imports("app")),
        ("botocore.session", _imports("botocore.session")),
        *((f"{service} client", _client(service)) for service in CLIENTS),
        ("requests (charset_normalizer, idna)", _imports("requests")),
        ("josepy, pyOpenSSL", _imports("josepy", "OpenSSL.crypto")),
        ("acme + wildcert.adapters.acme", _imports("wildcert.adapters.acme")),
        ("dnspython (dns.load)", _dns),
    ]


def _issue() -> None:
    sys.path.insert(0, str(ROOT))
    from bench import wildcert_runner

    app = importlib.import_module("app")
    wildcert_runner.invoke(app, wildcert_runner.unique_label("mem"))


def breakdown(handler: bool) -> list[dict[str, Any]]:
    steps = [("python and this script", lambda: None), *pieces()]
    if handler:
        steps.append(("handler call (one issuance)", _issue))
    rows: list[dict[str, Any]] = []
    last, clock = resident(), time.perf_counter()
    for name, run in steps:
        run()
        now, took = resident(), time.perf_counter() - clock
        rows.append({
            "piece": name,
            "rss_mib": round(now["VmRSS"] - (last["VmRSS"] if rows else 0), 2),
            "anon_mib": round(now["RssAnon"] - (last["RssAnon"] if rows else 0), 2),
            "file_mib": round(now["RssFile"] - (last["RssFile"] if rows else 0), 2),
            "seconds": round(took, 4),
            "total_mib": round(now["VmRSS"], 2),
        })
        last, clock = now, time.perf_counter()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON list instead of a table")
    parser.add_argument("--no-handler", action="store_true",
                        help="imports and clients only (no stack needed)")
    args = parser.parse_args(argv)
    rows = breakdown(handler=not args.no_handler)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'piece':38s} {'+RSS':>7s} {'anon':>6s} {'file':>6s} {'time':>7s} {'total':>7s}")
    for row in rows:
        print(f"{row['piece']:38s} {row['rss_mib']:7.1f} {row['anon_mib']:6.1f} "
              f"{row['file_mib']:6.1f} {row['seconds']:6.3f}s {row['total_mib']:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
