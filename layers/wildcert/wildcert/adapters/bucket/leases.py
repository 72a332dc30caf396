"""One issuance at a time per certificate name, and what a crashed one leaves for the next.

`_wildcert/inflight/<name>.json` is both a lease and a journal. It is created with an S3
conditional write (`If-None-Match: *`), so of two deliveries of the same request only one
proceeds; every later write names the ETag it last saw (`If-Match`), so a holder whose lease
was taken over finds out instead of overwriting. The journal records what outlives a crash:
the `_acme-challenge` values added (to remove them) and the order and key (to finish an order
the CA already validated instead of ordering a second certificate).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from wildcert.adapters.bucket.certificates import STATE_PREFIX
from wildcert.adapters.bucket.objects import Bucket, NotFound, PreconditionFailed
from wildcert.errors import WildcertError
from wildcert.logic.times import iso, parse_time


class Busy(WildcertError):
    """Another live attempt holds the name."""

    def __init__(self, name: str, holder: str, expires_at: dt.datetime, now: dt.datetime):
        self.retry_after = max(1.0, (expires_at - now).total_seconds())
        super().__init__(
            f"another issuance of {name!r} is in progress ({holder}, lease until "
            f"{expires_at.isoformat()}); this duplicate stands down — retry later if it fails"
        )


class LeaseLost(WildcertError):
    """Our lease expired and another attempt took the name over."""


@dataclass(frozen=True)
class Journal:
    name: str
    holder: str
    expires_at: str
    domains: tuple[str, ...] = ()
    key_type: str = ""
    order_url: str | None = None
    key_pem: str | None = None
    records: tuple[tuple[str, str, str, str], ...] = ()  # zone id, zone name, record, value

    def expired(self, now: dt.datetime) -> bool:
        return parse_time(self.expires_at) <= now

    def to_json(self) -> bytes:
        body = dataclasses.asdict(self)
        body["records"] = [list(r) for r in self.records]
        return json.dumps(body).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Journal:
        body = json.loads(raw)
        body["domains"] = tuple(body.get("domains", ()))
        body["records"] = tuple(tuple(r) for r in body.get("records", ()))
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in fields})


@dataclass
class Lease:
    key: str
    etag: str
    journal: Journal
    # Challenge values a cleanup could not remove: kept in the journal when the lease ends.
    leftover: list[tuple[str, str, str, str]] = field(default_factory=list)


class InFlight:
    """The leases and journals under `_wildcert/inflight/`, on the bucket."""

    def __init__(self, bucket: Bucket):
        self.bucket = bucket

    @staticmethod
    def key(name: str) -> str:
        return f"{STATE_PREFIX}/inflight/{name}.json"

    def _put(self, key: str, journal: Journal, *, create: bool = False,
             if_match: str | None = None) -> str:
        return self.bucket.put(key, journal.to_json(), content_type="application/json",
                               if_none_match=create, if_match=if_match)

    def _read(self, key: str) -> tuple[Journal, str] | None:
        found = self.bucket.get(key)
        return None if found is None else (Journal.from_json(found.body), found.etag)

    def acquire(self, journal: Journal, now: dt.datetime) -> tuple[Lease, Journal | None]:
        """Take the name, or raise Busy. Returns the lease and a dead predecessor's journal."""
        key = self.key(journal.name)
        for _ in range(3):
            try:
                return Lease(key, self._put(key, journal, create=True), journal), None
            except PreconditionFailed:
                pass
            found = self._read(key)
            if found is None:
                continue  # released between our two calls: try to create again
            previous, etag = found
            if previous.holder == journal.holder:
                # Our own create succeeded but its answer was lost and botocore's resend hit
                # the precondition: the lease is ours.
                return Lease(key, etag, previous), None
            if not previous.expired(now):
                raise Busy(journal.name, previous.holder, parse_time(previous.expires_at), now)
            try:
                return Lease(key, self._put(key, journal, if_match=etag), journal), previous
            except (PreconditionFailed, NotFound):
                pass  # someone else took it over, or released it, first; look again
        raise Busy(journal.name, "a competing attempt", now, now)

    def record(self, lease: Lease, **changes: Any) -> None:
        """Journal progress; raises LeaseLost if our lease was taken over."""
        journal = dataclasses.replace(lease.journal, **changes)
        try:
            lease.etag = self._put(lease.key, journal, if_match=lease.etag)
        except (PreconditionFailed, NotFound) as exc:
            raise LeaseLost(
                f"the lease on {lease.journal.name!r} was taken over by another attempt"
            ) from exc
        lease.journal = journal

    def release(self, lease: Lease) -> None:
        # Taken over, or gone: not ours to delete any more.
        with contextlib.suppress(PreconditionFailed, NotFound):
            self.bucket.delete(lease.key, if_match=lease.etag)

    def park(self, lease: Lease, now: dt.datetime, *,
             records: list[tuple[str, str, str, str]] | None = None,
             forget_order: bool = False) -> None:
        """Keep the journal for the next attempt and let it take over at once.

        records: the challenge values still to remove (the journal's own when None).
        forget_order: the order is done (stored), so the next attempt must not resume it.
        """
        changes: dict[str, Any] = {"expires_at": iso(now)}
        if records is not None:
            changes["records"] = tuple(records)
        if forget_order:
            changes.update(order_url=None, key_pem=None)
        self.record(lease, **changes)

    @staticmethod
    def until(now: dt.datetime, seconds: float) -> str:
        return iso(now + dt.timedelta(seconds=seconds))
