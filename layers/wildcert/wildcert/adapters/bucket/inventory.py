"""The managed certificates: every `<name>/cert.json` in the bucket, and nothing else.

The bucket is the only source of truth, so renewing and monitoring never disagree with what
readers install. Listing asks S3 for top-level prefixes only (Delimiter='/'), so the cost grows
with the number of certificates, not with their archives. One broken cert.json is reported as
such and never stops the others from being read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from wildcert.adapters.acme import AcmeError
from wildcert.adapters.bucket.certificates import STATE_PREFIX, StoredCertificate
from wildcert.adapters.bucket.objects import Bucket, NotFound, PreconditionFailed, StorageError
from wildcert.logic import ari
from wildcert.logic.renewal import Lifetime

logger = logging.getLogger("wildcert.adapters.bucket.inventory")

READ_WORKERS = 8
MAX_CERT_JSON_BYTES = 1_000_000  # a cert.json is a few kB; anything huge is not ours


@dataclass(frozen=True)
class Entry:
    """One managed certificate as its cert.json describes it, with the ETag it was read at."""

    name: str
    meta: StoredCertificate
    etag: str
    body: Mapping[str, Any] = field(repr=False)  # the JSON as stored, to rewrite it faithfully

    @property
    def lifetime(self) -> Lifetime:
        return Lifetime(self.meta.not_before_time, self.meta.not_after_time)

    @property
    def endpoints(self) -> tuple[str, ...]:
        value = self.meta.extra.get("endpoints")
        if not isinstance(value, list):
            return ()
        return tuple(v for v in value if isinstance(v, str))

    @property
    def ari_id(self) -> str | None:
        value = self.meta.extra.get("ari_id")
        return value if isinstance(value, str) and value else None

    @property
    def renewal_info(self) -> ari.RenewalInfo | None:
        """The CA's window stored with the certificate; None if absent or unreadable."""
        block = self.meta.extra.get("ari")
        if not isinstance(block, dict):
            return None
        try:
            return ari.RenewalInfo.from_json(block)
        except (KeyError, TypeError, ari.InvalidRenewalInfo):
            return None


@dataclass(frozen=True)
class Broken:
    """A prefix that should describe a certificate but does not, and why."""

    name: str
    problem: str


@dataclass(frozen=True)
class Inventory:
    entries: tuple[Entry, ...]
    broken: tuple[Broken, ...]
    unmanaged: tuple[str, ...]  # prefixes without a cert.json: never renewed, never checked

    def __len__(self) -> int:
        return len(self.entries)


def _check_shape(name: str, meta: StoredCertificate) -> str | None:
    """Why this cert.json cannot drive a renewal, or None."""
    if meta.name != name:
        return f"it names the certificate {meta.name!r}, not {name!r}"
    if not meta.domains or not all(isinstance(d, str) and d for d in meta.domains):
        return "its domains are not a list of names"
    if not isinstance(meta.key_type, str) or not meta.key_type:
        return "it has no key_type"
    if not isinstance(meta.serial, str):
        return "its serial is not a string"
    try:
        int(meta.serial, 16)
        lifetime = Lifetime(meta.not_before_time, meta.not_after_time)
    except (TypeError, ValueError, AttributeError) as exc:
        return f"its serial or validity dates are unreadable ({exc})"
    if lifetime.length <= dt.timedelta(0):
        return "its not_after is not after its not_before"
    return None


def parse_entry(name: str, raw: bytes, etag: str) -> Entry | Broken:
    """Pure: an Entry, or a Broken naming what is wrong with the bytes."""
    if len(raw) > MAX_CERT_JSON_BYTES:
        return Broken(name, f"cert.json is {len(raw)} bytes, far larger than wildcert writes")
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            return Broken(name, "cert.json is not a JSON object")
        meta = StoredCertificate.from_json(raw)
    except (ValueError, KeyError, TypeError) as exc:
        return Broken(name, f"cert.json is not a wildcert description ({type(exc).__name__}: "
                      f"{str(exc)[:200]})")
    problem = _check_shape(name, meta)
    if problem:
        return Broken(name, f"cert.json cannot be renewed from: {problem}")
    return Entry(name=name, meta=meta, etag=etag, body=body)


