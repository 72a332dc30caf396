"""Let's Encrypt's limits at the ACME front: what a client sees on newOrder, over HTTP.

Orders come from fresh accounts (wildcert's AcmeSession with a new key), so each test has its
own orders-per-account bucket; certificates are issued by wildcert itself. Limits start with
full buckets when switched on and are switched off by the front's reset.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator

import pytest

from local_stack import Stack
from local_stack.acme_front import FrontClient
from tests.e2e.support import ISSUER, invoke, stored_set, unique
from wildcert.adapters.acme import AcmeError, AcmeSession, new_account_key_pem
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.deadline import Deadline
from wildcert.jobs.issue.outcome import StageFailure

pytestmark = pytest.mark.stack


@pytest.fixture
def front(stack: Stack) -> Iterator[FrontClient]:
    stack.acme_front.reset()
    try:
        yield stack.acme_front
    finally:
        stack.acme_front.reset()


def session(stack: Stack) -> AcmeSession:
    """A new ACME account: an orders-per-account bucket of its own."""
    acme = AcmeSession(stack.env["ACME_DIRECTORY_URL"], new_account_key_pem(),
                       deadline=Deadline.after(60), ca_bundle=stack.env["ACME_CA_BUNDLE"])
    acme.register(None)
    return acme


def wildcard(label: str, zone: str = "example.com") -> tuple[str, ...]:
    return (f"*.{label}.{zone}", f"{label}.{zone}")


def refused(call: object) -> AcmeError:
    assert callable(call)
    with pytest.raises(AcmeError) as raised:
        call()
    assert raised.value.code == "rateLimited", raised.value
    return raised.value


def test_off_by_default(stack: Stack, front: FrontClient) -> None:
    assert front.limits() == {"enabled": False}
    acme = session(stack)
    for _ in range(3):
        acme.new_order(wildcard(unique("off")))
    assert all("limits" not in o for o in front.new_orders()[-3:])


def test_new_orders_per_account_answered_with_a_problem_and_retry_after(
    stack: Stack, front: FrontClient
) -> None:
    # Two orders per 4 s: one comes back every 2 s.
    front.set_limits(orders_per_account=2, orders_period=3 * 3600, scale=3 * 3600 / 4)
    acme, other = session(stack), session(stack)
    for _ in range(2):
        acme.new_order(wildcard(unique("opa")))
    error = refused(lambda: acme.new_order(wildcard(unique("opa"))))
    assert error.retry_after is not None and 1 <= error.retry_after <= 2
    assert "too many new orders (2) from this account in the last 4s" in str(error)
    refusal = front.new_orders()[-1]
    assert refusal["status"] == 429
    assert refusal["limits"] == {"allowed": False, "refused_by": "newOrdersPerAccount",
                                 "retry_after": error.retry_after,
                                 "detail": refusal["limits"]["detail"]}
    other.new_order(wildcard(unique("opa")))  # another account: a bucket of its own
    limits = front.limits()
    assert limits["enabled"] and limits["refused"]["newOrdersPerAccount"] == 1
    assert limits["allowed"] == 3

    time.sleep(error.retry_after + 0.2)  # as the CA said
    acme.new_order(wildcard(unique("opa")))


def test_an_order_pebble_refuses_is_refunded(stack: Stack, front: FrontClient) -> None:
    front.set_limits(orders_per_account=1)
    acme = session(stack)
    with pytest.raises(AcmeError) as bad:
        acme.new_order(("*.*.two-wildcards.example.com",))
    assert bad.value.code == "malformed"
    acme.new_order(wildcard(unique("ref")))  # the refused order did not use the one order
    refused(lambda: acme.new_order(wildcard(unique("ref"))))
    # Only the order the CA created counts as allowed (a badNonce is such a refusal too).
    assert front.limits()["allowed"] == 1


def test_certificates_per_registered_domain_and_the_renewal_exemption(
    stack: Stack, stack_env: dict[str, str], front: FrontClient
) -> None:
    front.set_limits(certificates_per_domain=2)
    issued = []
    for _ in range(2):
        label = unique("cpd")
        result = invoke(ISSUER, {"domains": list(wildcard(label, "example.net")), "name": label})
        assert result["status"] == "issued", result
        issued.append(label)
    assert front.limits()["issued"] == 2
    acme = session(stack)
    error = refused(lambda: acme.new_order(wildcard(unique("cpd"), "example.net")))
    assert 'too many certificates (2) already issued for "example.net"' in str(error)
    acme.new_order(wildcard(unique("cpd"), "example.com"))  # another registered domain
    # The same set as an issued certificate is a renewal (Boulder: issued within 120 days).
    acme.new_order(tuple(reversed(wildcard(issued[0], "example.net"))))
    assert front.new_orders()[-1]["limits"] == {"allowed": True, "exempt": "renewal"}
    certificates = front.certificates()
    mine = [c for c in certificates.values() if c["names"] == sorted(wildcard(issued[1],
                                                                              "example.net"))]
    assert len(mine) == 1 and mine[0]["seen_at"]


def test_ari_renewal_inside_its_window_is_exempt_from_every_limit(
    stack: Stack, stack_env: dict[str, str], front: FrontClient
) -> None:
    """wildcert's forced renewal carries `replaces`; the front reads it from the JWS payload
    (Pebble 2.4 ignores it) and exempts it while the certificate's window is open."""
    label = unique("arx")
    first = invoke(ISSUER, {"domains": list(wildcard(label)), "name": label})
    assert first["status"] == "issued", first
    cert_id = stored_set(label)[0]["ari_id"]
    front.set_limits(orders_per_account=1, certificates_per_set=1,
                     renewals_skip_orders=False)
    acme = session(stack)
    acme.new_order(wildcard(unique("arx")))
    refused(lambda: acme.new_order(wildcard(label)))  # no order left, window not open
    refused(lambda: acme.new_order(wildcard(label), replaces=cert_id))

    now = dt.datetime.now(dt.UTC)
    front.set_window(cert_id, now - dt.timedelta(hours=1), now + dt.timedelta(days=1))
    acme.new_order(wildcard(label), replaces=cert_id)
    assert front.new_orders()[-1]["limits"] == {"allowed": True, "exempt": "ari"}
    assert front.new_orders()[-1]["payload"]["replaces"] == cert_id

    # wildcert's own renewal gets through although its account may order nothing more.
    renewed = invoke(ISSUER, {"domains": list(wildcard(label)), "name": label, "force": True})
    assert renewed["status"] == "renewed" and renewed["replaces"] == cert_id
    assert front.limits()["exempt"]["ari"] == 2


