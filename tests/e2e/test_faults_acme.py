"""The CA failing under the issuer, through the ACME front before Pebble (local_stack/
acme_front.py): rejected nonces, 5xx and resets, a slow server, `rateLimited`, an order that
goes invalid. Each ends in a stored certificate or a clean failure told to Slack, with no
challenge value left and never a second certificate for one request.
"""

from __future__ import annotations

import os
import time

import pytest

from local_stack import Stack
from tests.e2e.faults_support import (
    archive_serials,
    assert_clean_failure,
    cooldown_key,
    journal,
    leftover_challenges,
    moto,
    orders_for,
    read_object,
    stored,
)
from tests.e2e.support import ISSUER, invoke, slack_payloads, wildcard_request
from wildcert.jobs.issue.outcome import StageFailure

pytestmark = pytest.mark.usefixtures("fresh_faults")

# Every kind the issuer POSTs a JWS to once its account exists: where a nonce is checked.
JWS_KINDS = ("newOrder", "authz", "challenge", "finalize", "order", "certificate")
LAMBDA_SECONDS = 8.0  # the handler gets half of it (4 s) as its deadline, half as reserve


def _fired(stack: Stack, fault: str) -> int:
    return sum(n for k, n in stack.acme_front.stats()["faults_fired"].items() if fault in k)


def _issued_once(stack: Stack, label: str, request: dict, result: dict) -> None:
    assert result["status"] == "issued", result
    meta = stored(label, request["domains"])
    assert archive_serials(label) == {meta["serial"]} == {result["serial"]}
    assert len(orders_for(stack, request["domains"])) == 1
    assert leftover_challenges() == {}
    assert journal(label) is None


def _failed_cleanly(stack: Stack, label: str, request: dict, failure: StageFailure,
                    before: int) -> None:
    assert_clean_failure(failure, "acme", label, before)
    assert archive_serials(label) == set()
    assert len(orders_for(stack, request["domains"])) <= 1
    assert journal(label) is None


def test_half_the_nonces_rejected(stack: Stack) -> None:
    """Like PEBBLE_WFE_NONCEREJECT=50 on every signed request. `acme` retries a badNonce once
    and wildcert five times, so a call fails only after ten rejections in a row (p = 1/1024):
    a clean failure is allowed, issuing is what almost always happens."""
    for kind in JWS_KINDS:
        stack.acme_front.inject(kind, "badNonce", probability=0.5)
    label, request = wildcard_request("an")
    before = len(slack_payloads())
    try:
        result = invoke(ISSUER, request)
    except StageFailure as failure:
        assert "badNonce" in failure.message
        _failed_cleanly(stack, label, request, failure, before)
    else:
        _issued_once(stack, label, request, result)
    assert _fired(stack, "badNonce") >= 3


def test_server_errors_and_resets_on_random_requests(stack: Stack) -> None:
    # At most four faults in all, so no call can meet more than its five attempts.
    stack.acme_front.inject("*", "serverError", probability=0.3, count=2, status=503)
    stack.acme_front.inject("*", "reset", probability=0.3, count=2)
    label, request = wildcard_request("ae")
    result = invoke(ISSUER, request)
    assert _fired(stack, "serverError") + _fired(stack, "reset") >= 1
    _issued_once(stack, label, request, result)


def test_a_slow_ca_still_issues(stack: Stack) -> None:
    stack.acme_front.inject("*", "delay", probability=0.5, seconds=0.3)
    label, request = wildcard_request("as")
    result = invoke(ISSUER, request)
    assert _fired(stack, "delay") >= 3
    _issued_once(stack, label, request, result)


def test_a_ca_slower_than_the_lambda_has_left(stack: Stack) -> None:
    """One answer takes longer than the invocation has left: the issuer must give up on it in
    time to clean up and report, not be killed by the Lambda timeout halfway through."""
    stack.acme_front.inject("newOrder", "delay", count=1, seconds=LAMBDA_SECONDS + 1)
    label, request = wildcard_request("al")
    before = len(slack_payloads())
    started = time.monotonic()
    try:
        result = invoke(ISSUER, request, seconds=LAMBDA_SECONDS)
    except StageFailure as failure:
        result = {"status": f"failed at {failure.stage}: {failure.message}"}
        _failed_cleanly(stack, label, request, failure, before)
    elapsed = time.monotonic() - started
    assert elapsed < LAMBDA_SECONDS, (
        f"the handler returned after {elapsed:.1f} s of a {LAMBDA_SECONDS:.0f} s invocation "
        f"({result['status']}): Lambda would have killed it"
    )
    assert leftover_challenges() == {}


def test_rate_limited_new_order_defers_the_queue(stack: Stack) -> None:
    stack.acme_front.inject("newOrder", "rateLimited", count=1, retry_after=3600)
    label, request = wildcard_request("ar")
    before = len(slack_payloads())
    try:
        with pytest.raises(StageFailure) as raised:
            invoke(ISSUER, request)
        failure = raised.value
        assert "rateLimited" in failure.message and failure.retry_after == 3600, failure
        _failed_cleanly(stack, label, request, failure, before)
        assert read_object(cooldown_key()) is not None

        new_orders = len(stack.acme_front.new_orders())
        slack_before = len(slack_payloads())
        other, other_request = wildcard_request("ad")
        with pytest.raises(StageFailure) as deferred:
            invoke(ISSUER, other_request)
        assert deferred.value.deferred and deferred.value.retry_after > 3000, deferred.value
        assert len(stack.acme_front.new_orders()) == new_orders  # the CA was not asked
        assert len(slack_payloads()) == slack_before  # already reported once
        assert journal(other) is None and archive_serials(other) == set()
        assert leftover_challenges() == {}
    finally:
        moto("s3").delete_object(Bucket=os.environ["CERT_BUCKET"], Key=cooldown_key())


@pytest.mark.parametrize("kind", ["challenge", "finalize"])
def test_an_order_that_goes_invalid(stack: Stack, kind: str) -> None:
    """challenge: the CA fails the DNS-01 validation; finalize: the order itself turns invalid."""
    stack.acme_front.inject(kind, "invalid", count=1)
    label, request = wildcard_request("ai")
    before = len(slack_payloads())
    with pytest.raises(StageFailure) as raised:
        invoke(ISSUER, request)
    _failed_cleanly(stack, label, request, raised.value, before)
    assert len(orders_for(stack, request["domains"])) == 1
