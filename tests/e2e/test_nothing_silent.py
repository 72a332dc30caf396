"""Nothing fails silently, on the local stack.

A team's channel that cannot be reached (its webhook secret misnamed, or its URL dead) is told
to the operators in their post and to the team in its outcome event (`notifications`). An event
that looks like a request but that the request rule does not take (a mistyped detail-type) is
delivered by the catch rule and answered: a rejected outcome event and a log line saying what
was wrong.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from local_stack import Stack
from tests.e2e.support import REPO, client, unique
from tests.e2e.test_teams import (
    OPERATORS,
    OutcomeEvents,
    outcome_events,
    send,
    slack_posts,
    team_event,
)

__all__ = ["outcome_events"]  # the fixture, shared with test_teams


def alpha_with_webhook_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              secret: str) -> None:
    """The stack's teams, alpha's channel read from `secret` instead of its own."""
    policy = tmp_path / "teams.toml"
    text = (REPO / "local_stack" / "teams.toml").read_text()
    assert 'slack_webhook_secret = "wildcert/slack/alpha"' in text
    policy.write_text(text.replace('slack_webhook_secret = "wildcert/slack/alpha"',
                                   f'slack_webhook_secret = "{secret}"'))
    monkeypatch.setenv("TEAMS_FILE", str(policy))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def issue_for_alpha(stack: Stack, outcome_events: OutcomeEvents) -> tuple[str, dict, list]:
    label = unique("ns")
    name = f"alpha.{label}"
    since = len(stack.slack_messages())
    result = send(team_event("alpha", {"name": name,
                                        "domains": [f"{label}.alpha.example.com"]}))
    assert result["status"] == "issued", result
    (event,) = outcome_events.about(name)
    return name, event["detail"], slack_posts(stack, since)


def test_a_misnamed_team_secret_is_told_to_the_operators_and_the_team(
        stack: Stack, outcome_events: OutcomeEvents, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    alpha_with_webhook_secret(tmp_path, monkeypatch, "wildcert/slack/alhpa")
    name, detail, posts = issue_for_alpha(stack, outcome_events)
    # Only the operators' channel got the news, and it says alpha's channel was not reached.
    assert [path for path, _ in posts] == [OPERATORS], posts
    said = posts[0][1]
    assert name in said and "wildcert/slack/alhpa" in said and "not reached" in said, said
    notifications = detail["notifications"]
    assert notifications["operators_channel"] == "posted"
    assert notifications["team_channel"].startswith("not reached"), notifications
    assert "wildcert/slack/alhpa" in notifications["team_channel"]


def test_a_dead_team_webhook_is_told_too(
        stack: Stack, outcome_events: OutcomeEvents, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"wildcert/slack/{unique('dead')}"
    client("secretsmanager").create_secret(
        Name=secret, SecretString=f"http://127.0.0.1:{closed_port()}/services/T/B/dead")
    alpha_with_webhook_secret(tmp_path, monkeypatch, secret)
    _, detail, posts = issue_for_alpha(stack, outcome_events)
    assert [path for path, _ in posts] == [OPERATORS], posts
    assert "not reached" in posts[0][1] and "Connection refused" in posts[0][1]
    assert detail["notifications"]["team_channel"].startswith("not reached")
    # Neither the post nor the event gives the webhook URL away.
    assert "services/T/B" not in posts[0][1] + str(detail)


def test_a_team_with_a_working_channel_hears_it_was_posted(
        stack: Stack, outcome_events: OutcomeEvents) -> None:
    _, detail, posts = issue_for_alpha(stack, outcome_events)
    assert len(posts) == 2 and all("not reached" not in text for _, text in posts)
    assert detail["notifications"] == {"team_channel": "posted", "operators_channel": "posted"}


def test_a_mistyped_detail_type_is_answered(
        stack: Stack, outcome_events: OutcomeEvents, caplog: pytest.LogCaptureFixture) -> None:
    label = unique("dt")
    event = team_event("beta", {"name": f"beta.{label}",
                                 "domains": [f"{label}.beta.example.net"]})
    event["detail-type"] = "wildcert.certificate.request"  # as the catch rule delivers it
    with caplog.at_level(logging.INFO, logger="wildcert"):
        result = send(event)
    assert result["status"] == "rejected", result
    assert "wildcert.certificate.request'" in result["message"]
    assert "wildcert.certificate.requested" in result["message"]
    (answer,) = outcome_events.about(f"beta.{label}")
    assert answer["detail-type"] == "wildcert.certificate.rejected"
    assert answer["detail"]["team"] == "beta"
    assert "detail-type" in answer["detail"]["reason"]
    assert any("detail-type" in r.getMessage() for r in caplog.records
               if r.levelno >= logging.WARNING), "no log line says what was wrong"
