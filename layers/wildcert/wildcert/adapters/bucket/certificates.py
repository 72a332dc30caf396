"""The certificate bucket: layout, SSE-KMS on every object, wildcert's own state under `_wildcert/`.

Layout (a reader of `cert.json` can always fetch a matching set, because it is written last
and names the immutable archive it describes):
    <name>/archive/<serial-hex>/{privkey,cert,chain,fullchain}.pem
    <name>/{privkey,cert,chain,fullchain}.pem
    <name>/cert.json
    _wildcert/...            account keys, probes, leases, the CA's cooldowns, team counters
                             (readers are denied this prefix)

An archived privkey.pem carries the tag `wildcert-key=archived`, which the bucket's lifecycle
rule expires ArchivedKeyRetentionDays after it was written (template.yaml); the certificates
beside it stay for the audit trail. The watch deletes such keys sooner (archive.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from wildcert import container
from wildcert.adapters.bucket.objects import Bucket, PreconditionFailed, StorageError
from wildcert.logic.certificates import (
    IssuedSet,
    StoredCertificate,
)
from wildcert.logic.ratelimit import ACCOUNT_SCOPE, Cooldown, Scope
from wildcert.logic.times import parse_time

# A rate limit met again this soon after the last wait for it ended is told as the same one.
COOLDOWN_QUIET = dt.timedelta(hours=1)

logger = logging.getLogger("wildcert.adapters.bucket.certificates")

STATE_PREFIX = "_wildcert"
CERT_FILES = ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem")
PROBE_TTL_SECONDS = 3600.0
PEM = "application/x-pem-file"
JSON = "application/json"
# What the lifecycle rule `expire-archived-private-keys` (template.yaml) selects on.
ARCHIVED_KEY_TAG = {"wildcert-key": "archived"}


@dataclass(frozen=True)
class AccountRecord:
    """An ACME account at one directory: its key and, once registered, its URL.

    team: the team whose certificates it orders; None: the operators' (the default account).
    Each team has its own, so one team's account-wide limits at the CA never touch another.
    The key is `key_pem` here, or (`kms_key_id`) a KMS signing key whose private half never
    leaves KMS; then `key_pem` is empty and no private key of the account is in the bucket.
    """

    directory_url: str
    key_pem: str
    account_url: str | None = None
    team: str | None = None
    kms_key_id: str | None = None


class CertificateStore:
    """Certificates, their archive and wildcert's own state, on the bucket.

    archived_key_retention: how long after writing the lifecycle rule deletes tagged archived
    keys (ArchivedKeyRetentionDays); None when no rule is known, so nothing can outrun it.
    """

    def __init__(self, bucket: Bucket, archived_key_retention: dt.timedelta | None = None):
        self.bucket = bucket
        self.archived_key_retention = archived_key_retention

    # -- pre-check ----------------------------------------------------------------------------
    def probe(self) -> None:
        """Prove we can write with our key before asking a CA for anything.

        Once per container and hour: the bucket policy and key grants do not change between
        two invocations, and the probe costs three requests.
        """
        bucket = self.bucket
        probed = container.current().probed
        if probed.get((bucket.name, bucket.kms_key_id), 0.0) > time.monotonic():
            return
        key = f"{STATE_PREFIX}/probe/{uuid.uuid4().hex}"
        bucket.put(key, b"probe", content_type="text/plain")
        head = bucket.head(key)
        bucket.delete(key)
        if not head.encrypted_with(bucket.kms_key_id):
            raise StorageError(
                f"{bucket.url()} stored the probe without our KMS key "
                f"(got {head.encryption!r} {head.kms_key_id!r}); check KMS_KEY_ID."
            )
        probed[(bucket.name, bucket.kms_key_id)] = time.monotonic() + PROBE_TTL_SECONDS

    # -- certificates -------------------------------------------------------------------------
    def current(self, name: str) -> StoredCertificate | None:
        key = f"{name}/cert.json"
        found = self.bucket.get(key)
        if found is None:
            return None
        try:
            return StoredCertificate.from_json(found.body)
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(
                f"{self.bucket.url(key)} is not a wildcert cert.json ({exc}); "
                "delete it or re-issue with force."
            ) from exc

    def save(self, meta: StoredCertificate, issued: IssuedSet) -> str:
        """Archive, then live copies, then cert.json; returns the s3:// location."""
        files = issued.files()
        key_tags = self.archived_key_tags(meta)
        for filename, body in files.items():
            tags = key_tags if filename == "privkey.pem" else None
            self._save_archive_file(meta.archive + filename, body, tags=tags)
        for filename, body in files.items():
            self.bucket.put(f"{meta.name}/{filename}", body, content_type=PEM)
        self.bucket.put(f"{meta.name}/cert.json", meta.to_json(), content_type=JSON)
        return self.bucket.url(f"{meta.name}/")

    def archived_key_tags(self, meta: StoredCertificate) -> dict[str, str] | None:
        """The lifecycle tag for the archived key, unless the rule could delete the key while
        its certificate is still valid: then the watch deletes it after not_after instead."""
        retention = self.archived_key_retention
        # The rule counts from the object's creation, which comes after issued_at.
        if retention is None or meta.not_after_time <= parse_time(meta.issued_at) + retention:
            return dict(ARCHIVED_KEY_TAG)
        logger.warning(
            "%s: certificate %s is valid until %s, more than the %d days after issuance that "
            "the lifecycle rule keeps archived private keys; its archived key is stored without "
            "the lifecycle tag (the watch deletes it after not_after). Set "
            "ArchivedKeyRetentionDays above the CA's longest certificate lifetime.",
            meta.name, meta.serial, meta.not_after, retention.days)
        return None

    def _save_archive_file(self, key: str, body: bytes,
                           tags: Mapping[str, str] | None = None) -> None:
        try:
            self.bucket.put(key, body, content_type=PEM, if_none_match=True, tags=tags)
        except PreconditionFailed as exc:
            # An earlier attempt got this far: the archive is immutable, so it must match.
            existing = self.bucket.get(key)
            if existing is None or existing.body != body:
                raise StorageError(
                    f"{self.bucket.url(key)} already exists with other content; "
                    "archives are immutable, so this serial was stored before — investigate."
                ) from exc

    # -- ACME account -------------------------------------------------------------------------
    @staticmethod
    def account_key(directory_url: str, team: str | None = None) -> str:
        """The operators' account `<digest>.json`; a team's `<digest>/<team>.json`."""
        digest = _directory_digest(directory_url)
        if team is None:
            return f"{STATE_PREFIX}/acme-accounts/{digest}.json"
        return f"{CertificateStore.accounts_prefix(directory_url)}{team}.json"

    @staticmethod
    def accounts_prefix(directory_url: str) -> str:
        """Where the teams' accounts at this directory are."""
        return f"{STATE_PREFIX}/acme-accounts/{_directory_digest(directory_url)}/"

    def load_account(self, directory_url: str, team: str | None = None) -> AccountRecord | None:
        found = self.bucket.get(self.account_key(directory_url, team))
        if found is None:
            return None
        return AccountRecord(**{**json.loads(found.body), "team": team})

    def create_account(self, record: AccountRecord) -> AccountRecord:
        """Store a new account key unless another run stored one first; return the winner."""
        key = self.account_key(record.directory_url, record.team)
        try:
            self.bucket.put(key, _account_json(record), content_type=JSON, if_none_match=True)
            return record
        except PreconditionFailed:
            pass
        winner = self.load_account(record.directory_url, record.team)
        if winner is None:
            raise StorageError(f"{self.bucket.url(key)} vanished while creating the account")
        return winner

    def update_account(self, record: AccountRecord) -> None:
        self.bucket.put(self.account_key(record.directory_url, record.team),
                        _account_json(record), content_type=JSON)

    def forget_account_history(self, record: AccountRecord) -> int:
        """Delete every earlier version of the account's object (the bucket keeps them), so
        a key it held once is gone; returns how many were deleted."""
        return self.bucket.delete_earlier_versions(
            self.account_key(record.directory_url, record.team))

    # -- the CA's rate limits, shared by every attempt ----------------------------------
    # One object per directory and scope (logic.ratelimit): a limit on one registered domain
    # or one set of names makes only the orders it counts wait.
    @staticmethod
    def cooldown_prefix(directory_url: str) -> str:
        return f"{STATE_PREFIX}/ca-cooldown/{_directory_digest(directory_url)}"

    @classmethod
    def cooldown_key(cls, directory_url: str, scope: Scope = ACCOUNT_SCOPE) -> str:
        return f"{cls.cooldown_prefix(directory_url)}/{scope.key}.json"

    def ca_cooldowns(self, directory_url: str) -> list[Cooldown]:
        """Every cooldown recorded for this CA directory, expired ones included."""
        prefix = self.cooldown_prefix(directory_url)
        # The prefix without "/" also finds `<digest>.json`, the one account-wide cooldown
        # that earlier versions wrote: it is honoured until it expires.
        found = []
        for key in self.bucket.keys(prefix):
            stored = self.bucket.get(key)
            if stored is not None:
                found.append(Cooldown.from_json(stored.body))
        return found

    def set_ca_cooldown(self, directory_url: str, cooldown: Cooldown) -> None:
        self.bucket.put(self.cooldown_key(directory_url, cooldown.scope), cooldown.to_json(),
                        content_type=JSON)

    def start_ca_cooldown(self, directory_url: str, cooldown: Cooldown, now: dt.datetime,
                          quiet: dt.timedelta = COOLDOWN_QUIET) -> bool:
        """Record `cooldown`; True if it starts a new wait, False if one for the same scope is
        in force or ended less than `quiet` ago (another run met the limit first, or the CA's
        bucket refilled and emptied again: the same episode)."""
        stored = self.bucket.get(self.cooldown_key(directory_url, cooldown.scope))
        until = Cooldown.from_json(stored.body).until if stored is not None else None
        if until is None or until < cooldown.until:
            self.set_ca_cooldown(directory_url, cooldown)
        return until is None or until + quiet <= now


def _account_json(record: AccountRecord) -> bytes:
    """The stored form: the team is in the object's key, not in it (older readers)."""
    return json.dumps({k: v for k, v in asdict(record).items() if k != "team"}).encode()


def _directory_digest(directory_url: str) -> str:
    return hashlib.sha256(directory_url.encode()).hexdigest()[:16]
