"""local_stack.ca_limits on a fake clock: Let's Encrypt's buckets, scaling and exemptions.

Pure (no stack): the front's own tests (test_ca_limits.py) show the same through HTTP.
"""

from __future__ import annotations

import pytest

from local_stack.ca_limits import (
    ORDERS,
    PER_DOMAIN,
    PER_SET,
    CaLimits,
    Issuances,
    Policy,
    duration,
    identifier_set,
    policy_from,
    registered_domain,
)
from local_stack.http_plumbing import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limits(clock: Clock, **policy: object) -> tuple[CaLimits, Issuances]:
    return CaLimits(policy_from(policy), clock=clock), Issuances(clock=clock)


def names(label: str, zone: str = "example.com") -> list[str]:
    return [f"*.{label}.{zone}", f"{label}.{zone}"]


def issue(ca: CaLimits, history: Issuances, identifiers: list[str]) -> None:
    ca.certificate_issued(identifier_set(identifiers), history)
    history.add(identifier_set(identifiers))


def test_token_bucket_refills_evenly_and_says_how_long_to_wait() -> None:
    bucket = TokenBucket.full(300, 3 * 3600, now=0.0)  # Let's Encrypt's new orders
    assert all(bucket.take(0.0) for _ in range(300))
    assert not bucket.take(0.0)
    assert bucket.wait(0.0) == pytest.approx(36.0)
    assert not bucket.take(35.9) and bucket.take(36.1)
    bucket.refund(36.1)
    assert bucket.take(36.1) and not bucket.take(36.1)
    assert bucket.available(10_000_000) == 300  # never more than the capacity
    with pytest.raises(ValueError):
        TokenBucket.full(0, 1, now=0.0)


def test_orders_per_account_with_scaled_time() -> None:
    clock = Clock()
    ca, history = limits(clock, scale=360)  # 3 h pass in 30 s
    verdicts = [ca.new_order("acct-1", names(f"n{i}"), ari_window_open=False, history=history)
                for i in range(301)]
    assert all(v.allowed and v.exempt is None for v in verdicts[:300])
    refused = verdicts[300]
    assert (refused.allowed, refused.refused_by, refused.retry_after) == (False, ORDERS, 1)
    assert refused.detail.startswith(
        "too many new orders (300) from this account in the last 30s (3h0m0s scaled down "
        "360 times), retry after 20")  # a UTC time, as Let's Encrypt words it
    assert refused.detail.endswith("/docs/rate-limits/#new-orders-per-account")
    # Another account has its own bucket; the first gets one order back every 0.1 s.
    assert ca.new_order("acct-2", names("x"), ari_window_open=False, history=history).allowed
    clock.now += 0.1
    assert ca.new_order("acct-1", names("y"), ari_window_open=False, history=history).allowed
    assert ca.as_json()["refused"] == {ORDERS: 1, PER_DOMAIN: 0, PER_SET: 0}


def test_certificates_per_registered_domain_and_the_renewal_exemption() -> None:
    clock = Clock()
    ca, history = limits(clock, certificates_per_domain=2)
    for label in ("a", "b"):
        assert ca.new_order("acct", names(label), ari_window_open=False, history=history).allowed
        issue(ca, history, names(label))
    third = ca.new_order("acct", names("c"), ari_window_open=False, history=history)
    assert (third.allowed, third.refused_by) == (False, PER_DOMAIN)
    assert 'already issued for "example.com" in the last 168h0m0s' in third.detail
    assert third.retry_after == round(7 * 86400 / 2)
    # team.example.com is under the same registered domain; example.net is not.
    assert not ca.new_order("acct", names("d", "team.example.com"), ari_window_open=False,
                            history=history).allowed
    assert ca.new_order("acct", names("e", "example.net"), ari_window_open=False,
                        history=history).allowed
    # The same set again is a renewal: not held back by its registered domain, nor does
    # issuing it use up one of the domain's certificates.
    renewal = ca.new_order("acct", names("a"), ari_window_open=False, history=history)
    assert (renewal.allowed, renewal.exempt) == (True, "renewal")
    issue(ca, history, names("a"))
    clock.now += 7 * 86400 / 2 + 1
    assert ca.new_order("acct", names("f"), ari_window_open=False, history=history).allowed


