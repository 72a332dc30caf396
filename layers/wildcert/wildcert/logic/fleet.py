"""The fleet at a glance: one inventory document per owner (a team, or the operators), listing
each of its certificates with what a person wants to see first.

Pure: rows and changes in, a document out. The issuer, the sweep and the watch each know a part
of a row (the issuer the last outcome, the sweep the renewal state, the watch the endpoints'
state), so a change names only the fields it knows and `merged` keeps the others. The sweep
and the watch see every certificate, so their changes also drop rows whose certificate is gone.

    {"owner": "alpha", "updated": "2026-12-07T03:10:00Z", "certificates": {
        "alpha.web": {"name", "team", "domains", "ca", "issuer", "serial", "not_after",
                      "renewal": {"state", "detail", "at"},
                      "last_outcome": {"status", "at", "stage", "reason"},
                      "endpoints": {"state", "detail", "at"}, "updated"}}}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from wildcert.logic.times import iso, parse_time

OPERATORS = "operators"  # the owner of certificates no team owns (a team id cannot be this)
SUFFIX = "._inventory.json"  # `<owner>._inventory.json`: inside the team's readable prefix
ROW_FIELDS = ("name", "team", "domains", "ca", "issuer", "serial", "not_after", "renewal",
              "last_outcome", "endpoints", "updated")

Row = dict[str, Any]


def key_of(owner: str) -> str:
    """The bucket key of `owner`'s inventory: `<team>.` is the prefix its readers may read."""
    return owner + SUFFIX


def owner_of(team: str | None) -> str:
    return team or OPERATORS


def certificate_row(meta: Any, team: str | None) -> Row:
    """The fields cert.json gives (`meta` is a StoredCertificate)."""
    ca = meta.extra.get("ca")
    return {"name": meta.name, "team": team, "domains": list(meta.domains),
            "ca": ca if isinstance(ca, str) and ca else "production", "issuer": meta.issuer,
            "serial": meta.serial, "not_after": meta.not_after}


def merged(document: Mapping[str, Any] | None, owner: str, changes: Mapping[str, Row],
           now: dt.datetime, *, only_known: bool = False, keep: Iterable[str] | None = None,
           owners: Iterable[str] | None = None) -> dict[str, Any]:
    """`document` with each row of `changes` updated field by field.

    only_known: change only rows already listed (an outcome of a name with no certificate
    adds nothing). keep: the names that still have a certificate; every other row goes.
    owners: every owner with certificates, which the operators' document lists so that the
    whole fleet is read without listing the bucket.
    """
    rows = _rows(document)
    if keep is not None:
        kept = set(keep)
        rows = {name: row for name, row in rows.items() if name in kept}
    for name, change in changes.items():
        if only_known and name not in rows:
            continue
        rows[name] = {**rows.get(name, {}), **change, "name": name, "updated": iso(now)}
    known = document.get("owners") if isinstance(document, Mapping) else None
    listed = sorted(owners) if owners is not None else known
    return {"owner": owner, "updated": iso(now),
            **({"owners": listed} if isinstance(listed, list) else {}),
            "certificates": {name: rows[name] for name in sorted(rows)}}


def lists_any(document: Mapping[str, Any] | None, names: Iterable[str]) -> bool:
    rows = _rows(document)
    return any(name in rows for name in names)


def _rows(document: Mapping[str, Any] | None) -> dict[str, Row]:
    """The rows of a stored document; anything unreadable is dropped (the next run rewrites)."""
    found = document.get("certificates") if isinstance(document, Mapping) else None
    if not isinstance(found, Mapping):
        return {}
    return {name: dict(row) for name, row in found.items()
            if isinstance(name, str) and isinstance(row, Mapping)}


def days_left(not_after: str, now: dt.datetime) -> float:
    return (parse_time(not_after) - now).total_seconds() / 86400


def soonest_days_left(rows: Iterable[Row], now: dt.datetime) -> float | None:
    """Days until the owner's first certificate expires; None without certificates."""
    found = [days_left(r["not_after"], now) for r in rows
             if isinstance(r.get("not_after"), str)]
    return min(found) if found else None


def outcome(status: str, now: dt.datetime, *, stage: str | None = None,
            reason: str | None = None) -> Row:
    return {"last_outcome": {"status": status, "at": iso(now), "stage": stage,
                             "reason": reason[:300] if reason else None}}


def state(name: str, now: dt.datetime, detail: str = "") -> dict[str, str]:
    """A renewal or endpoints state: a word, a sentence, and when it was seen."""
    return {"state": name, "detail": detail[:1000], "at": iso(now)}
