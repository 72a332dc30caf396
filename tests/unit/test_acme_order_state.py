"""An order as the CA describes it (RFC 8555 §7.1.3) becomes a typed OrderState."""

from __future__ import annotations

from typing import Any

import pytest

from wildcert.adapters.acme import AcmeError, OrderState, OrderStatus

URL = "https://ca.test/order/1"
FINALIZE = "https://ca.test/finalize/1"
CERT = "https://ca.test/cert/1"


def body(**fields: Any) -> dict[str, Any]:
    return {"status": "pending", "finalize": FINALIZE,
            "identifiers": [{"type": "dns", "value": "a.example.com"}],
            "authorizations": ["https://ca.test/authz/1"], **fields}


@pytest.mark.parametrize("status", list(OrderStatus))
def test_every_status_of_the_rfc(status: OrderStatus) -> None:
    state = OrderState.from_json(URL, body(status=status.value))
    assert state.status is status
    assert state.url == URL
    assert state.finalize_url == FINALIZE


def test_a_valid_order_names_its_certificate() -> None:
    state = OrderState.from_json(URL, body(status="valid", certificate=CERT))
    assert state == OrderState(URL, OrderStatus.VALID, FINALIZE, CERT, None)
    assert state.issued


@pytest.mark.parametrize("certificate", [None, "", 7])
def test_no_usable_certificate_url_is_none(certificate: object) -> None:
    fields = {} if certificate is None else {"certificate": certificate}
    state = OrderState.from_json(URL, body(status="valid", **fields))
    assert state.certificate_url is None
    assert not state.issued  # valid, but nothing to download yet


def test_a_ready_order_is_not_issued() -> None:
    assert not OrderState.from_json(URL, body(status="ready", certificate=CERT)).issued


def test_the_problem_document_in_words() -> None:
    error = {
        "type": "urn:ietf:params:acme:error:caa",
        "detail": "CAA forbids issuance",
        "subproblems": [{"type": "urn:ietf:params:acme:error:caa", "detail": "issuewild ;",
                         "identifier": {"type": "dns", "value": "b.example.com"}}],
    }
    state = OrderState.from_json(URL, body(status="invalid", error=error))
    assert state.problem == "caa: CAA forbids issuance; b.example.com: issuewild ;"


def test_a_problem_without_detail_still_says_its_type() -> None:
    error = {"type": "urn:ietf:params:acme:error:unauthorized"}
    state = OrderState.from_json(URL, body(status="invalid", error=error))
    assert state.problem == "unauthorized: The client lacks sufficient authorization"


def test_a_problem_that_is_no_document_is_kept_as_text() -> None:
    state = OrderState.from_json(URL, body(status="invalid", error="the CA broke"))
    assert state.problem == "error: the CA broke"


def test_no_error_no_problem() -> None:
    assert OrderState.from_json(URL, body(status="invalid")).problem is None


@pytest.mark.parametrize(
    ("described", "words"),
    [
        (body(status="deactivated"), "unknown status 'deactivated'"),
        ({k: v for k, v in body().items() if k != "status"}, "unknown status None"),
        (body(finalize=""), "names no finalize URL"),
        ({k: v for k, v in body().items() if k != "finalize"}, "names no finalize URL"),
        (["not", "an", "object"], "something other than a JSON object"),
    ],
)
def test_what_is_not_an_order_is_refused(described: object, words: str) -> None:
    with pytest.raises(AcmeError) as refused:
        OrderState.from_json(URL, described)
    assert words in str(refused.value)
    assert URL in str(refused.value)