def test_exact_set_limit_holds_renewals_too_but_not_ari_renewals() -> None:
    clock = Clock()
    ca, history = limits(clock, certificates_per_set=2)
    for _ in range(2):
        assert ca.new_order("acct", names("a"), ari_window_open=False, history=history).allowed
        issue(ca, history, names("a"))
    again = ca.new_order("acct", list(reversed(names("a"))), ari_window_open=False,
                         history=history)
    assert (again.allowed, again.refused_by) == (False, PER_SET)
    assert "this exact set of identifiers" in again.detail
    ari = ca.new_order("acct", names("a"), ari_window_open=True, history=history)
    assert (ari.allowed, ari.exempt) == (True, "ari")


def test_renewals_may_be_held_to_the_order_limit() -> None:
    clock = Clock()
    ca, history = limits(clock, orders_per_account=1, renewals_skip_orders=False)
    assert ca.new_order("acct", names("a"), ari_window_open=False, history=history).allowed
    issue(ca, history, names("a"))
    assert not ca.new_order("acct", names("a"), ari_window_open=False, history=history).allowed
    assert ca.new_order("acct", names("a"), ari_window_open=True, history=history).exempt == "ari"
    # Still exempt from its registered domain's limit, while it spends an order.
    ca, history = limits(clock, orders_per_account=2, certificates_per_domain=1,
                         renewals_skip_orders=False)
    issue(ca, history, names("a"))
    renewal = ca.new_order("acct", names("a"), ari_window_open=False, history=history)
    assert (renewal.allowed, renewal.exempt, renewal.spent_order) == (True, "renewal", True)
    assert not ca.new_order("acct", names("b"), ari_window_open=False, history=history).allowed
    assert ca.new_order("acct", names("a"), ari_window_open=False, history=history).allowed
    assert not ca.new_order("acct", names("a"), ari_window_open=False, history=history).allowed
    strict = CaLimits(Policy(orders_per_account=1, ari_exemption=False), clock=clock)
    strict.new_order("acct", names("b"), ari_window_open=True, history=history)
    assert not strict.new_order("acct", names("c"), ari_window_open=True,
                                history=history).allowed


def test_a_renewal_is_recent_issuance_of_the_same_set_only() -> None:
    clock = Clock()
    ca, history = limits(clock, orders_per_account=1, scale=86400)  # a day per second
    issue(ca, history, names("a"))
    clock.now += 121  # 121 scaled days later the set is new again
    assert ca.new_order("acct", names("a"), ari_window_open=False, history=history).exempt is None
    assert not ca.new_order("acct", names("a"), ari_window_open=False, history=history).allowed


def test_a_refused_or_refunded_order_costs_nothing() -> None:
    clock = Clock()
    ca, history = limits(clock, orders_per_account=1)
    first = ca.new_order("acct", names("a"), ari_window_open=False, history=history)
    ca.refund_order("acct", first)  # Pebble did not create it
    assert ca.new_order("acct", names("b"), ari_window_open=False, history=history).allowed
    assert not ca.new_order("acct", names("c"), ari_window_open=False, history=history).allowed


def test_policy_is_checked_and_names_are_normalised() -> None:
    with pytest.raises(ValueError, match="unknown limit fields"):
        policy_from({"orders": 3})
    with pytest.raises(ValueError):
        policy_from({"scale": 0})
    with pytest.raises(ValueError, match="true or false"):
        policy_from({"renewals_skip_orders": "yes"})
    assert policy_from({"orders_per_account": "7", "scale": 2}).seconds(10) == 5
    assert registered_domain("*.a.team.Example.COM.") == "example.com"
    assert identifier_set(["B.example.com", "b.example.com.", "*.a.example.com"]) == (
        "*.a.example.com", "b.example.com")
    assert [duration(s) for s in (0.5, 30, 600, 10800, 604800)] == [
        "0.5s", "30s", "10m0s", "3h0m0s", "168h0m0s"]
