"""S3 and KMS failing under the issuer: transient errors are retried; the final writes failing
after the CA issued leaves order and key in the journal, and the next attempt stores that same
certificate without ordering again ("certificate and key must not be lost").

moto's S3 encrypts SSE-KMS objects without calling its KMS endpoint over HTTP, so a KMS
failure cannot be injected on the KMS API here: it is injected as the error S3 relays for its
KMS call (`KMS.KMSInternalException`, `KMS.DisabledException`) on the S3 PUT itself.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization

from local_stack import Stack
from tests.e2e.faults_support import (
    archive_serials,
    assert_clean_failure,
    expire_lease,
    fast_botocore_backoff,
    journal,
    leftover_challenges,
    orders_for,
    read_object,
    stored,
)
from tests.e2e.support import ISSUER, invoke, slack_payloads, wildcard_request
from wildcert.adapters.bucket.leases import InFlight
from wildcert.jobs.issue.outcome import StageFailure
from wildcert.logic.certificates import load_key
from wildcert.logic.times import parse_time

pytestmark = pytest.mark.usefixtures("fresh_faults")

BOTOCORE_ATTEMPTS = 5  # wildcert.adapters.aws.CLIENT_CONFIG: total_max_attempts=5


def _public(pem: bytes) -> bytes:
    return load_key(pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_transient_s3_errors_are_retried(stack: Stack) -> None:
    label, request = wildcard_request("st")
    faults = stack.aws_faults
    faults.add(service="s3", method="PUT", key=f"{label}/cert.json", error="InternalError",
               count=2)
    faults.add(service="s3", operation="GetObject", key=f"{label}/cert.json", error="SlowDown",
               count=1)
    faults.add(service="s3", operation="PutObject", key="_wildcert/inflight/*",
               error="ServiceUnavailable", count=1)
    faults.add(service="s3", operation="PutObject", key=f"{label}/archive/*/privkey.pem",
               action="reset", when="after", count=1)
    result = invoke(ISSUER, request)
    assert result["status"] == "issued", result
    assert [r["fired"] for r in faults.rules()] == [2, 1, 1, 1]
    meta = stored(label, request["domains"])
    assert archive_serials(label) == {meta["serial"]}
    assert leftover_challenges() == {}
    assert journal(label) is None
    assert len(orders_for(stack, request["domains"])) == 1


@pytest.mark.parametrize(
    ("key", "error", "retried"),
    [
        ("{name}/cert.json", "InternalError", True),  # 500: botocore retries, then gives up
        ("{name}/*.pem", "KMS.KMSInternalException", True),  # the live copies
        ("{name}/**", "KMS.DisabledException", False),  # everything, archive first; a 400
    ],
)
def test_storage_failure_after_issuance_keeps_order_and_key(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, key: str, error: str, retried: bool
) -> None:
    fast_botocore_backoff(monkeypatch)
    label, request = wildcard_request("sf")
    pattern = key.format(name=label)
    stack.aws_faults.add(service="s3", operation="PutObject", key=pattern, error=error)
    before = len(slack_payloads())
    with pytest.raises(StageFailure) as raised:
        invoke(ISSUER, request)
    failure = raised.value
    assert_clean_failure(failure, "storage", label, before)
    assert error in failure.message and f"{label}/" in failure.message, failure
    failed_puts = [c for c in stack.aws_faults.calls(service="s3", operation="PutObject")
                   if c["fault"]]
    # One key, tried until botocore's attempts ran out (or once, for an error it does not retry).
    assert len({c["key"] for c in failed_puts}) == 1, failed_puts
    assert len(failed_puts) >= BOTOCORE_ATTEMPTS if retried else len(failed_puts) == 1
    parked = journal(label)
    assert parked is not None and parked["order_url"] and parked["key_pem"], parked
    assert parse_time(parked["expires_at"]) <= dt.datetime.now(dt.UTC)
    assert read_object(f"{label}/cert.json") is None

    stack.aws_faults.clear()
    again = invoke(ISSUER, request)
    assert again["status"] == "issued" and again["recovered"] is True, again
    meta = stored(label, request["domains"])
    assert archive_serials(label) == {meta["serial"]} == {again["serial"]}
    assert len(orders_for(stack, request["domains"])) == 1
    privkey = read_object(f"{label}/privkey.pem")
    assert privkey is not None and _public(privkey) == _public(parked["key_pem"].encode())
    assert journal(label) is None
    assert leftover_challenges() == {}


def test_the_answer_to_the_lease_write_lost(stack: Stack) -> None:
    """S3 created the lease, the answer was lost, botocore sent the write again: the lease the
    issuer finds is its own, and the request must still be served (or fail loudly)."""
    label, request = wildcard_request("sl")
    stack.aws_faults.add(service="s3", operation="PutObject", key=InFlight.key(label),
                         action="reset", when="after", count=1)
    before = len(slack_payloads())
    try:
        result = invoke(ISSUER, request)
    except StageFailure as failure:
        assert_clean_failure(failure, "precheck", label, before)
        return
    assert result["status"] == "issued", (result, journal(label))
    meta = stored(label, request["domains"])
    assert archive_serials(label) == {meta["serial"]}
    assert leftover_challenges() == {}
    assert journal(label) is None


def test_the_answer_to_the_journal_write_lost(stack: Stack) -> None:
    """The journal update (order and key, before any TXT value) was stored but its answer
    lost: a clean failure now, reported as a storage failure (the journal is the bucket's), and
    the request is served once the lease is over."""
    label, request = wildcard_request("sj")
    stack.aws_faults.add(service="s3", operation="PutObject", key=InFlight.key(label),
                         action="reset", when="after", skip=1, count=1)
    before = len(slack_payloads())
    with pytest.raises(StageFailure) as raised:
        invoke(ISSUER, request)
    assert_clean_failure(raised.value, "storage", label, before)
    stack.aws_faults.clear()
    expire_lease(label)
    result = invoke(ISSUER, request)
    assert result["status"] == "issued", result
    meta = stored(label, request["domains"])
    assert archive_serials(label) == {meta["serial"]}
    assert leftover_challenges() == {}
    assert journal(label) is None


def test_storing_and_parking_both_fail(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal cannot be parked either: its order and key, written before any TXT value,
    still let the attempt after the lease finish the order."""
    fast_botocore_backoff(monkeypatch)
    label, request = wildcard_request("sp")
    stack.aws_faults.add(service="s3", operation="PutObject", key=f"{label}/**",
                         error="InternalError")
    stack.aws_faults.add(service="s3", operation="PutObject", key=InFlight.key(label),
                         error="InternalError", skip=2)  # the lease and the journal go through
    before = len(slack_payloads())
    with pytest.raises(StageFailure) as raised:
        invoke(ISSUER, request)
    assert_clean_failure(raised.value, "storage", label, before)
    kept = journal(label)
    assert kept is not None and kept["order_url"] and kept["key_pem"], kept
    stack.aws_faults.clear()
    expire_lease(label)
    result = invoke(ISSUER, request)
    assert result["status"] == "issued" and result["recovered"] is True, result
    meta = stored(label, request["domains"])
    assert archive_serials(label) == {meta["serial"]}
    assert len(orders_for(stack, request["domains"])) == 1
    assert journal(label) is None


def test_the_lease_cannot_be_released_after_issuing(stack: Stack) -> None:
    """Everything is stored and Slack was told; deleting the lease is refused. The lease ends
    by itself at its expiry, so this must not turn a stored certificate into a raised error."""
    label, request = wildcard_request("sr")
    stack.aws_faults.add(service="s3", operation="DeleteObject", key=InFlight.key(label),
                         error="AccessDenied")
    result = invoke(ISSUER, request)
    assert result["status"] == "issued", result
    meta = stored(label, request["domains"])
    assert archive_serials(label) == {meta["serial"]}
    assert leftover_challenges() == {}
