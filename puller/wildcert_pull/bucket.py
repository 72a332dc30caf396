"""Reading the bucket with GetObject alone: the reader role may read `*/cert.json` and `*.pem`
and may not list, so a missing object can look like a denied one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from wildcert_pull.errors import Exit, PullError
from wildcert_pull.formats import (
    CERT_FILES,
    CertJson,
    FormatError,
    NewerFormat,
    inconsistencies,
    parse_cert_json,
)

# total_max_attempts counts the first try too; short timeouts keep a cron run from hanging on
# a dead connection (the objects are a few kilobytes).
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 5},
    connect_timeout=3,
    read_timeout=10,
    user_agent_extra="wildcert-pull",
)
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden", "AllAccessDisabled"})
REISSUE = 're-issue {name!r} with {{"force": true}}'


def s3_client(region: str | None, endpoint_url: str | None) -> Any:
    session = boto3.session.Session(region_name=region)
    try:
        return session.client("s3", endpoint_url=endpoint_url, config=CLIENT_CONFIG)
    except ValueError as exc:
        raise PullError(f"--endpoint-url: {exc}", Exit.USAGE) from exc
    except BotoCoreError as exc:
        raise PullError(f"cannot create an S3 client: {exc}", Exit.AWS) from exc


def aws_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def aws_words(exc: BaseException) -> str:
    """The service's code and message, without request ids."""
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    if not error:
        return f"{type(exc).__name__}: {exc}"
    return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".rstrip(": ")


@dataclass(frozen=True)
class Bucket:
    s3: Any
    name: str

    def url(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when S3 says it does not exist."""
        try:
            body: bytes = self.s3.get_object(Bucket=self.name, Key=key)["Body"].read()
        except ClientError as exc:
            if aws_code(exc) in MISSING_CODES:
                return None
            raise self._failure(key, exc) from exc
        except NoCredentialsError as exc:
            raise PullError(
                f"no AWS credentials to read {self.url(key)}: attach the instance role that may "
                "assume wildcert's reader role, or set AWS_PROFILE",
                Exit.AWS,
            ) from exc
        except BotoCoreError as exc:
            raise PullError(
                f"reading {self.url(key)} failed: {exc} — check this host's network access to "
                "S3, --region and --endpoint-url, then rerun",
                Exit.AWS,
            ) from exc
        return body

    def _failure(self, key: str, exc: ClientError) -> PullError:
        code = aws_code(exc)
        if code in DENIED_CODES:
            hint = (
                "the object may not exist (S3 says AccessDenied, not NoSuchKey, to a caller that "
                "may not list the bucket), or this host's role lacks s3:GetObject on it or "
                "kms:Decrypt on the bucket's key — check --bucket, --name and the reader role"
            )
        elif code == "NoSuchBucket":
            hint = f"there is no bucket {self.name!r} — check --bucket (and --region)"
        elif code.startswith("KMS") or "KMS" in aws_words(exc):
            hint = ("S3 could not decrypt it with the bucket's KMS key — check kms:Decrypt for "
                    "the role")
        else:
            hint = "retry; if it persists, check the bucket, --region and the credentials"
        return PullError(f"reading {self.url(key)} failed: {aws_words(exc)} — {hint}", Exit.AWS)


def fetch_cert_json(bucket: Bucket, name: str) -> CertJson:
    key = f"{name}/cert.json"
    raw = bucket.get(key)
    if raw is None:
        raise PullError(
            f"{bucket.url(key)} does not exist: there is no certificate named {name!r} in "
            f"bucket {bucket.name!r} — check --name and --bucket, or issue it first",
            Exit.VERIFY,
        )
    try:
        meta = parse_cert_json(raw)
    except NewerFormat as exc:
        raise PullError(f"{bucket.url(key)} has {exc} — upgrade wildcert-pull",
                        Exit.VERIFY) from exc
    except FormatError as exc:
        raise PullError(
            f"{bucket.url(key)} is not a wildcert cert.json ({exc}) — "
            + REISSUE.format(name=name),
            Exit.VERIFY,
        ) from exc
    problems = inconsistencies(meta, name)
    if problems:
        raise PullError(
            f"{bucket.url(key)} is inconsistent: {'; '.join(problems)} — "
            + REISSUE.format(name=name),
            Exit.VERIFY,
        )
    return meta


def fetch_archive(bucket: Bucket, meta: CertJson) -> dict[str, bytes]:
    """The four files of the archived set cert.json names, each matching its sha256 there.

    Never the live copies beside cert.json: a renewal running now could hand us a key from one
    issuance and a certificate from another.
    """
    return {filename: _fetch_checked(bucket, meta, filename) for filename in CERT_FILES}


def _fetch_checked(bucket: Bucket, meta: CertJson, filename: str) -> bytes:
    key = meta.archive_key(filename)
    data = bucket.get(key)
    described_by = bucket.url(f"{meta.name}/cert.json")
    if data is None:
        raise PullError(
            f"{bucket.url(key)} is missing although {described_by} names it: the archived set "
            "was deleted — " + REISSUE.format(name=meta.name),
            Exit.VERIFY,
        )
    expected, actual = meta.sha256[filename], hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise PullError(
            f"{bucket.url(key)} does not match its sha256 in {described_by} (got "
            f"{actual[:16]}…, expected {expected[:16]}…): it or cert.json was changed after "
            "issuance — do not use it; find who wrote it (CloudTrail, object versions) and "
            + REISSUE.format(name=meta.name),
            Exit.VERIFY,
        )
    return data
