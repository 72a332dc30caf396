"""Archived private keys of certificates past their not_after and no longer live: deleted.

The bucket's lifecycle rule deletes tagged archived keys a fixed time after they were written
(ArchivedKeyRetentionDays): S3 counts from an object's creation and cannot read a
certificate's not_after. The watch runs this twice a day for precision: an archived key goes
once its certificate has expired, unless cert.json still names its set (the puller installs
the live set from the archive). cert.pem, chain.pem and fullchain.pem stay for the audit trail.

It reads `<name>/archive/<serial>/cert.pem` and deletes `<name>/archive/<serial>/privkey.pem`,
nothing else, which is all the watch role may do in the archive. Any doubt keeps the key: a
set without its cert.pem (still being written, or never finished: the lifecycle rule takes
those), or a cert.pem that cannot be read (reported).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from wildcert.adapters.bucket.objects import Bucket, StorageError
from wildcert.errors import WildcertError
from wildcert.logic.certificates import not_after
from wildcert.logic.times import iso

logger = logging.getLogger("wildcert.adapters.bucket.archive")

KEY_FILE = "privkey.pem"
CERT_FILE = "cert.pem"
MAX_CERT_BYTES = 64 * 1024  # a leaf is a few kB; anything huge is not ours
WORKERS = 8


@dataclass(frozen=True)
class ArchivedSet:
    """The files found under `<name>/archive/<serial>/`."""

    name: str
    serial: str
    files: frozenset[str]

    @property
    def prefix(self) -> str:
        return f"{self.name}/archive/{self.serial}/"


def archived_sets(name: str, keys: Iterable[str]) -> list[ArchivedSet]:
    """Pure: the keys under `<name>/archive/` grouped by serial; anything nested deeper is not
    an archived set and is left out."""
    start = f"{name}/archive/"
    found: dict[str, set[str]] = {}
    for key in keys:
        parts = key[len(start):].split("/") if key.startswith(start) else []
        if len(parts) == 2 and all(parts):
            found.setdefault(parts[0], set()).add(parts[1])
    return [ArchivedSet(name, serial, frozenset(files)) for serial, files in sorted(found.items())]


@dataclass(frozen=True)
class Cleanup:
    """What one pass deleted (or, in a dry run, would delete) and what it could not check."""

    deleted: tuple[str, ...] = ()  # object keys
    problems: tuple[tuple[str, str], ...] = ()  # (certificate name, problem)

    def __add__(self, other: Cleanup) -> Cleanup:
        return Cleanup(self.deleted + other.deleted, self.problems + other.problems)

    def as_dict(self) -> dict[str, Any]:
        return {"deleted": list(self.deleted),
                "problems": [{"name": n, "problem": p} for n, p in self.problems]}


class Unreadable(WildcertError):
    """An archived cert.pem that exists but says nothing usable about its expiry."""


class ArchivedKeys:
    def __init__(self, bucket: Bucket, *, workers: int = WORKERS):
        self.bucket = bucket
        self.workers = workers

    def clean(self, live: Mapping[str, str | None], now: dt.datetime, *,
              dry_run: bool = False) -> Cleanup:
        """Delete the expired archived keys of every name in `live`.

        live: certificate name -> the archive its cert.json names (None: no cert.json, so no
        set of that name is live).
        """
        names = sorted(live)
        if not names:
            return Cleanup()
        with ThreadPoolExecutor(max_workers=min(self.workers, len(names))) as pool:
            results = pool.map(lambda n: self.clean_name(n, live[n], now, dry_run=dry_run), names)
            total = Cleanup()
            for result in results:
                total += result
        return total

    def clean_name(self, name: str, live_archive: str | None, now: dt.datetime, *,
                   dry_run: bool = False) -> Cleanup:
        try:
            keys = self.bucket.keys(f"{name}/archive/")
        except StorageError as exc:
            return Cleanup(problems=((name, f"archived keys not checked: {exc}"),))
        done = Cleanup()
        for found in archived_sets(name, keys):
            if KEY_FILE in found.files and found.prefix != live_archive:
                done += self._clean_set(found, now, dry_run=dry_run)
        return done

    def _clean_set(self, found: ArchivedSet, now: dt.datetime, *, dry_run: bool) -> Cleanup:
        key = found.prefix + KEY_FILE
        try:
            until = self._not_after(found)
        except (StorageError, Unreadable) as exc:
            return Cleanup(problems=((found.name, f"archived key {key} kept: {exc}"),))
        if until is None or until > now:
            return Cleanup()
        if not dry_run:
            try:
                self.bucket.delete(key)
            except StorageError as exc:
                return Cleanup(problems=((found.name, f"expired archived key not deleted: "
                                                      f"{exc}"),))
            logger.info("deleted %s: its certificate expired %s", key, iso(until))
        return Cleanup(deleted=(key,))

    def _not_after(self, found: ArchivedSet) -> dt.datetime | None:
        """The archived certificate's not_after; None while the set has no cert.pem."""
        if CERT_FILE not in found.files:
            return None
        key = found.prefix + CERT_FILE
        stored = self.bucket.get(key, limit=MAX_CERT_BYTES)
        if stored is None:
            return None
        try:
            return not_after(x509.load_pem_x509_certificate(stored.body))
        except ValueError as exc:
            raise Unreadable(f"{self.bucket.url(key)} is not a PEM certificate ({exc})") from exc
