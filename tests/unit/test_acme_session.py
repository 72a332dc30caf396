"""AcmeSession over `acme`'s public API, against a scripted ACME server on loopback.

The full protocol against Pebble is tests/e2e; here are the parts Pebble cannot be made to do
on cue: a Retry-After on a poll, a rateLimited refusal, a CA slower than the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.unit.fakes import FakeTime
from tests.unit.scripted_ca import (
    PEM,
    Answer,
    ScriptedCa,
    authz,
    order,
    running,
    script_order,
    session_for,
)
from wildcert.adapters import acme as acme_module
from wildcert.adapters.acme import (
    AcmeError,
    AcmeSession,
    OrderState,
    OrderStatus,
    new_account_key_pem,
)
from wildcert.logic.certificates import generate_key, make_csr


@pytest.fixture
def ca() -> Iterator[ScriptedCa]:
    with running() as server:
        yield server


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def test_new_order_sends_profile_and_replaces_and_skips_valid_authorizations(
    ca: ScriptedCa, fake_time: FakeTime
) -> None:
    script_order(ca)
    made = session_for(ca, fake_time).new_order(("*.example.com", "example.com"),
                                                 profile="classic", replaces="aGk.AQ")
    (sent,) = ca.posts("/new-order")
    assert sent["replaces"] == "aGk.AQ"
    assert sent["profile"] == "classic"
    assert [i["value"] for i in sent["identifiers"]] == ["*.example.com", "example.com"]
    assert made.url == f"{ca.base}/order/1"
    assert made.finalize_url == f"{ca.base}/finalize/1"
    (challenge,) = made.challenges  # authz/2 is already valid
    assert (challenge.identifier, challenge.wildcard) == ("example.com", True)
    assert challenge.record_name == "_acme-challenge.example.com"
    assert challenge.authorization_url == f"{ca.base}/authz/1"
    assert ca.posts("/authz/1") == [None]  # POST-as-GET: an empty payload


def test_polling_waits_what_retry_after_says(ca: ScriptedCa, fake_time: FakeTime) -> None:
    script_order(ca)
    ca.on("POST", "/order/1",
          Answer(body=order(ca, "pending"), headers={"Retry-After": "3"}),
          Answer(body=order(ca, "pending")),
          Answer(body=order(ca, "ready")))
    session = session_for(ca, fake_time)
    made = session.new_order(("example.com",))
    session.wait_until_ready(made.url, made.challenges)
    # The CA's 3 s, then wildcert's own step, which grew 1.6x meanwhile.
    assert fake_time.slept == pytest.approx([3.0, 0.16])
    assert len(ca.posts("/order/1")) == 3


def test_an_invalid_order_says_which_record_failed(ca: ScriptedCa, fake_time: FakeTime) -> None:
    script_order(ca)
    problem = {"type": "urn:ietf:params:acme:error:unauthorized",
               "detail": "no TXT record found at _acme-challenge.example.com"}
    ca.on("POST", "/order/1", Answer(body=order(ca, "invalid")))
    session = session_for(ca, fake_time)
    made = session.new_order(("example.com",))
    ca.on("POST", "/authz/1", Answer(body=authz(ca, "invalid", 1, error=problem)))
    with pytest.raises(AcmeError) as failed:
        session.wait_until_ready(made.url, made.challenges)
    assert failed.value.code == "unauthorized"
    assert ("_acme-challenge.example.com: unauthorized: no TXT record found at "
            "_acme-challenge.example.com") in str(failed.value)


def test_finalize_polls_until_issued_then_downloads(ca: ScriptedCa,
                                                   fake_time: FakeTime) -> None:
    ca.on("POST", "/finalize/1", Answer(body=order(ca, "processing")))
    ca.on("POST", "/order/1", Answer(body=order(ca, "processing")),
          Answer(body=order(ca, "valid", certificate=f"{ca.base}/cert/1")))
    ca.on("POST", "/cert/1", Answer(body=PEM))
    csr = make_csr(generate_key("ec256"), ("example.com",))
    chain = session_for(ca, fake_time).finalize(f"{ca.base}/order/1",
                                                f"{ca.base}/finalize/1", csr)
    assert chain == PEM
    (sent,) = ca.posts("/finalize/1")
    assert set(sent) == {"csr"}
    assert len(ca.posts("/order/1")) == 2
    assert ca.posts("/cert/1") == [None]


def test_an_order_the_ca_refuses_to_issue(ca: ScriptedCa, fake_time: FakeTime) -> None:
    problem = {"type": "urn:ietf:params:acme:error:badCSR", "detail": "key too weak"}
    ca.on("POST", "/finalize/1", Answer(body=order(ca, "processing")))
    ca.on("POST", "/order/1", Answer(body=order(ca, "invalid", error=problem)))
    csr = make_csr(generate_key("ec256"), ("example.com",))
    with pytest.raises(AcmeError) as failed:
        session_for(ca, fake_time).finalize(f"{ca.base}/order/1", f"{ca.base}/finalize/1", csr)
    assert str(failed.value) == (f"the CA did not issue the certificate ({ca.base}/order/1): "
                                 "badCSR: key too weak.")


def test_fetch_order_is_typed(ca: ScriptedCa, fake_time: FakeTime) -> None:
    ca.on("POST", "/order/1", Answer(body=order(ca, "valid", certificate=f"{ca.base}/cert/1")))
    state = session_for(ca, fake_time).fetch_order(f"{ca.base}/order/1")
    assert state == OrderState(f"{ca.base}/order/1", OrderStatus.VALID,
                               f"{ca.base}/finalize/1", f"{ca.base}/cert/1", None)


def test_rate_limited_carries_the_cas_retry_after(ca: ScriptedCa, fake_time: FakeTime) -> None:
    ca.on("POST", "/new-order", Answer(429, {
        "type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many new orders",
    }, {"Retry-After": "120"}))
    with pytest.raises(AcmeError) as limited:
        session_for(ca, fake_time).new_order(("example.com",))
    assert limited.value.code == "rateLimited"
    assert limited.value.retry_after == 120.0
    assert "too many new orders. The CA's rate limit was hit; retry in 120 s." in str(
        limited.value)
    assert len(ca.posts("/new-order")) == 1  # not transient: asked once


def test_a_server_error_is_retried(ca: ScriptedCa, fake_time: FakeTime) -> None:
    ca.on("POST", "/order/1", Answer(500, {"type": "urn:ietf:params:acme:error:serverInternal",
                                           "detail": "oops"}),
          Answer(body=order(ca, "ready")))
    state = session_for(ca, fake_time).fetch_order(f"{ca.base}/order/1")
    assert state.status is OrderStatus.READY
    assert len(ca.posts("/order/1")) == 2


def test_a_server_error_without_a_problem_document_is_retried(ca: ScriptedCa,
                                                              fake_time: FakeTime) -> None:
    """A proxy's 503 whose JSON is no problem document: acme raises ClientError with a tuple,
    not the response, in its args; the answer itself says it is worth a retry."""
    ca.on("POST", "/order/1", Answer(503, ["upstream busy"]), Answer(body=order(ca, "ready")))
    state = session_for(ca, fake_time).fetch_order(f"{ca.base}/order/1")
    assert state.status is OrderStatus.READY
    assert len(ca.posts("/order/1")) == 2


def test_a_server_error_that_lasts_names_its_status_and_url(ca: ScriptedCa,
                                                            fake_time: FakeTime) -> None:
    ca.on("POST", "/order/1", Answer(502, ["bad gateway"]))
    with pytest.raises(AcmeError) as failed:
        session_for(ca, fake_time).fetch_order(f"{ca.base}/order/1")
    assert f"fetching the order failed at {ca.base}/dir: HTTP 502 from {ca.base}/order/1." == str(
        failed.value)
    assert len(ca.posts("/order/1")) == 5  # retried to the end of its attempts


def test_a_busy_nonce_endpoint_is_asked_again_after_its_retry_after(
    ca: ScriptedCa, fake_time: FakeTime
) -> None:
    """The failed answer is the nonce request's, not the POST's the caller asked for."""
    ca.on("HEAD", "/nonce", Answer(503, headers={"Retry-After": "7"}), Answer())
    ca.on("POST", "/order/1", Answer(body=order(ca, "ready")))
    state = session_for(ca, fake_time).fetch_order(f"{ca.base}/order/1")
    assert state.status is OrderStatus.READY
    assert fake_time.slept and fake_time.slept[0] >= 7.0


def test_registering_finds_the_accounts_url_new_or_existing(ca: ScriptedCa,
                                                            fake_time: FakeTime) -> None:
    ca.on("POST", "/account", Answer(201, {"status": "valid"},
                                     {"Location": "{base}/account/7"}),
          Answer(200, {"status": "valid"}, {"Location": "{base}/account/7"}))
    for _ in range(2):  # created, then found again by its key
        session = AcmeSession(f"{ca.base}/dir", new_account_key_pem(),
                              deadline=fake_time.deadline(60))
        assert session.register("ops@example.com") == f"{ca.base}/account/7"
    first = ca.posts("/account")[0]
    assert first["termsOfServiceAgreed"] is True and first["contact"] == ["mailto:ops@example.com"]


def test_a_ca_slower_than_the_deadline_is_cut_off_at_the_deadline(ca: ScriptedCa) -> None:
    ca.on("GET", "/dir", Answer(body={}, delay=20.0))
    session = AcmeSession(f"{ca.base}/dir", new_account_key_pem(),
                          deadline=acme_module.Deadline.after(1.5))
    started = time.monotonic()
    with pytest.raises(AcmeError) as slow:
        session.check_profile("classic")
    assert time.monotonic() - started < 5.0  # the 30 s default timeout was capped
    assert "fetching the ACME directory failed" in str(slow.value)


@pytest.mark.parametrize("body", [[1, 2], [], 42])
def test_a_renewal_info_answer_that_is_not_a_json_object_is_an_acme_error(
        ca: ScriptedCa, body: object) -> None:
    """The issuer asks for the new certificate's window best effort, catching AcmeError: a CA
    answering JSON that is not an object must not turn an issued certificate into a failure.
    (A body that is not JSON at all acme itself refuses by its Content-Type.)"""
    ca.on("GET", "/ari/abc.def", Answer(body=body))
    session = session_for(ca, FakeTime())
    with pytest.raises(AcmeError, match=r"renewal information for abc\.def is not"):
        session.renewal.fetch("abc.def")
