"""One issuance at a time per certificate name, and what a crashed one leaves for the next.

`_wildcert/inflight/<name>.json` is both a lease and a journal. It is created with an S3
conditional write (`If-None-Match: *`), so of two deliveries of the same request only one
proceeds; every later write names the ETag it last saw (`If-Match`), so a holder whose lease
was taken over finds out instead of overwriting. The journal records what outlives a crash:
the `_acme-challenge` values added (to remove them) and the order and key (to finish an order
the CA already validated instead of ordering a second certificate).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from wildcert.adapters.aws import error_code
from wildcert.adapters.bucket.certificates import STATE_PREFIX, parse_time, put_encrypted

PRECONDITION_FAILED = {"PreconditionFailed", "412"}


class Busy(Exception):
    """Another live attempt holds the name."""

    def __init__(self, name: str, holder: str, expires_at: dt.datetime, now: dt.datetime):
        self.retry_after = max(1.0, (expires_at - now).total_seconds())
        super().__init__(
            f"another issuance of {name!r} is in progress ({holder}, lease until "
            f"{expires_at.isoformat()}); this duplicate stands down — retry later if it fails"
        )


class LeaseLost(Exception):
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


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class InFlight:
    def __init__(self, s3: Any, bucket: str, kms_key_id: str):
        self.s3 = s3
        self.bucket = bucket
        self.kms_key_id = kms_key_id

    @staticmethod
    def key(name: str) -> str:
        return f"{STATE_PREFIX}/inflight/{name}.json"

    def _put(self, key: str, journal: Journal, **condition: str) -> str:
        return put_encrypted(self.s3, self.bucket, self.kms_key_id, key, journal.to_json(),
                             content_type="application/json", **condition)

    def _read(self, key: str) -> tuple[Journal, str] | None:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in {"NoSuchKey", "404"}:
                return None
            raise
        return Journal.from_json(response["Body"].read()), str(response["ETag"])

    def acquire(self, journal: Journal, now: dt.datetime) -> tuple[Lease, Journal | None]:
        """Take the name, or raise Busy. Returns the lease and a dead predecessor's journal."""
        key = self.key(journal.name)
        for _ in range(3):
            try:
                return Lease(key, self._put(key, journal, IfNoneMatch="*"), journal), None
            except ClientError as exc:
                if error_code(exc) not in PRECONDITION_FAILED:
                    raise
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
                return Lease(key, self._put(key, journal, IfMatch=etag), journal), previous
            except ClientError as exc:
                if error_code(exc) not in PRECONDITION_FAILED:
                    raise
                # someone else took it over first; look again
        raise Busy(journal.name, "a competing attempt", now, now)

    def record(self, lease: Lease, **changes: Any) -> None:
        """Journal progress; raises LeaseLost if our lease was taken over."""
        journal = dataclasses.replace(lease.journal, **changes)
        try:
            lease.etag = self._put(lease.key, journal, IfMatch=lease.etag)
        except ClientError as exc:
            if error_code(exc) in PRECONDITION_FAILED | {"NoSuchKey", "404"}:
                raise LeaseLost(
                    f"the lease on {lease.journal.name!r} was taken over by another attempt"
                ) from exc
            raise
        lease.journal = journal

    def release(self, lease: Lease) -> None:
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=lease.key, IfMatch=lease.etag)
        except ClientError as exc:
            if error_code(exc) not in PRECONDITION_FAILED | {"NoSuchKey", "404"}:
                raise

    def park(self, lease: Lease, now: dt.datetime, *,
             records: list[tuple[str, str, str, str]] | None = None,
             forget_order: bool = False) -> None:
        """Keep the journal for the next attempt and let it take over at once.

        records: the challenge values still to remove (the journal's own when None).
        forget_order: the order is done (stored), so the next attempt must not resume it.
        """
        changes: dict[str, Any] = {"expires_at": _iso(now)}
        if records is not None:
            changes["records"] = tuple(records)
        if forget_order:
            changes.update(order_url=None, key_pem=None)
        self.record(lease, **changes)

    @staticmethod
    def until(now: dt.datetime, seconds: float) -> str:
        return _iso(now + dt.timedelta(seconds=seconds))