class ManagedCertificates:
    """Reads the inventory and writes back refreshed renewal windows, never clobbering."""

    def __init__(self, bucket: Bucket, *, workers: int = READ_WORKERS):
        self.bucket = bucket
        self.workers = workers

    def names(self) -> list[str]:
        """Top-level prefixes, i.e. certificate names, without wildcert's own state.

        Raises StorageError when the bucket cannot be listed: then nothing can be decided.
        """
        # Certificate names cannot start with "_" (request.py), so neither can anything that
        # is not wildcert's own state.
        return [name for name in self.bucket.folders()
                if name and not name.startswith("_") and name != STATE_PREFIX]

    def read(self, name: str) -> Entry | Broken | None:
        """The entry for `name`; None when the prefix has no cert.json."""
        try:
            found = self.bucket.get(f"{name}/cert.json", limit=MAX_CERT_JSON_BYTES + 1)
        except StorageError as exc:
            return Broken(name, str(exc))
        return None if found is None else parse_entry(name, found.body, found.etag)

    def load(self, names: Iterable[str] | None = None) -> Inventory:
        wanted = sorted(self.names() if names is None else names)
        entries: list[Entry] = []
        broken: list[Broken] = []
        unmanaged: list[str] = []
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for name, found in zip(wanted, pool.map(self.read, wanted), strict=True):
                if found is None:
                    unmanaged.append(name)
                elif isinstance(found, Broken):
                    broken.append(found)
                else:
                    entries.append(found)
        return Inventory(tuple(entries), tuple(broken), tuple(unmanaged))

    def write_renewal_info(self, entry: Entry, info: ari.RenewalInfo) -> Entry | None:
        """Store a refreshed window in cert.json unless it changed since `entry` was read.

        Returns the entry as written, or None when another writer (an issuance) got there
        first: its cert.json is newer than anything this refresh knows.
        """
        body = {**entry.body, "ari": info.as_json()}
        raw = json.dumps(body, indent=2, sort_keys=True).encode()
        try:
            etag = self.bucket.put(f"{entry.name}/cert.json", raw,
                                   content_type="application/json", if_match=entry.etag)
        except (PreconditionFailed, NotFound):
            logger.info("cert.json of %s changed while refreshing its renewal window; "
                        "keeping the newer one", entry.name)
            return None
        refreshed = parse_entry(entry.name, raw, etag)
        return refreshed if isinstance(refreshed, Entry) else None


# -- the CA's renewal windows ------------------------------------------------------------------

Fetch = Callable[[str], tuple[dict[str, Any], float | None]]


@dataclass(frozen=True)
class Refreshed:
    """What one renewal-window refresh did: the entry to decide on, and any problem."""

    entry: Entry
    refreshed: bool = False
    problem: str | None = None


def needs_refresh(entry: Entry, now: dt.datetime) -> bool:
    """The CA asked to be asked again by now, or was never asked about this certificate."""
    if entry.ari_id is None:
        return False
    info = entry.renewal_info
    return info is None or info.next_check <= now


def refresh_one(entry: Entry, fetch: Fetch, certificates: ManagedCertificates,
                now: dt.datetime) -> Refreshed:
    """Ask the CA for the certificate's window and store it; problems keep the old window."""
    if entry.ari_id is None:
        raise ValueError(f"{entry.name} has no ari_id: the CA has no window to ask for")
    try:
        body, retry_after = fetch(entry.ari_id)
        info = ari.parse(body, retry_after_seconds=retry_after, now=now,
                         previous=entry.renewal_info)
    except (AcmeError, ari.InvalidRenewalInfo) as exc:
        return Refreshed(entry, problem=f"renewal information unavailable: {exc}")
    try:
        written = certificates.write_renewal_info(entry, info)
    except StorageError as exc:
        # The window is still good for this run's decision; the next run stores it.
        problem = f"could not store the refreshed renewal window: {exc}"
        return Refreshed(_with_info(entry, info), refreshed=True, problem=problem)
    if written is None:
        reread = certificates.read(entry.name)
        return Refreshed(reread if isinstance(reread, Entry) else entry)
    return Refreshed(written, refreshed=True)


def _with_info(entry: Entry, info: ari.RenewalInfo) -> Entry:
    block = info.as_json()
    meta = dataclasses.replace(entry.meta, extra={**entry.meta.extra, "ari": block})
    return Entry(entry.name, meta, entry.etag, {**entry.body, "ari": block})


def refresh_all(entries: Iterable[Entry], fetch: Fetch, certificates: ManagedCertificates,
                now: dt.datetime, *, everything: bool = False,
                workers: int = READ_WORKERS) -> list[Refreshed]:
    """Refresh the windows that are due (or all, on request); other entries pass through."""
    items = list(entries)
    todo = [e for e in items if e.ari_id and (everything or needs_refresh(e, now))]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = dict(zip([e.name for e in todo],
                        pool.map(lambda e: refresh_one(e, fetch, certificates, now), todo),
                        strict=True))
    return [done.get(e.name, Refreshed(e)) for e in items]