def test_wildcert_meets_the_order_limit_as_a_deferred_failure(
    stack: Stack, stack_env: dict[str, str], front: FrontClient
) -> None:
    """A rateLimited newOrder fails the request with the CA's Retry-After and starts the
    account's cooldown in the bucket, exactly as the fault rule `rateLimited` makes it."""
    front.set_limits(orders_per_account=1, orders_period=3600)
    cooldown = CertificateStore.cooldown_key(os.environ["ACME_DIRECTORY_URL"])
    try:
        label = unique("wml")
        first = invoke(ISSUER, {"domains": list(wildcard(label)), "name": label})
        assert first["status"] == "issued", first
        with pytest.raises(StageFailure) as raised:
            invoke(ISSUER, {"domains": list(wildcard(unique("wml"))), "name": unique("wml")})
        failure = raised.value
        assert failure.stage == "acme" and "too many new orders (1)" in failure.message
        assert failure.retry_after is not None and 3590 <= failure.retry_after <= 3600
        assert stack.client("s3").get_object(Bucket=os.environ["CERT_BUCKET"], Key=cooldown)
    finally:
        stack.client("s3").delete_object(Bucket=os.environ["CERT_BUCKET"], Key=cooldown)


def test_limits_are_checked_and_reset_switches_them_off(front: FrontClient) -> None:
    for bad in ({"orders": 3}, {"scale": 0}, {"renewals_skip_domain": "no"}):
        with pytest.raises(ValueError, match="ACME front refused POST limits"):
            front.set_limits(**bad)
    assert front.limits() == {"enabled": False}
    on = front.set_limits(scale=360)
    assert on["enabled"] and on["policy"]["orders_per_account"] == 300
    assert on["policy"]["scale"] == 360 and on["policy"]["renewals_skip_orders"] is True
    front.reset()
    assert front.limits() == {"enabled": False}
