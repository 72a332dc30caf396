"""Bad input through the real Lambda handler on the local stack: rejected, never a crash, no trace.

The pure parser is fuzzed in tests/unit/test_request_fuzz.py; this proves the same holds for the
whole handler — envelopes, the zone lookup, Slack — and that a rejected request makes no write
to S3 or Route 53 and no request to the CA.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.support import ISSUER, invoke, slack_payloads
from wildcert.adapters import acme as acme_client
from wildcert.adapters import aws

WRITES = ("Put", "Delete", "Change", "Create", "Copy", "Upload")
CASES: Counter[str] = Counter()

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=5),
    max_leaves=30,
)
bad_domain = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["*.*.example.com", "a.*.example.com", "*a.example.com", "192.0.2.1",
                     "[::1]", "outside.example.org", "-a.example.com", "a..example.com",
                     "x" * 64 + ".example.com", "exa_mple.com", "ex ample.com", "é\u202e.com",
                     "example.com\x00", "*.com", "localhost"]),
)
request_like = st.fixed_dictionaries(
    {"domains": st.one_of(st.lists(bad_domain, min_size=1, max_size=20),
                          st.just(["x.example.com"] * 10_000), json_values)},
    optional={"name": json_values | st.text(max_size=200), "key_type": json_values,
              "force": json_values, "extra": json_values},
)
envelopes = st.one_of(
    json_values,
    request_like,
    request_like.map(lambda r: {"detail-type": "wildcert.certificate.requested",
                                "source": "t", "detail": r}),
    st.one_of(request_like, json_values).map(lambda r: {"Records": [
        {"eventSource": "aws:sqs", "messageId": "m1", "body": json.dumps(r)}]}),
    st.text(max_size=100).map(lambda body: {"Records": [
        {"eventSource": "aws:sqs", "messageId": "m2", "body": body}]}),
    st.integers(1, 900).map(lambda depth: json.loads("[" * depth + "]" * depth)),
)


@pytest.fixture
def write_calls(monkeypatch):
    """Every AWS write the issuer's clients make, and a CA that must never be called."""
    seen: list[str] = []

    def record(model, **_):
        if model.name.startswith(WRITES):
            seen.append(model.name)

    clients = [aws.client(s) for s in ("s3", "route53", "sqs")]
    for c in clients:
        c.meta.events.register("before-call", record)

    def no_ca(*args, **kwargs):
        raise AssertionError("a rejected request reached the CA")

    monkeypatch.setattr(acme_client.AcmeSession, "__init__", no_ca)
    yield seen
    for c in clients:
        c.meta.events.unregister("before-call", record)


def test_bad_input_is_rejected_with_no_trace(write_calls, stack_env) -> None:
    posted_before = len(slack_payloads())

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(envelopes)
    def run(event) -> None:
        result = invoke(ISSUER, event)
        outcomes = result.get("results", [result])
        for outcome in outcomes:
            CASES[outcome["status"]] += 1
            assert outcome["status"] == "rejected", outcome
            assert outcome["problems"] and len(outcome["message"]) < 50_000
        assert write_calls == []

    run()
    total = sum(CASES.values())
    print(f"bad-input cases through the handler: {total} ({dict(CASES)})")
    assert total >= 150
    assert len(slack_payloads()) - posted_before == total
