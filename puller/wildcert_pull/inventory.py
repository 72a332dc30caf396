"""`wildcert-pull inventory`: a team's certificates (or, for the operators, every team's) at a
glance, as a table or as JSON.

wildcert's issuer, sweep and watch keep one inventory object per team in the bucket,
`<team>._inventory.json`, inside the prefix the team's readers may read (the operators' own
certificates: `operators._inventory.json`, which also lists every team that has one). Both
are read with GetObject alone: `--team` one team's, `--all` the operators' and each team's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from wildcert_pull import bucket
from wildcert_pull.errors import Exit, PullError

PROG = "wildcert-pull inventory"
SUFFIX = "._inventory.json"
OPERATORS = "operators"  # the owner of the certificates of no team
OWNER = re.compile(r"[a-z][a-z0-9-]{1,30}")
COLUMNS = ("NAME", "TEAM", "HOSTS", "CA", "SERIAL", "EXPIRES", "DAYS", "RENEWAL", "LAST",
           "ENDPOINTS")


def _owner(text: str) -> str:
    if not OWNER.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a team id ([a-z][a-z0-9-]{{1,30}})")
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Print wildcert's certificates at a glance: names, hosts, team, CA, "
        "serial, expiry, renewal state, last outcome and the endpoints' state.",
        epilog="exit codes: 0 printed, 2 usage, 3 AWS/network error or no inventory yet.",
    )
    p.add_argument("--bucket", required=True, help="the wildcert certificate bucket")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--team", type=_owner,
                     help="the team whose certificates to show ('operators': those of no team)")
    who.add_argument("--all", action="store_true",
                     help="every team's and the operators' (the operators' reader role)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--region", help="the bucket's AWS region (default: the AWS configuration)")
    p.add_argument("--endpoint-url", help="S3 endpoint (default: AWS_ENDPOINT_URL or AWS)")
    return p


def owners(store: bucket.Bucket) -> list[str]:
    """Every owner with an inventory, as the operators' one lists them (no listing needed)."""
    body = store.get(OPERATORS + SUFFIX)
    if body is None:
        raise PullError(f"{store.url(OPERATORS + SUFFIX)} does not exist yet: the sweep and "
                        "the watch write it on every run", Exit.AWS)
    try:
        listed = json.loads(body).get("owners") or []
    except (ValueError, AttributeError) as exc:
        raise PullError(f"{store.url(OPERATORS + SUFFIX)} is not an inventory ({exc})",
                        Exit.AWS) from exc
    return [OPERATORS, *sorted(str(o) for o in listed if OWNER.fullmatch(str(o)))]


def rows_of(store: bucket.Bucket, owner: str, now: dt.datetime) -> list[dict[str, Any]]:
    key = owner + SUFFIX
    body = store.get(key)
    if body is None:
        raise PullError(f"{store.url(key)} does not exist yet: the issuer writes it with a "
                        "team's first certificate, the sweep and the watch on every run",
                        Exit.AWS)
    try:
        document = json.loads(body)
        listed = document["certificates"]
        rows = [dict(row) for row in listed.values()]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PullError(f"{store.url(key)} is not an inventory ({exc}); the next sweep or "
                        "watch rewrites it", Exit.AWS) from exc
    for row in rows:
        row["days_left"] = days_left(row.get("not_after"), now)
    return rows


def days_left(not_after: object, now: dt.datetime) -> float | None:
    if not isinstance(not_after, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(not_after.replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((moment - now).total_seconds() / 86400, 1)


def _said(block: object) -> str:
    """A state or outcome in one word, with its stage when there is one."""
    if not isinstance(block, dict):
        return "-"
    word = str(block.get("state") or block.get("status") or "-")
    return f"{word} ({block['stage']})" if block.get("stage") else word


def cells(row: dict[str, Any]) -> tuple[str, ...]:
    domains = row.get("domains") or []
    days = row.get("days_left")
    return (str(row.get("name", "-")), str(row.get("team") or "operators"),
            ",".join(str(d) for d in domains) or "-", str(row.get("ca") or "-"),
            str(row.get("serial") or "-"), str(row.get("not_after") or "-"),
            "-" if days is None else f"{days:.1f}", _said(row.get("renewal")),
            _said(row.get("last_outcome")), _said(row.get("endpoints")))


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [COLUMNS, *(cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        s3 = bucket.s3_client(args.region, args.endpoint_url)
        store = bucket.Bucket(s3, args.bucket)
        who = owners(store) if args.all else [args.team]
        rows = sorted((row for owner in who for row in rows_of(store, owner, now)),
                      key=lambda r: (r.get("days_left") is None, r.get("days_left") or 0.0,
                                     str(r.get("name"))))
    except PullError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.code
    if args.json:
        print(json.dumps({"certificates": rows}, indent=1, sort_keys=True))
    else:
        print(table(rows))
    return Exit.OK
