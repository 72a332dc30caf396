"""A teams.toml with a problem, deployed, on the local stack.

The policy decides which team may ask for what, so while it is wrong no team request is taken.
Everything that needs no policy goes on: the renewal of a certificate that exists (a queued
renewal acts for the stored owner) and the operators' direct invokes. The operators hear once
per container (one Slack post listing every problem) and an alarm metric says so on every
invocation; the refused team gets an answer, a rejected outcome event and a post.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local_stack import Stack
from tests.e2e.support import REPO, stored_set, unique
from tests.e2e.test_teams import (
    ALPHA,
    OPERATORS,
    OutcomeEvents,
    outcome_events,
    refused,
    renewal_message,
    send,
    slack_posts,
    team_event,
)

__all__ = ["outcome_events"]  # the fixture, shared with test_teams

OVERLAP = """
[teams.gamma]
sources = ["wildcert.team.gamma"]
accounts = ["123456789012"]
suffixes = ["example.com"]
"""


def metric_lines(text: str, name: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric lines for `name` in what the functions printed."""
    found = []
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        names = [m["Name"] for block in document["_aws"]["CloudWatchMetrics"]
                 for m in block["Metrics"]]
        if name in names:
            found.append(document)
    return found


def test_a_bad_policy_refuses_team_requests_and_lets_renewals_go_on(
        stack: Stack, outcome_events: OutcomeEvents, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    label = unique("bp")
    name = f"alpha.{label}"
    first = send(team_event("alpha", {"name": name, "domains": [f"{label}.alpha.example.com"]}))
    assert first["status"] == "issued", first
    meta, _ = stored_set(name)
    capsys.readouterr()
    monkeypatch.setenv("METRICS_NAMESPACE", "wildcert/local")  # as the template sets it

    policy = tmp_path / "teams.toml"
    policy.write_text((REPO / "local_stack" / "teams.toml").read_text() + OVERLAP)
    monkeypatch.setenv("TEAMS_FILE", str(policy))
    since = len(stack.slack_messages())

    # The certificate that exists is renewed from the queue, for its owner.
    (renewed,) = send(renewal_message(meta))["results"]
    assert renewed["status"] == "renewed" and renewed["renewal"] is True, renewed
    assert renewed["team"] == "alpha"
    # The operators' own invoke goes on.
    direct = unique("bpop")
    operators = send({"domains": [f"{direct}.example.com"], "name": direct})
    assert operators["status"] == "issued", operators
    # A team's request is refused, answered, told and put on the bus.
    new_name = f"alpha.{unique('bpn')}"
    asked = send(team_event("alpha", {"name": new_name,
                                       "domains": [f"{label}.alpha.example.com"]}))
    refused(asked, "teams-policy-broken")
    assert "operators" in asked["message"]

    posts = slack_posts(stack, since)
    policy_posts = [text for path, text in posts if "overlap" in text]
    assert len(policy_posts) == 1, posts  # one post per container, not one per request
    assert "overlap" in policy_posts[0] and "gamma" in policy_posts[0]
    assert [p for p, t in posts if "overlap" in t] == [OPERATORS]
    # The renewal was still told on alpha's own channel.
    assert any(path == ALPHA and name in text for path, text in posts)
    kinds = [e["detail-type"] for e in outcome_events.about(name)]
    assert kinds == ["wildcert.certificate.issued", "wildcert.certificate.renewed"], kinds
    (rejected,) = outcome_events.about(new_name)
    assert rejected["detail-type"] == "wildcert.certificate.rejected"
    assert rejected["detail"]["rules"] == ["teams-policy-broken"]
    # Every invocation while the policy is broken says so to the alarm.
    alarms = metric_lines(capsys.readouterr().out, "TeamsPolicyBroken")
    assert len(alarms) == 3 and all(a["TeamsPolicyBroken"] == [1.0] for a in alarms), alarms


def test_a_missing_policy_file_is_a_policy_problem_too(
        stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TEAMS_FILE", str(tmp_path / "nowhere.toml"))
    direct = unique("bpm")
    assert send({"domains": [f"{direct}.example.com"], "name": direct})["status"] == "issued"
    label = unique("bpm")
    refused(send(team_event("beta", {"domains": [f"{label}.beta.example.net"]})),
            "teams-policy-broken")
