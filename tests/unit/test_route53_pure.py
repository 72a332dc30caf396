"""The pure parts of wildcert.adapters.route53: quoting, change planning, error classification."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from hypothesis import given
from hypothesis import strategies as st

from wildcert.adapters.route53 import (
    ROUTE53_QUOTA,
    ApiQuota,
    HostedZone,
    RecordSet,
    explain,
    in_zone,
    is_conflict,
    is_transient,
    plan_add,
    plan_remove,
    quote,
    unquote,
)
from wildcert.logic.zones import canonical_name

NAME = "_acme-challenge.example.com"
ZONE = HostedZone("Z0123", "example.com")


def client_error(code: str, message: str = "", status: int = 400, op: str = "Op") -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, op)


def rrset(action: str, ttl: int, *raw: str) -> dict[str, Any]:
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": NAME + ".",
            "Type": "TXT",
            "TTL": ttl,
            "ResourceRecords": [{"Value": r} for r in raw],
        },
    }


# ---------------------------------------------------------------- quoting


def test_quote_wraps_and_escapes() -> None:
    assert quote("token") == '"token"'
    assert quote('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'
    assert quote("tab\there") == '"tab\\011here"'


def test_long_values_are_split_into_255_character_strings() -> None:
    quoted = quote("a" * 300)
    assert quoted == '"' + "a" * 255 + '" "' + "a" * 45 + '"'


def test_unquote_joins_chunks_and_resolves_escapes() -> None:
    assert unquote('"abc" "def"') == "abcdef"
    assert unquote('"a\\"b\\\\c"') == 'a"b\\c'
    assert unquote('"\\052.example"') == "*.example"
    assert unquote("bare") == "bare"


@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=600))
def test_unquote_undoes_quote(value: str) -> None:
    assert unquote(quote(value)) == value


def test_names_are_normalised_and_matched_by_label() -> None:
    assert canonical_name(" _ACME-Challenge.Example.COM. ") == NAME
    assert in_zone("_acme-challenge.example.com.", ZONE)
    assert in_zone("example.com", ZONE)
    assert not in_zone("_acme-challenge.notexample.com", ZONE)


# ---------------------------------------------------------------- planning


def test_add_to_nothing_is_a_plain_create() -> None:
    assert plan_add(NAME, None, ["a", "b", "a"], 60) == [rrset("CREATE", 60, '"a"', '"b"')]


def test_add_deletes_the_exact_current_set_and_creates_the_merge() -> None:
    current = RecordSet(NAME, 300, ('"human" "text"', '"a"'))
    assert plan_add(NAME, current, ["a", "b"], 60) == [
        rrset("DELETE", 300, '"human" "text"', '"a"'),
        rrset("CREATE", 300, '"human" "text"', '"a"', '"b"'),
    ]


def test_add_of_present_values_plans_nothing() -> None:
    assert plan_add(NAME, RecordSet(NAME, 60, ('"a"',)), ["a"], 60) == []


def test_remove_keeps_the_rest_verbatim() -> None:
    current = RecordSet(NAME, 120, ('"a"', '"keep" "me"', '"b"'))
    assert plan_remove(NAME, current, ["a", "b"], 60) == [
        rrset("DELETE", 120, '"a"', '"keep" "me"', '"b"'),
        rrset("CREATE", 120, '"keep" "me"'),
    ]


def test_remove_of_the_last_values_only_deletes() -> None:
    current = RecordSet(NAME, 60, ('"a"', '"b"'))
    assert plan_remove(NAME, current, ["b", "a"], 60) == [rrset("DELETE", 60, '"a"', '"b"')]


def test_remove_of_absent_values_plans_nothing() -> None:
    assert plan_remove(NAME, None, ["a"], 60) == []
    assert plan_remove(NAME, RecordSet(NAME, 60, ('"b"',)), ["a"], 60) == []


@given(
    have=st.sets(st.text(min_size=1, max_size=5), max_size=5),
    add=st.lists(st.text(min_size=1, max_size=5), max_size=5),
)
def test_add_then_remove_restores_the_other_values(have: set[str], add: list[str]) -> None:
    current = RecordSet(NAME, 60, tuple(quote(v) for v in sorted(have))) if have else None
    after_add = _apply(current, plan_add(NAME, current, add, 60))
    assert (after_add.values() if after_add else frozenset()) == have | set(add)
    fresh = set(add) - have
    after_remove = _apply(after_add, plan_remove(NAME, after_add, sorted(fresh), 60))
    assert (after_remove.values() if after_remove else frozenset()) == have


def _apply(current: RecordSet | None, changes: list[dict[str, Any]]) -> RecordSet | None:
    for change in changes:
        rr = change["ResourceRecordSet"]
        raw = tuple(r["Value"] for r in rr["ResourceRecords"])
        if change["Action"] == "DELETE":
            assert current == RecordSet(NAME, rr["TTL"], raw)
            current = None
        else:
            assert current is None
            current = RecordSet(NAME, rr["TTL"], raw)
    return current


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "error",
    [
        client_error("Throttling"),
        client_error("PriorRequestNotComplete"),
        client_error("InternalError", status=500),
        client_error("Whatever", status=503),
        EndpointConnectionError(endpoint_url="https://route53.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://route53.amazonaws.com"),
    ],
)
def test_transient_errors(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [client_error("AccessDenied", status=403), client_error("InvalidChangeBatch"), ValueError()],
)
def test_permanent_errors(error: Exception) -> None:
    assert not is_transient(error)


def test_conflicts_are_told_apart_from_other_rejections() -> None:
    stale = "[Tried to delete resource record set [name='x.', type='TXT'] but the values ...]"
    assert is_conflict(client_error("InvalidChangeBatch", stale))
    taken = "Tried to create resource record set [name='x.', type='TXT'] but it already exists"
    assert is_conflict(client_error("InvalidChangeBatch", taken))
    assert not is_conflict(client_error("InvalidChangeBatch", "TXT value too long"))
    assert not is_conflict(client_error("Throttling", taken))


def test_explanations_name_zone_record_and_remedy() -> None:
    denied = explain(
        client_error("AccessDenied", "not authorized", 403, "ChangeResourceRecordSets"),
        doing="add challenge value(s) to",
        zone=ZONE,
        record=f"TXT {NAME}",
    )
    assert denied.startswith(f"Could not add challenge value(s) to TXT {NAME} in hosted zone "
                             "example.com (Z0123): AccessDenied: not authorized.")
    assert "route53:ChangeResourceRecordSets on arn:aws:route53:::hostedzone/Z0123" in denied
    assert "_acme-challenge TXT records" in denied
    missing = explain(client_error("NoSuchHostedZone", "No hosted zone"), doing="x", zone=ZONE)
    assert "fix ALLOWED_ZONES" in missing
    offline = explain(EndpointConnectionError(endpoint_url="https://r53"), doing="x", zone=ZONE)
    assert "unreachable" in offline


def test_the_quota_is_route53s_current_one_and_sizes_the_throttling_backoff() -> None:
    """10 requests/s with a burst of 50 per account since 2026-07-30 (5/s before)."""
    assert (ROUTE53_QUOTA.rate, ROUTE53_QUOTA.burst) == (10.0, 50)
    now, before = ROUTE53_QUOTA.throttle_backoff(), ApiQuota(5.0, 5).throttle_backoff()
    # A token comes back twice as fast, so the first retry comes sooner; the whole budget
    # (10 attempts, steps up to 20 s: 1.5 to 2 minutes) rides out the account's other callers.
    assert (now.base, before.base) == (0.5, 1.0)
    assert now.attempts == before.attempts == 10 and now.cap == before.cap == 20.0
    steps = [min(now.cap, now.base * 2 ** k) for k in range(now.attempts - 1)]
    assert 90 <= sum(steps) <= 120


def test_throttling_advice_states_the_quota_it_assumed() -> None:
    throttled = client_error("Throttling", "Rate exceeded")
    assert "allows 10 Route 53 requests per second (burst 50), shared with everything else" in (
        explain(throttled, doing="x", zone=ZONE))
    assert "allows 2.5 Route 53 requests per second (burst 7)" in (
        explain(throttled, doing="x", zone=ZONE, quota=ApiQuota(2.5, 7)))


def test_the_issuer_writes_under_the_quota_its_settings_state() -> None:
    from wildcert.deadline import Deadline
    from wildcert.jobs.issue.wiring import Services
    from wildcert.settings import Settings

    settings = Settings.from_env({"CERT_BUCKET": "b", "KMS_KEY_ID": "k", "ALLOWED_ZONES": "Z1",
                                  "ROUTE53_REQUESTS_PER_SECOND": "4", "ROUTE53_REQUEST_BURST": "8"})
    records = Services(settings, Deadline.after(30), client_factory=lambda _: None).route53
    assert records.quota == ApiQuota(4.0, 8)
    assert records.throttle.base == 1.25
