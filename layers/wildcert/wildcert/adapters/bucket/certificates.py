"""The certificate bucket: layout, SSE-KMS on every object, wildcert's own state under `_wildcert/`.

Layout (a reader of `cert.json` can always fetch a matching set, because it is written last
and names the immutable archive it describes):
    <name>/archive/<serial-hex>/{privkey,cert,chain,fullchain}.pem
    <name>/{privkey,cert,chain,fullchain}.pem
    <name>/cert.json
    _wildcert/...            account key, probes, leases (readers are denied this prefix)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from wildcert.adapters.aws import error_code, error_text
from wildcert.logic.certificates import (
    IssuedSet,
    issuer_name,
    key_type_of,
    load_key,
    not_after,
    not_before,
    san_names,
    serial_hex,
    sha256_hex,
)

STATE_PREFIX = "_wildcert"
CERT_FILES = ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem")
METADATA_VERSION = 1
PROBE_TTL_SECONDS = 3600.0
_PROBED: dict[tuple[str, str], float] = {}


class StorageError(Exception):
    """The bucket could not be read or written; the message names bucket, key and remedy."""


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class StoredCertificate:
    """What `<name>/cert.json` says about the live certificate."""

    name: str
    domains: tuple[str, ...]
    serial: str
    not_before: str
    not_after: str
    issuer: str
    key_type: str
    sha256: Mapping[str, str]
    archive: str
    issued_at: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def describe(cls, name: str, issued: IssuedSet, now: dt.datetime) -> StoredCertificate:
        leaf = issued.leaf
        serial = serial_hex(leaf)
        return cls(
            name=name,
            domains=tuple(san_names(leaf)),
            serial=serial,
            not_before=_iso(not_before(leaf)),
            not_after=_iso(not_after(leaf)),
            issuer=issuer_name(leaf),
            key_type=key_type_of(load_key(issued.privkey)),
            sha256={f: sha256_hex(data) for f, data in issued.files().items()},
            archive=f"{name}/archive/{serial}/",
            issued_at=_iso(now),
        )

    def to_json(self) -> bytes:
        body = asdict(self)
        extra = body.pop("extra")
        body["domains"] = list(self.domains)
        body["sha256"] = dict(self.sha256)
        body.update(extra)
        body["version"] = METADATA_VERSION
        return json.dumps(body, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> StoredCertificate:
        body = json.loads(raw)
        body.pop("version", None)
        known = {f: body.pop(f) for f in list(cls.__dataclass_fields__) if f in body}
        known["domains"] = tuple(known["domains"])
        return cls(**known, extra=body)

    @property
    def not_before_time(self) -> dt.datetime:
        return parse_time(self.not_before)

    @property
    def not_after_time(self) -> dt.datetime:
        return parse_time(self.not_after)


@dataclass(frozen=True)
class AccountRecord:
    """The ACME account for one directory: its key and, once registered, its URL."""

    directory_url: str
    key_pem: str
    account_url: str | None = None


class CertificateStore:
    def __init__(self, s3: Any, bucket: str, kms_key_id: str):
        self.s3 = s3
        self.bucket = bucket
        self.kms_key_id = kms_key_id

    # -- low level ----------------------------------------------------------------------------
    def _put(self, key: str, body: bytes, *, content_type: str, create_only: bool = False) -> None:
        conditions = {"IfNoneMatch": "*"} if create_only else {}
        put_encrypted(self.s3, self.bucket, self.kms_key_id, key, body,
                      content_type=content_type, **conditions)

    def _get(self, key: str) -> bytes | None:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in {"NoSuchKey", "404"}:
                return None
            raise

    def _fail(self, what: str, key: str, exc: BaseException) -> StorageError:
        code = error_code(exc)
        hint = "retry; if it persists, check the bucket and KMS key."
        if code in {"AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException"}:
            hint = (
                "the function role needs s3:PutObject/GetObject on the bucket and "
                "kms:GenerateDataKey/Decrypt on the key."
            )
        elif code == "NoSuchBucket":
            hint = "the bucket does not exist: check CERT_BUCKET."
        return StorageError(
            f"{what} s3://{self.bucket}/{key} failed: {error_text(exc)} — {hint}"
        )

    # -- pre-check ----------------------------------------------------------------------------
    def probe(self) -> None:
        """Prove we can write with our key before asking a CA for anything.

        Once per container and hour: the bucket policy and key grants do not change between
        two invocations, and the probe costs three requests.
        """
        if _PROBED.get((self.bucket, self.kms_key_id), 0.0) > time.monotonic():
            return
        key = f"{STATE_PREFIX}/probe/{uuid.uuid4().hex}"
        try:
            self._put(key, b"probe", content_type="text/plain")
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("writing a probe object to", key, exc) from exc
        used = head.get("SSEKMSKeyId", "")
        if head.get("ServerSideEncryption") != "aws:kms" or not _same_key(used, self.kms_key_id):
            raise StorageError(
                f"s3://{self.bucket} stored the probe without our KMS key "
                f"(got {head.get('ServerSideEncryption')!r} {used!r}); check KMS_KEY_ID."
            )
        _PROBED[(self.bucket, self.kms_key_id)] = time.monotonic() + PROBE_TTL_SECONDS

    # -- certificates -------------------------------------------------------------------------
    def current(self, name: str) -> StoredCertificate | None:
        key = f"{name}/cert.json"
        try:
            raw = self._get(key)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("reading", key, exc) from exc
        if raw is None:
            return None
        try:
            return StoredCertificate.from_json(raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(
                f"s3://{self.bucket}/{key} is not a wildcert cert.json ({exc}); "
                "delete it or re-issue with force."
            ) from exc

    def save(self, meta: StoredCertificate, issued: IssuedSet) -> str:
        """Archive, then live copies, then cert.json; returns the s3:// location."""
        files = issued.files()
        for filename, body in files.items():
            self._save_archive_file(meta.archive + filename, body)
        for filename, body in files.items():
            self._write(f"{meta.name}/{filename}", body, "application/x-pem-file")
        self._write(f"{meta.name}/cert.json", meta.to_json(), "application/json")
        return f"s3://{self.bucket}/{meta.name}/"

    def _write(self, key: str, body: bytes, content_type: str) -> None:
        try:
            self._put(key, body, content_type=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("writing", key, exc) from exc

    def _save_archive_file(self, key: str, body: bytes) -> None:
        try:
            self._put(key, body, content_type="application/x-pem-file", create_only=True)
        except ClientError as exc:
            if error_code(exc) not in {"PreconditionFailed", "412"}:
                raise self._fail("writing", key, exc) from exc
            # An earlier attempt got this far: the archive is immutable, so it must match.
            existing = self._get(key)
            if existing is None or hashlib.sha256(existing).digest() != hashlib.sha256(
                body
            ).digest():
                raise StorageError(
                    f"s3://{self.bucket}/{key} already exists with other content; "
                    "archives are immutable, so this serial was stored before — investigate."
                ) from exc
        except BotoCoreError as exc:
            raise self._fail("writing", key, exc) from exc

    def read_file(self, key: str) -> bytes | None:
        return self._get(key)

    # -- ACME account -------------------------------------------------------------------------
    @staticmethod
    def account_key(directory_url: str) -> str:
        return f"{STATE_PREFIX}/acme-accounts/{_directory_digest(directory_url)}.json"

    # -- the CA's rate limit, shared by every attempt -------------------------------------
    @staticmethod
    def cooldown_key(directory_url: str) -> str:
        return f"{STATE_PREFIX}/ca-cooldown/{_directory_digest(directory_url)}.json"

    def ca_cooldown(self, directory_url: str) -> dt.datetime | None:
        key = self.cooldown_key(directory_url)
        try:
            raw = self._get(key)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("reading", key, exc) from exc
        return parse_time(json.loads(raw)["until"]) if raw else None

    def set_ca_cooldown(self, directory_url: str, until: dt.datetime, reason: str) -> None:
        body = json.dumps({"until": _iso(until), "reason": reason[:500]}).encode()
        self._write(self.cooldown_key(directory_url), body, "application/json")

    def load_account(self, directory_url: str) -> AccountRecord | None:
        key = self.account_key(directory_url)
        try:
            raw = self._get(key)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("reading the ACME account from", key, exc) from exc
        if raw is None:
            return None
        return AccountRecord(**json.loads(raw))

    def create_account(self, record: AccountRecord) -> AccountRecord:
        """Store a new account key unless another run stored one first; return the winner."""
        key = self.account_key(record.directory_url)
        try:
            self._put(
                key, json.dumps(asdict(record)).encode(), content_type="application/json",
                create_only=True,
            )
            return record
        except ClientError as exc:
            if error_code(exc) not in {"PreconditionFailed", "412"}:
                raise self._fail("storing the ACME account in", key, exc) from exc
        winner = self.load_account(record.directory_url)
        if winner is None:
            raise StorageError(f"s3://{self.bucket}/{key} vanished while creating the account")
        return winner

    def update_account(self, record: AccountRecord) -> None:
        key = self.account_key(record.directory_url)
        try:
            self._put(key, json.dumps(asdict(record)).encode(), content_type="application/json")
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("storing the ACME account in", key, exc) from exc


def put_encrypted(s3: Any, bucket: str, kms_key_id: str, key: str, body: bytes, *,
                  content_type: str, **conditions: str) -> str:
    """The one way wildcert writes an object: SSE-KMS with our key (the bucket policy refuses
    anything else), optionally conditional (IfNoneMatch / IfMatch). Returns the new ETag."""
    response = s3.put_object(
        Bucket=bucket, Key=key, Body=body, ContentType=content_type,
        ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key_id, BucketKeyEnabled=True,
        **conditions,
    )
    return str(response.get("ETag", ""))


def _directory_digest(directory_url: str) -> str:
    return hashlib.sha256(directory_url.encode()).hexdigest()[:16]


def _same_key(used: str, configured: str) -> bool:
    """S3 reports the key ARN; the setting may be an ARN, a key id or an alias ARN."""
    if not used:
        return False
    return used == configured or used.endswith("/" + configured.rsplit("/", 1)[-1])
