"""Outcome events: what is put on the bus, and that no failure of the bus ever escapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from wildcert.adapters.events import ATTEMPTS, DETAIL_KEYS, OutcomeEvents

DETAIL = {"team": "alpha", "name": "alpha.web", "domains": ["web.alpha.example.com"],
          "serial": "ab", "stage": None}


class FakeEvents:
    """Answers PutEvents from a script: an answer, or an exception to raise."""

    def __init__(self, *answers: dict[str, Any] | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def put_events(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        answer = self.answers.pop(0) if self.answers else {"FailedEntryCount": 0}
        if isinstance(answer, Exception):
            raise answer
        return answer


def events(fake: FakeEvents, bus: str | None = "wildcert-requests") -> OutcomeEvents:
    return OutcomeEvents(lambda: fake, bus, sleep=lambda seconds: None)


def test_an_outcome_is_one_event_with_source_wildcert() -> None:
    fake = FakeEvents()
    assert events(fake).put("issued", DETAIL) is True
    (call,) = fake.calls
    (entry,) = call["Entries"]
    assert entry["Source"] == "wildcert"
    assert entry["DetailType"] == "wildcert.certificate.issued"
    assert entry["EventBusName"] == "wildcert-requests"
    assert json.loads(entry["Detail"]) == DETAIL


def test_failures_are_retried_briefly_then_logged_never_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}},
                            "PutEvents")
    failed_entry = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure",
                                                        "ErrorMessage": "try again"}]}
    fake = FakeEvents(throttled, failed_entry, {"FailedEntryCount": 0})
    assert events(fake).put("rejected", DETAIL) is True
    assert len(fake.calls) == 3

    down = FakeEvents(*[EndpointConnectionError(endpoint_url="https://events")] * ATTEMPTS)
    assert events(down).put("failed", DETAIL) is False
    assert len(down.calls) == ATTEMPTS
    assert "could not put the failed event for alpha.web" in caplog.text


def test_without_a_bus_nothing_is_sent() -> None:
    fake = FakeEvents()
    assert events(fake, bus=None).put("skipped", DETAIL) is False
    assert fake.calls == []


def test_an_unknown_kind_is_a_bug() -> None:
    with pytest.raises(ValueError):
        events(FakeEvents()).put("deferred", DETAIL)


def test_a_huge_detail_is_cut_to_what_matters() -> None:
    fake = FakeEvents()
    events(fake).put("rejected", {**DETAIL, "reason": "x" * 300_000})
    sent = json.loads(fake.calls[0]["Entries"][0]["Detail"])
    assert sent["name"] == "alpha.web" and "too large" in sent["reason"]


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parents[2].glob(
    "events/outcomes/*.json")), ids=lambda p: p.name)
def test_the_sample_outcome_events_have_the_documented_detail(path: Path) -> None:
    event = json.loads(path.read_text())
    assert event["source"] == "wildcert"
    assert event["detail-type"] == "wildcert.certificate." + event["detail"]["status"]
    assert tuple(event["detail"]) == DETAIL_KEYS


def test_the_issuer_sends_the_documented_detail() -> None:
    from wildcert.jobs.issue.ask import Ask
    from wildcert.jobs.issue.outcome import Outcome
    from wildcert.jobs.issue.telling import event_detail
    from wildcert.logic.request import Requester

    ask = Ask({"domains": ["a.example.com"]}, Requester("queue", event_id="m-1"), "m-1",
              owner="alpha")
    outcome = Outcome("skipped", "alpha.a", ("a.example.com",),
                      {"serial": "ab", "not_after": "2027", "reason": "not due"})
    detail = event_detail("skipped", outcome, ask)
    assert tuple(detail) == DETAIL_KEYS
    assert detail["team"] == "alpha" and detail["reason"] == "not due"
    assert detail["requester"] == {"kind": "queue", "event_id": "m-1"}


@pytest.mark.parametrize("renewal", [False, True])
def test_the_answer_and_the_event_use_one_word(renewal: bool) -> None:
    """A certificate that replaced the one stored under its name is `renewed` in the handler's
    answer as in the outcome event; a new one is `issued` in both."""
    from types import SimpleNamespace

    from wildcert.jobs.issue.ask import Ask
    from wildcert.jobs.issue.telling import Teller
    from wildcert.logic.request import Requester

    sent: list[tuple[str, dict[str, Any]]] = []
    from wildcert.logic.teams import NO_TEAMS

    listed: list[dict[str, Any]] = []
    services = SimpleNamespace(
        events=SimpleNamespace(put=lambda kind, d, also_to=None: sent.append((kind, d))),
        teams=NO_TEAMS,
        settings=SimpleNamespace(metrics_namespace="wildcert"),
        fleet=SimpleNamespace(update=lambda owner, rows, now, **kw: listed.append(rows)))
    channels = SimpleNamespace(post=lambda message, team: None)
    ask = Ask({"domains": ["a.example.com"]}, Requester("direct"), None)
    request = SimpleNamespace(name="a", domains=("a.example.com",), ca="production")
    meta = SimpleNamespace(name="a", domains=("a.example.com",), serial="ab", issuer="CA",
                           not_after="2031-01-01T00:00:00Z", extra={})
    issued = SimpleNamespace(files=lambda: ("cert.pem",))
    outcome = Teller(services, channels).issued(  # type: ignore[arg-type]
        ask, request, meta, "s3://b/a/", issued, renewal=renewal, replaces=None,
        recovered=False, ca=SimpleNamespace(name="letsencrypt"), fallback=False)
    ((kind, detail),) = sent
    assert outcome.as_dict()["status"] == kind == detail["status"]
    assert kind == ("renewed" if renewal else "issued")
    ((row,),) = [list(rows.values()) for rows in listed]  # and the owner's inventory says so
    assert row["last_outcome"]["status"] == kind and row["serial"] == "ab"
