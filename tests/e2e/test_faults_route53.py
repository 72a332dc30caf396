"""Route 53 failing under the issuer: throttling, a prior change still in progress, a change
applied but never acknowledged, and a change that never gets INSYNC.

Faults come from the AWS fault proxy before moto (local_stack/aws_faults.py); every check
reads moto directly.
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from local_stack import Stack
from tests.e2e.faults_support import (
    archive_serials,
    assert_clean_failure,
    journal,
    leftover_challenges,
    orders_for,
    slack_since,
    stored,
)
from tests.e2e.support import ISSUER, invoke, slack_payloads, wildcard_request
from wildcert.adapters import aws
from wildcert.jobs.issue.outcome import StageFailure

pytestmark = pytest.mark.usefixtures("fresh_faults")

LAMBDA_SECONDS = 16.0  # the handler gets half of it (8 s) as its deadline, half as reserve


def _assert_issued_once(stack: Stack, label: str, request: dict, result: dict) -> None:
    assert result["status"] == "issued", result
    stack.aws_faults.clear()
    meta = stored(label, request["domains"])
    assert meta["serial"] == result["serial"]
    assert leftover_challenges() == {}
    assert archive_serials(label) == {result["serial"]}
    assert len(orders_for(stack, request["domains"])) == 1
    assert journal(label) is None


@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
def test_a_fraction_of_route53_calls_refused_still_issues(stack: Stack, code: str) -> None:
    label, request = wildcard_request("rf")
    # Seed 7 fires on draws 1, 2, 4, 6, 7, ...: the first change is refused twice in a row.
    stack.aws_faults.add(service="route53", error=code, probability=0.4, seed=7)
    result = invoke(ISSUER, request)
    fired = stack.aws_faults.stats()["faults_fired"]
    assert sum(n for k, n in fired.items() if k.startswith("route53 ")) >= 2, fired
    _assert_issued_once(stack, label, request, result)


@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
def test_consecutive_refused_changes_still_issue(stack: Stack, code: str) -> None:
    label, request = wildcard_request("rc")
    stack.aws_faults.add(service="route53", operation="ChangeResourceRecordSets", error=code,
                         count=5)
    result = invoke(ISSUER, request)
    changes = stack.aws_faults.calls(service="route53", operation="ChangeResourceRecordSets")
    refused = [c for c in changes if c["fault"]]
    assert len(refused) == 5 and all(c["status"] == 400 for c in refused)
    _assert_issued_once(stack, label, request, result)


@pytest.mark.parametrize("when", ["before", "after"])
def test_connection_reset_on_a_change_still_issues(stack: Stack, when: str) -> None:
    """`after`: moto applied the change but the answer was lost, so the retry finds it done."""
    label, request = wildcard_request("rr")
    stack.aws_faults.add(service="route53", operation="ChangeResourceRecordSets",
                         action="reset", when=when, count=2)
    result = invoke(ISSUER, request)
    assert stack.aws_faults.rules()[0]["fired"] == 2
    _assert_issued_once(stack, label, request, result)


def test_a_change_pending_past_the_deadline_fails_cleanly(stack: Stack) -> None:
    label, request = wildcard_request("rp")
    # Only the first change (adding the values) stays PENDING; the cleanup's change goes INSYNC.
    stack.aws_faults.add(service="route53", operation="ChangeResourceRecordSets",
                         action="pending", count=1)
    before = len(slack_payloads())
    started = time.monotonic()
    with pytest.raises(StageFailure) as raised:
        invoke(ISSUER, request, seconds=LAMBDA_SECONDS)
    elapsed = time.monotonic() - started
    failure = raised.value
    assert_clean_failure(failure, "dns", label, before)
    zone = stack.zone_id("example.com")
    assert "INSYNC" in failure.message and f"example.com ({zone})" in failure.message, failure
    assert elapsed < LAMBDA_SECONDS, (
        f"the handler failed after {elapsed:.1f} s of a {LAMBDA_SECONDS:.0f} s invocation: "
        "Lambda would have killed it before it cleaned up and reported"
    )
    assert stack.aws_faults.count("route53", "GetChange") >= 2
    assert journal(label) is None
    assert archive_serials(label) == set()
    assert len(orders_for(stack, request["domains"])) == 1


def test_botocore_makes_one_attempt_under_wildcerts_own_route53_retries(stack: Stack) -> None:
    """adapters.aws.OWN_RETRIES: route53.py retries Route 53 itself, so botocore must not retry
    underneath and multiply the calls against Route 53's account-wide request limit."""
    stack.aws_faults.add(service="route53", operation="ListHostedZones", error="Throttling",
                         count=1)
    with pytest.raises(ClientError) as raised:
        aws.client("route53").list_hosted_zones()
    assert raised.value.response["Error"]["Code"] == "Throttling"
    assert stack.aws_faults.count("route53", "ListHostedZones") == 1


def test_challenge_values_a_failed_cleanup_left_are_removed_later(stack: Stack) -> None:
    """Route 53 refuses the cleanup (here AccessDenied, which fails at once; persistent
    throttling does the same after the cleanup's 15 s). The certificate is issued and Slack
    hears the cleanup failed, naming the next run for the name; once Route 53 answers again, the
    next run for the name must remove what was left."""
    label, request = wildcard_request("rl")
    stack.aws_faults.add(service="route53", operation="ChangeResourceRecordSets",
                         error="AccessDenied", skip=1)
    before = len(slack_payloads())
    try:
        result = invoke(ISSUER, request)
        assert result["status"] == "issued", result
        assert any("cleanup" in t and "the next run for" in t for t in slack_since(before))
        assert leftover_challenges() != {}  # what the cleanup could not remove
        stack.aws_faults.clear()
        again = invoke(ISSUER, {**request, "force": True})
        assert again["status"] == "renewed", again
        assert leftover_challenges() == {}, "the values the failed cleanup left are still there"
    finally:
        _remove_challenge_records(stack, f"_acme-challenge.{label}.example.com.")


def _remove_challenge_records(stack: Stack, name: str) -> None:
    """What a person would do by hand, so the rest of the suite starts from no values."""
    route53, zone = stack.client("route53"), stack.zone_id("example.com")
    found = route53.list_resource_record_sets(
        HostedZoneId=zone, StartRecordName=name, StartRecordType="TXT", MaxItems="1")
    for rrset in found["ResourceRecordSets"]:
        if rrset["Name"] == name and rrset["Type"] == "TXT":
            route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={
                "Changes": [{"Action": "DELETE", "ResourceRecordSet": rrset}]})
