"""A small `make fuzz` inside `make test`: a couple of hundred generated cases of every kind
through the issuer's handler on the session's stack, with the fuzz's own checks, and proof
that those checks see a write and a change when there is one."""

from __future__ import annotations

import os

from tests.e2e.support import client, unique
from tests.fuzz import cases as fuzz_cases
from tests.fuzz.report import by_family, failures_text
from tests.fuzz.runner import Fuzzer, warnings_counted
from tests.fuzz.watch import Meters, slack_problems, snapshot

CASES = 200
# One fixed set of cases, so that a run of `make test` is repeatable; `make fuzz` draws new
# ones every run (its seed is in docs/FUZZ.md) to find what this set does not.
SEED = 20261207


def test_generated_cases_through_the_handler(stack) -> None:
    fuzzer = Fuzzer(stack, window=50, accepted_share=0)  # the warm-up issues; enough here
    tally = fuzzer.run(CASES, seed=SEED)
    assert not fuzzer.failures, failures_text(fuzzer)
    assert tally.cases >= CASES
    assert tally.issued >= 1  # the warm-up at least: a valid request went all the way
    assert tally.rejected_cases >= CASES * 0.9
    assert tally.windows >= 3
    assert tally.outcomes["rejected at precheck"] >= 1  # the CAA record works
    families = {family.split("/")[0] for family in by_family(tally.sent)}
    assert {kind.split("/")[0] for kind in fuzz_cases.REJECTED_KINDS} <= families


def test_a_finding_that_carries_a_lone_surrogate_can_be_reported(stack) -> None:
    """pytest-xdist sends a failed test's message to the controller as UTF-8: a lone surrogate
    from a generated case in it crashed the whole run instead of showing the finding."""
    fuzzer = Fuzzer(stack)
    fuzzer._find("crash", "ValueError: '\ud800' in the request", None, "{'team': '\udfff'}")
    text = failures_text(fuzzer)
    assert text.encode("utf-8").decode("utf-8") == text
    assert "\\ud800" in text and "\\udfff" in text  # escaped, still readable


def test_a_valid_request_from_a_source_of_no_team_is_expected_refused_by_policy(stack) -> None:
    """The teams' policy judges an EventBridge sender before its request: the oracle must
    expect a refusal (and no write), not an issuance, for a valid request from no team."""
    fuzzer = Fuzzer(stack, accepted_share=1)
    label = unique("fuzzsource")
    event = fuzz_cases.eventbridge({"domains": [f"*.{label}.example.com"]})
    with warnings_counted() as seen:
        fuzzer._warnings = seen
        fuzzer.one(fuzz_cases.Case("valid/eventbridge", event))
    assert not fuzzer.failures, failures_text(fuzzer)
    assert fuzzer.tally.outcomes == {"rejected at policy": 1}


def test_the_checks_see_a_write_and_a_change(stack) -> None:
    meters = Meters(stack)
    before, state = meters.read(), snapshot(stack)
    key = unique("fuzz-watch-")
    client("s3").put_object(Bucket=os.environ["CERT_BUCKET"], Key=key, Body=b"x")
    try:
        assert meters.read().since(before).writes == {"s3 PutObject": 1}
        changes = state.changes(snapshot(stack))
        assert len(changes) == 1 and key in changes[0], changes
    finally:
        client("s3").delete_object(Bucket=os.environ["CERT_BUCKET"], Key=key)
        meters.close()


def test_slack_problems_are_seen() -> None:
    def section(text: str) -> dict:
        return {"text": "wildcert rejected a certificate request",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}

    assert slack_problems(section("Request for *web* rejected, @\u200bhere")) == []
    assert slack_problems(section("<!channel>")) == [
        "an unescaped '<' or '>' (a Slack control sequence)"]
    assert slack_problems(section("ping @here")) == ["a live @here/@channel/@everyone"]
    assert slack_problems(section("x" * 3001)) == ["section text of 3001 characters (Slack "
                                                   "takes 3000)"]
