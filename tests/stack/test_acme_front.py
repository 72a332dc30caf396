"""The ACME front before Pebble: ARI, recorded orders, and faults a plain client can see."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography import x509

from local_stack import Stack
from local_stack.acme_front import FrontClient
from tests.e2e.support import ISSUER, invoke, stored_set, unique
from wildcert.jobs.issue.outcome import StageFailure
from wildcert.logic import ari

pytestmark = pytest.mark.stack

PROBLEM = "urn:ietf:params:acme:error:"


@pytest.fixture
def front(stack: Stack) -> Iterator[FrontClient]:
    stack.acme_front.reset()
    try:
        yield stack.acme_front
    finally:
        stack.acme_front.reset()  # a failed test must not leave faults for the next


@pytest.fixture
def http(stack: Stack) -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the environment names
    session.verify = stack.env["ACME_CA_BUNDLE"]
    with session:
        yield session


def _directory(http: requests.Session, stack: Stack) -> dict[str, Any]:
    response = http.get(stack.env["ACME_DIRECTORY_URL"], timeout=10)
    response.raise_for_status()
    return dict(response.json())


def _problem(response: requests.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    body = dict(response.json())
    assert body["type"] == PROBLEM + error
    return body


def _wildcard(label: str) -> list[str]:
    return [f"*.{label}.example.com", f"{label}.example.com"]


def test_directory_adds_renewal_info_and_speaks_in_the_fronts_address(
    stack: Stack, http: requests.Session, front: FrontClient
) -> None:
    directory = _directory(http, stack)
    assert directory["renewalInfo"] == f"{front.base_url}/renewal-info"
    for key in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"):
        assert directory[key].startswith(f"{front.base_url}/"), key
    assert "profiles" not in directory["meta"]
    pebble = http.get(stack.env["WILDCERT_PEBBLE_DIRECTORY_URL"], timeout=10).json()
    assert "renewalInfo" not in pebble
    assert pebble["newOrder"].startswith(f"https://127.0.0.1:{stack.ports.acme}/")

    front.set_profiles({"classic": "90 days", "tlsserver": "45 days"})
    assert _directory(http, stack)["meta"]["profiles"] == {
        "classic": "90 days",
        "tlsserver": "45 days",
    }


def test_issue_through_the_front_then_renew_with_replaces(
    stack: Stack, stack_env: dict[str, str], http: requests.Session, front: FrontClient
) -> None:
    label = unique("ari")
    before = len(front.new_orders())
    first = invoke(ISSUER, {"domains": _wildcard(label), "name": label})
    assert first["status"] == "issued", first

    # Pebble refuses 5% of good nonces: only the newOrder it accepted counts.
    (order,) = [o for o in front.new_orders()[before:] if o["status"] == 201]
    assert order["protected"]["url"] == f"{front.base_url}/order-plz"
    assert order["protected"]["kid"].startswith(f"{front.base_url}/")
    assert sorted(i["value"] for i in order["payload"]["identifiers"]) == sorted(_wildcard(label))
    assert "replaces" not in order["payload"] and "profile" not in order["payload"]

    meta, stored = stored_set(label)
    leaf = x509.load_pem_x509_certificate(stored["cert.pem"])
    assert meta["ari_id"] == ari.cert_id(leaf)
    response = http.get(f"{front.base_url}/renewal-info/{meta['ari_id']}", timeout=10)
    assert response.status_code == 200
    assert int(response.headers["Retry-After"]) > 0
    window = response.json()["suggestedWindow"]
    start, end = (dt.datetime.fromisoformat(window[k]) for k in ("start", "end"))
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    two_thirds = leaf.not_valid_before_utc + lifetime * 2 / 3
    assert abs((start - two_thirds).total_seconds()) < 1
    assert start < end < leaf.not_valid_after_utc
    assert dt.datetime.fromisoformat(meta["ari"]["window_start"]) == start
    assert dt.datetime.fromisoformat(meta["ari"]["window_end"]) == end

    forced = invoke(ISSUER, {"domains": _wildcard(label), "name": label, "force": True})
    assert forced["status"] == "renewed" and forced["serial"] != first["serial"]
    renewal = front.new_orders()[-1]
    assert renewal["payload"]["replaces"] == meta["ari_id"] == forced["replaces"]
    kinds = front.stats()["by_kind"]
    for kind in ("newOrder", "authz", "challenge", "finalize", "certificate", "renewalInfo"):
        assert kinds[kind] >= 2, kind


def test_a_window_set_in_the_past_is_served(
    http: requests.Session, front: FrontClient
) -> None:
    cert_id = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert http.get(f"{front.base_url}/renewal-info/{cert_id}", timeout=10).status_code == 404

    front.set_window(
        cert_id,
        now - dt.timedelta(days=2),
        now - dt.timedelta(days=1),
        retry_after=60,
        explanation_url="https://example.com/incident",
    )
    response = http.get(f"{front.base_url}/renewal-info/{cert_id}", timeout=10)
    assert response.status_code == 200 and response.headers["Retry-After"] == "60"
    body = response.json()
    assert body["explanationURL"] == "https://example.com/incident"
    info = ari.parse(body, retry_after_seconds=60, now=now)
    assert info.end == now - dt.timedelta(days=1)
    assert info.selected <= now  # a window already past: the CA says renew now

    assert http.get(f"{front.base_url}/renewal-info/not-a-cert-id", timeout=10).status_code == 400
    front.reset()
    assert http.get(f"{front.base_url}/renewal-info/{cert_id}", timeout=10).status_code == 404


def test_server_error_for_the_next_two_then_pebble(
    stack: Stack, http: requests.Session, front: FrontClient
) -> None:
    nonce_url = _directory(http, stack)["newNonce"]
    front.inject("newNonce", "serverError", count=2, status=503)
    _problem(http.get(nonce_url, timeout=10), 503, "serverInternal")
    assert http.head(nonce_url, timeout=10).status_code == 503
    assert front.faults() == []
    answer = http.head(nonce_url, timeout=10)
    assert answer.ok and answer.headers["Replay-Nonce"]
    assert front.stats()["faults_fired"]["newNonce serverError"] == 2


def test_the_front_takes_the_shared_rule_timing_and_refuses_typos(
    stack: Stack, http: requests.Session, front: FrontClient
) -> None:
    nonce_url = _directory(http, stack)["newNonce"]
    rule = front.inject("newNonce", "serverError", skip=1, count=1, status=502)
    assert rule == {"action": "serverError", "kind": "newNonce", "id": rule["id"], "skip": 1,
                    "count": 1, "fired": 0, "status": 502, "seconds": 1.0, "retry_after": 1}
    assert http.head(nonce_url, timeout=10).ok
    assert http.head(nonce_url, timeout=10).status_code == 502
    assert http.head(nonce_url, timeout=10).ok and front.faults() == []
    for bad, why in (({"colour": "red"}, "unknown rule fields"),
                     ({"probability": 2}, "probability must be"), ({"count": -1}, "count must")):
        with pytest.raises(ValueError, match=why):
            front.inject("newNonce", "serverError", **bad)
    with pytest.raises(ValueError, match="action 'explode' is not one of"):
        front.inject("newNonce", "explode")
    assert front.faults() == []


def test_reset_closes_the_connection_without_an_answer(
    stack: Stack, http: requests.Session, front: FrontClient
) -> None:
    front.inject("directory", "reset", count=1)
    with pytest.raises(requests.ConnectionError):
        http.get(stack.env["ACME_DIRECTORY_URL"], timeout=10)
    assert "newOrder" in _directory(http, stack)


def test_rate_limited_and_bad_nonce_answer_like_a_ca(
    stack: Stack, http: requests.Session, front: FrontClient
) -> None:
    directory = _directory(http, stack)
    front.inject("newAccount", "rateLimited", count=1, retry_after=7)
    front.inject("newOrder", "badNonce", count=1)
    limited = http.post(directory["newAccount"], data=b"{}", timeout=10)
    _problem(limited, 429, "rateLimited")
    assert limited.headers["Retry-After"] == "7"
    assert limited.headers["Replay-Nonce"]

    refused = http.post(directory["newOrder"], data=b"{}", timeout=10)
    _problem(refused, 400, "badNonce")
    assert refused.headers["Replay-Nonce"]  # fresh from Pebble: the client can retry
    # Afterwards Pebble itself answers (and finds this JWS malformed).
    assert http.post(directory["newOrder"], data=b"{}", timeout=10).json()["type"] == (
        PROBLEM + "malformed"
    )


def test_delay_then_answer_and_reset_clears_every_fault(
    stack: Stack, http: requests.Session, front: FrontClient
) -> None:
    front.inject("directory", "delay", count=1, seconds=0.6)
    began = time.monotonic()
    assert "newOrder" in _directory(http, stack)
    assert time.monotonic() - began >= 0.6

    front.inject("*", "serverError")  # every request, until reset
    _problem(http.get(stack.env["ACME_DIRECTORY_URL"], timeout=10), 500, "serverInternal")
    _problem(http.get(f"{front.base_url}/renewal-info/a.b", timeout=10), 500, "serverInternal")
    front.reset()
    assert front.faults() == []
    assert "newOrder" in _directory(http, stack)


def test_the_issuer_retries_through_bad_nonces_and_a_server_error(
    stack_env: dict[str, str], front: FrontClient
) -> None:
    front.inject("newOrder", "badNonce", count=2)
    front.inject("finalize", "serverError", count=1)
    label = unique("flaky")
    assert invoke(ISSUER, {"domains": _wildcard(label), "name": label})["status"] == "issued"
    fired = front.stats()["faults_fired"]
    assert fired["newOrder badNonce"] >= 2 and fired["finalize serverError"] >= 1


@pytest.mark.parametrize(
    ("kind", "says"), [("challenge", "could not validate"), ("finalize", "did not issue")]
)
def test_an_order_gone_invalid_fails_the_issuer(
    stack_env: dict[str, str], front: FrontClient, kind: str, says: str
) -> None:
    front.inject(kind, "invalid", count=1)
    label = unique("inv")
    with pytest.raises(StageFailure) as failure:
        invoke(ISSUER, {"domains": [f"{label}.example.com"], "name": label})
    assert failure.value.stage == "acme"
    assert says in str(failure.value)


def test_the_issuer_sends_an_offered_profile_and_refuses_another(
    stack_env: dict[str, str], front: FrontClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    front.set_profiles({"classic": "90 days", "tlsserver": "45 days"})
    monkeypatch.setenv("ACME_PROFILE", "tlsserver")
    label = unique("prof")
    result = invoke(ISSUER, {"domains": [f"{label}.example.com"], "name": label})
    assert result["status"] == "issued", result
    assert front.new_orders()[-1]["payload"]["profile"] == "tlsserver"

    monkeypatch.setenv("ACME_PROFILE", "shortlived")
    sent = len(front.new_orders())
    with pytest.raises(StageFailure, match="not offered"):
        invoke(ISSUER, {"domains": [f"{label}.example.com"], "name": label, "force": True})
    assert len(front.new_orders()) == sent
