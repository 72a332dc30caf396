"""`Issuer.issue`, branch by branch, with every outside system faked in-process
(tests/unit/fake_services.py): issued, renewed, skipped, refused at each stage, busy, a dead
attempt's journal recovered, and a failure after the order. The same flow runs end to end
against the local stack in tests/e2e."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from tests.unit.fake_services import ZONE, FakeServices, RecordedSlack
from wildcert import container
from wildcert.adapters.acme import OrderState, OrderStatus
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.adapters.bucket.leases import InFlight, Journal
from wildcert.jobs.issue.ask import Ask
from wildcert.jobs.issue.outcome import StageFailure
from wildcert.jobs.issue.pipeline import Issuer
from wildcert.logic.certificates import generate_key, key_pem, make_csr
from wildcert.logic.request import CertificateRequest, Requester
from wildcert.logic.teams import parse_teams
from wildcert.logic.times import iso

NOW = dt.datetime.now(dt.UTC)  # the fake CA's certificates start now
DOMAINS = ["*.web.example.com", "web.example.com"]
TEAMS = """
[teams.alpha]
sources = ["wildcert.team.alpha"]
accounts = ["123456789012"]
suffixes = ["alpha.example.com"]
"""
ALPHA = Requester("eventbridge", "123456789012", "wildcert.team.alpha", event_id="e-1")


def issuer(services: FakeServices, slack: RecordedSlack | None = None, *,
           now: dt.datetime = NOW) -> Issuer:
    return Issuer(services, slack or RecordedSlack(), now=lambda: now)


def request(name: str = "web", **fields: Any) -> dict[str, Any]:
    return {"name": name, "domains": DOMAINS, **fields}


def kinds(services: FakeServices) -> list[str]:
    return [kind for kind, _ in services.recorded_events.sent]


def inflight(services: FakeServices) -> list[str]:
    return services.memory.keys("_wildcert/inflight/")


def test_a_new_certificate_is_issued_stored_and_told() -> None:
    services, slack = FakeServices(), RecordedSlack()
    outcome = issuer(services, slack).handle(request())
    assert outcome.status == "issued" and outcome.details["renewal"] is False
    stored = CertificateStore(services.memory).current("web")
    assert stored is not None and sorted(stored.domains) == sorted(DOMAINS)
    assert stored.serial == outcome.details["serial"]
    # The value was in Route 53 when the flow waited for it, and is gone after.
    assert services.published_when_waited == [
        {"_acme-challenge.web.example.com": {services.records.changes[0][2]}}]
    assert services.records.held == {"_acme-challenge.web.example.com": set()}
    assert [c[0] for c in services.records.changes] == ["UPSERT", "DELETE"]
    assert inflight(services) == []  # lease and journal released
    assert kinds(services) == ["issued"] and len(slack.posted) == 1 and "web" in slack.posted[0]


def test_a_certificate_that_is_not_due_is_skipped_without_an_order() -> None:
    services = FakeServices()
    issuer(services).handle(request())
    outcome = issuer(services).handle(request())
    assert outcome.status == "skipped"
    assert outcome.details["reason"] == "the stored certificate covers these domains and is not due"
    assert len(services.ca.orders) == 1 and kinds(services) == ["issued", "skipped"]


def test_a_forced_request_renews_the_stored_certificate() -> None:
    services = FakeServices()
    first = issuer(services).handle(request())
    again = issuer(services).handle(request(force=True))
    assert again.status == "renewed" and again.details["renewal"] is True
    assert again.details["serial"] != first.details["serial"]
    assert len(services.ca.orders) == 2 and kinds(services) == ["issued", "renewed"]
    stored = CertificateStore(services.memory).current("web")
    assert stored is not None and stored.serial == again.details["serial"]


def test_the_stored_record_says_who_ordered_where_and_keeps_the_endpoints() -> None:
    services = FakeServices()
    issuer(services).handle(request(endpoints=["web.example.com:443"]), request_id="r-1")
    issuer(services).handle(request(force=True), request_id="r-2")
    stored = CertificateStore(services.memory).current("web")
    assert stored is not None
    extra = stored.extra
    assert extra["endpoints"] == ["web.example.com:443"]  # given once, kept by the renewal
    assert extra["request_id"] == "r-2" and extra["requester"]["kind"] == "direct"
    assert (extra["acme_ca"], extra["acme_directory"]) == (
        services.settings.cas[0].name, services.settings.cas[0].directory_url)
    assert extra["acme_account"] and "team" not in extra and "ca" not in extra
    assert Ask(request(), request=CertificateRequest(name="web", domains=tuple(DOMAINS))
               ).recorded(dataclasses.replace(stored, extra={**extra, "revoked": ["1a"]})
                          )["revoked"] == ["1a"]  # pullers must never install those


@pytest.mark.parametrize(("raw", "requester", "stage", "rule"), [
    ({"name": "web", "domains": ["*.web.example.org"]}, None, "validation", None),
    (request(), Requester("eventbridge", "123456789012", "wildcert.team.nobody"), "policy",
     "unknown-source"),
    ({"domains": ["x.web.example.com"]}, ALPHA, "policy", "suffix-not-allowed"),
])
def test_a_refused_request_creates_nothing(raw: dict[str, Any], requester: Requester | None,
                                           stage: str, rule: str | None) -> None:
    services, slack = FakeServices(teams=parse_teams(TEAMS)), RecordedSlack()
    outcome = issuer(services, slack).handle(raw, requester=requester or Requester("direct"))
    assert outcome.status == "rejected" and outcome.details["stage"] == stage
    assert outcome.details["rules"] == ([rule] if rule else [])
    assert services.memory.objects == {} and services.ca.orders == []
    assert services.records.changes == []
    assert services.delegation_lookups == []  # a refused request asks no name server
    assert kinds(services) == ["rejected"] and len(slack.posted) == 1


def test_caa_refuses_before_any_order_or_lease() -> None:
    services = FakeServices()
    services.caa = ["CAA at web.example.com allows only another CA"]
    outcome = issuer(services).handle(request())
    assert outcome.status == "rejected" and outcome.details["stage"] == "precheck"
    assert outcome.details["problems"] == services.caa
    assert services.ca.orders == [] and inflight(services) == []


def test_a_team_over_its_certificate_cap_is_refused_by_admission() -> None:
    services = FakeServices(teams=parse_teams(TEAMS + "max_certificates = 1\n"))
    alpha = {"domains": ["a.alpha.example.com"]}
    first = issuer(services).handle(alpha, requester=ALPHA)
    assert first.status == "issued" and (first.name or "").startswith("alpha.")
    second = issuer(services).handle({"domains": ["b.alpha.example.com"]},
                                     requester=Requester("eventbridge", "123456789012",
                                                         "wildcert.team.alpha", event_id="e-2"))
    assert second.status == "rejected" and second.details["rules"] == ["certificate-cap-reached"]
    assert len(services.ca.orders) == 1


def test_a_name_another_attempt_holds_is_busy_and_told_to_nobody() -> None:
    services, slack = FakeServices(), RecordedSlack()
    live = Journal("web", "attempt-other", iso(NOW + dt.timedelta(minutes=5)))
    InFlight(services.memory).acquire(live, NOW)
    outcome = issuer(services, slack).handle(request())
    assert outcome.status == "busy" and outcome.details["retry_after"] == 300.0
    assert services.ca.orders == [] and slack.posted == [] and kinds(services) == []


def test_a_dead_attempts_order_is_finished_not_ordered_again() -> None:
    services = FakeServices()
    key = generate_key("ec256")
    order_url = f"{services.ca.directory_url}/order/dead"
    certificate_url = f"{order_url}/cert"
    services.ca.issued[certificate_url] = services.ca.sign(make_csr(key, tuple(DOMAINS)))
    services.ca.states[order_url] = OrderState(order_url, OrderStatus.VALID,
                                               f"{order_url}/finalize", certificate_url, None)
    left = ("_acme-challenge.web.example.com", "left-by-the-dead-attempt")
    services.records.held[left[0]] = {left[1]}
    dead = Journal("web", "attempt-dead", iso(NOW - dt.timedelta(minutes=1)),
                   domains=tuple(DOMAINS), key_type="ec256", order_url=order_url,
                   key_pem=key_pem(key).decode(), records=((ZONE.id, ZONE.name, *left),))
    services.memory.put(InFlight.key("web"), dead.to_json(), content_type="application/json")
    outcome = issuer(services).handle(request())
    assert outcome.status == "issued" and outcome.details["recovered"] is True
    assert services.ca.orders == []  # no second certificate
    assert services.records.held[left[0]] == set()  # its leftover value removed
    assert inflight(services) == []


def test_a_failure_after_the_order_is_told_and_lets_the_name_go() -> None:
    services, slack = FakeServices(), RecordedSlack()

    services.ca.refuse_finalize = "badCSR"
    with pytest.raises(StageFailure) as failed:
        issuer(services, slack).handle(request())
    assert failed.value.stage == "acme" and "badCSR" in failed.value.message
    assert failed.value.outcome is not None and failed.value.outcome["status"] == "failed"
    assert kinds(services) == ["failed"] and len(slack.posted) == 1
    assert "web at stage acme" in slack.posted[0]
    assert services.records.held == {"_acme-challenge.web.example.com": set()}
    assert inflight(services) == []  # lease and journal released: nothing to finish


def test_a_certificate_the_bucket_would_not_take_stays_journaled_for_the_retry() -> None:
    services = FakeServices()
    services.memory.failing["web/"] = "AccessDenied"
    with pytest.raises(StageFailure) as failed:
        issuer(services).handle(request())
    assert failed.value.stage == "storage" and kinds(services) == ["failed"]
    (key,) = inflight(services)
    journal = json.loads(services.memory.objects[key].body)
    assert journal["order_url"] == services.ca.orders[0] and journal["key_pem"]
    # The next attempt, once the bucket takes writes, finishes that order: no second one.
    services.memory.failing.clear()
    services.ca.states[journal["order_url"]] = OrderState(
        journal["order_url"], OrderStatus.VALID, journal["order_url"] + "/finalize",
        journal["order_url"] + "/cert", None)
    outcome = issuer(services, now=NOW + dt.timedelta(hours=1)).handle(request())
    assert outcome.status == "issued" and outcome.details["recovered"] is True
    assert len(services.ca.orders) == 1


def test_a_rate_limited_order_waits_and_the_next_request_does_not_order() -> None:
    services = FakeServices()
    services.ca.refuse = "rateLimited"
    with pytest.raises(StageFailure) as failed:
        issuer(services).handle(request())
    assert failed.value.deferred and failed.value.retry_after == 60.0
    services.ca.refuse = None
    with pytest.raises(StageFailure) as waiting:
        issuer(services).handle(request())
    assert waiting.value.deferred and "waits instead of spending another order" in str(
        waiting.value)
    assert services.ca.orders == []


def test_the_operators_refusal_tally_is_the_containers() -> None:
    """A new container has told the operators nothing yet: the tally of a team's refusals
    starts afresh with it, like every other piece of warm state (wildcert/container.py)."""
    raw = {"domains": ["x.web.example.com"]}
    for _ in range(2):
        container.start_afresh()
        services, slack = FakeServices(teams=parse_teams(TEAMS)), RecordedSlack()
        issuer(services, slack).handle(raw, requester=ALPHA)
        assert len(slack.posted) == 1  # the operators see the new container's first refusal
    container.start_afresh()
