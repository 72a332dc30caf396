"""Helpers shared by the fault suite (tests/e2e/test_faults_*.py); its fixture, fresh_faults,
is in tests/e2e/conftest.py.

Every check here reads moto directly (WILDCERT_MOTO_URL), never through the AWS fault proxy,
so an assertion is never disturbed by the fault it checks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import pytest
from botocore.retries import standard

from local_stack import Stack
from tests.e2e.support import assert_valid_stored, challenge_values, s3_keys, slack_texts
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.adapters.bucket.leases import InFlight
from wildcert.jobs.issue.outcome import StageFailure


@contextlib.contextmanager
def moto_direct() -> Iterator[None]:
    """tests.e2e.support's helpers read AWS_ENDPOINT_URL at each call: point it at moto."""
    through_proxy = os.environ["AWS_ENDPOINT_URL"]
    os.environ["AWS_ENDPOINT_URL"] = os.environ["WILDCERT_MOTO_URL"]
    try:
        yield
    finally:
        os.environ["AWS_ENDPOINT_URL"] = through_proxy


def moto(service: str) -> Any:
    return boto3.client(service, endpoint_url=os.environ["WILDCERT_MOTO_URL"])


def leftover_challenges() -> dict[str, list[str]]:
    with moto_direct():
        return challenge_values()


def archive_serials(name: str) -> set[str]:
    with moto_direct():
        return {key.split("/")[2] for key in s3_keys(f"{name}/archive/")}


def stored(name: str, domains: Iterable[str], key_type: str = "ec256") -> dict[str, Any]:
    with moto_direct():
        return assert_valid_stored(name, domains, key_type)


def read_object(key: str) -> bytes | None:
    try:
        body = moto("s3").get_object(Bucket=os.environ["CERT_BUCKET"], Key=key)["Body"]
    except moto("s3").exceptions.NoSuchKey:
        return None
    return bytes(body.read())


def journal(name: str) -> dict[str, Any] | None:
    raw = read_object(InFlight.key(name))
    return None if raw is None else dict(json.loads(raw))


def cooldown_key() -> str:
    return CertificateStore.cooldown_key(os.environ["ACME_DIRECTORY_URL"])


def expire_lease(name: str) -> None:
    """The lease on `name` runs out now, as it would after its holder's deadline + 60 s: the
    journal stays for the next attempt, which may take the name over."""
    key = InFlight.key(name)
    raw = read_object(key)
    assert raw is not None, f"no lease on {name}"
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    body = {**json.loads(raw), "expires_at": past.isoformat().replace("+00:00", "Z")}
    moto("s3").put_object(Bucket=os.environ["CERT_BUCKET"], Key=key, Body=json.dumps(body).encode(),
                          ContentType="application/json", ServerSideEncryption="aws:kms",
                          SSEKMSKeyId=os.environ["KMS_KEY_ID"])


def slack_since(before: int) -> list[str]:
    return slack_texts()[before:]


def assert_clean_failure(failure: StageFailure, stage: str, name: str, before: int) -> str:
    """Failed at `stage`, told Slack once, left no challenge value; returns the Slack text."""
    assert failure.stage == stage, failure
    posted = [t for t in slack_since(before) if name in t]
    assert len(posted) == 1, posted
    assert stage in posted[0] and "failed" in posted[0].lower(), posted[0]
    assert "PRIVATE KEY" not in posted[0]
    assert leftover_challenges() == {}
    return posted[0]


def fast_botocore_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retries wait up to 1+2+4+8+16 s; the attempts matter, not the waits."""
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.01)


def orders_for(stack: Stack, domains: Iterable[str]) -> list[dict[str, Any]]:
    """newOrder requests the CA accepted for exactly these identifiers."""
    wanted = sorted(domains)
    return [
        entry for entry in stack.acme_front.new_orders()
        if entry.get("status") == 201
        and sorted(i["value"] for i in (entry.get("payload") or {}).get("identifiers", []))
        == wanted
    ]
