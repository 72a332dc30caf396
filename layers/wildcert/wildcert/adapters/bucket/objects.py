"""The certificate bucket as S3 objects: the only code that calls S3 for it.

Every write is SSE-KMS with wildcert's key (the bucket policy refuses anything else); writes
and deletes may be conditional (`If-None-Match: *`, `If-Match: <etag>`). Every failure comes
out as one of three errors whose message names the bucket, the key and what to do:
`NotFound`, `PreconditionFailed` (a conditional request lost) or, for the rest, `StorageError`,
which both of the others are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError

from wildcert.adapters.aws import error_code, error_text
from wildcert.errors import WildcertError

NOT_FOUND = frozenset({"NoSuchKey", "404"})  # HEAD answers have no body, only the status
PRECONDITION_FAILED = frozenset({"PreconditionFailed", "412"})
ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException"})

# What the function role needs for each kind of request, said when S3 or KMS refuses it.
PERMISSIONS = {
    "reading": "s3:GetObject on the bucket and kms:Decrypt on the key",
    "writing": "s3:PutObject on the bucket and kms:GenerateDataKey on the key",
    "writing tagged": "s3:PutObject and s3:PutObjectTagging on the object and "
                      "kms:GenerateDataKey on the key",
    "deleting": "s3:DeleteObject on the bucket",
    "deleting earlier versions of": "s3:ListBucketVersions on the bucket and "
                                    "s3:DeleteObjectVersion on the object",
    "listing": "s3:ListBucket on the bucket",
}


class StorageError(WildcertError):
    """The bucket could not be read or written; the message names bucket, key and remedy."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code  # S3's error code, "" when the request got no answer


class NotFound(StorageError):
    """The object does not exist (a conditional write or delete found nothing to match)."""


class PreconditionFailed(StorageError):
    """A conditional request lost: the object exists already, or changed since it was read."""


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str


@dataclass(frozen=True)
class ObjectHead:
    etag: str
    encryption: str | None
    kms_key_id: str  # as S3 reports it: the key's ARN

    def encrypted_with(self, kms_key_id: str) -> bool:
        """SSE-KMS with this key, which the setting may name by ARN, by id or by alias ARN."""
        used = self.kms_key_id
        if self.encryption != "aws:kms" or not used:
            return False
        return used == kms_key_id or used.endswith("/" + kms_key_id.rsplit("/", 1)[-1])


class Bucket:
    def __init__(self, s3: Any, name: str, kms_key_id: str):
        self.s3 = s3
        self.name = name
        self.kms_key_id = kms_key_id

    def url(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"

    def get(self, key: str, *, limit: int | None = None) -> StoredObject | None:
        """The object and its ETag; None when there is no such object.

        limit: read at most this many bytes of the body.
        """
        try:
            response = self.s3.get_object(Bucket=self.name, Key=key)
            body = response["Body"].read() if limit is None else response["Body"].read(limit)
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise self._failure("reading", key, exc) from exc
        return StoredObject(body, str(response.get("ETag", "")))

    def put(self, key: str, body: bytes, *, content_type: str, if_none_match: bool = False,
            if_match: str | None = None, tags: Mapping[str, str] | None = None) -> str:
        """Write with our KMS key; returns the new ETag.

        if_none_match: only if no such object exists (else PreconditionFailed).
        if_match: only if the object still has this ETag (else PreconditionFailed, or NotFound
        when it is gone).
        tags: object tags set in the same request (lifecycle rules select objects by them).
        """
        extra = {"IfNoneMatch": "*"} if if_none_match else {}
        if if_match is not None:
            extra["IfMatch"] = if_match
        if tags:
            extra["Tagging"] = urlencode(dict(tags))
        try:
            response = self.s3.put_object(
                Bucket=self.name, Key=key, Body=body, ContentType=content_type,
                ServerSideEncryption="aws:kms", SSEKMSKeyId=self.kms_key_id,
                BucketKeyEnabled=True, **extra,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("writing", key, exc,
                                permission="writing tagged" if tags else None) from exc
        return str(response.get("ETag", ""))

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Remove the object; with if_match, only while it still has that ETag."""
        conditions = {"IfMatch": if_match} if if_match is not None else {}
        try:
            self.s3.delete_object(Bucket=self.name, Key=key, **conditions)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("deleting", key, exc) from exc

    def delete_earlier_versions(self, key: str) -> int:
        """Delete every version of `key` but the current one (a versioned bucket keeps them
        all); returns how many went."""
        try:
            pages = self.s3.get_paginator("list_object_versions").paginate(
                Bucket=self.name, Prefix=key)
            earlier = [v["VersionId"] for page in pages for v in page.get("Versions", [])
                       if v["Key"] == key and not v.get("IsLatest")]
            for version in earlier:
                self.s3.delete_object(Bucket=self.name, Key=key, VersionId=version)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("deleting earlier versions of", key, exc) from exc
        return len(earlier)

    def head(self, key: str) -> ObjectHead:
        try:
            response = self.s3.head_object(Bucket=self.name, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("reading", key, exc) from exc
        return ObjectHead(str(response.get("ETag", "")), response.get("ServerSideEncryption"),
                          str(response.get("SSEKMSKeyId", "")))

    def keys(self, prefix: str) -> list[str]:
        """Every object key under `prefix` (current versions only)."""
        keys: list[str] = []
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix)
            for page in pages:
                keys.extend(o["Key"] for o in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("listing", prefix, exc) from exc
        return keys

    def folders(self, prefix: str = "") -> list[str]:
        """The top-level prefixes (starting with `prefix`), without their "/": one request per
        thousand, whatever the number of objects below them."""
        folders: list[str] = []
        try:
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Delimiter="/", Prefix=prefix)
            for page in pages:
                folders.extend(p["Prefix"].rstrip("/") for p in page.get("CommonPrefixes", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("listing", prefix, exc) from exc
        return folders

    def _failure(self, doing: str, key: str, exc: ClientError | BotoCoreError, *,
                 permission: str | None = None) -> StorageError:
        code = error_code(exc)
        said = f"{doing} {self.url(key)} failed: {error_text(exc)}"
        if code in NOT_FOUND:
            return NotFound(f"{said} — the object does not exist.", code)
        if code in PRECONDITION_FAILED:
            return PreconditionFailed(
                f"{said} — another writer created or changed the object first.", code)
        if code in ACCESS_DENIED:
            hint = f"the function role needs {PERMISSIONS[permission or doing]}."
        elif code == "NoSuchBucket":
            hint = "the bucket does not exist: check CERT_BUCKET."
        else:
            hint = "retry; if it persists, check the bucket and KMS key."
        return StorageError(f"{said} — {hint}", code)
