"""The STS session a zone in another account sees names the team that owns the certificate
(cert.json's `team`), whoever asks: the team itself over EventBridge, the renewal queue (the
sweep, the watch), or the operators forcing a renewal. The issuer assumes a zone's role with
`Services.zone_session` (wiring.py); the fakes keep the zones in-process, so the test reads it
after each request. tests/e2e/test_zones_other_accounts.py assumes a real role on the local
stack."""

from __future__ import annotations

from tests.unit.fake_services import FakeServices, RecordedSlack
from tests.unit.test_issuer import ALPHA, NOW, TEAMS
from wildcert.jobs.issue.pipeline import Issuer
from wildcert.logic.request import Requester
from wildcert.logic.teams import parse_teams
from wildcert.logic.zones import session_name

DOMAINS = ["*.web.alpha.example.com", "web.alpha.example.com"]


def alphas_certificate() -> tuple[FakeServices, Issuer, str]:
    """Team alpha's certificate, issued at its own request: (services, issuer, serial)."""
    services = FakeServices(teams=parse_teams(TEAMS))
    issuer = Issuer(services, RecordedSlack(), now=lambda: NOW)
    first = issuer.handle({"domains": DOMAINS, "name": "alpha.web"}, "e-1", requester=ALPHA)
    assert first.status == "issued" and services.zone_session == session_name("alpha", "e-1")
    return services, issuer, first.details["serial"]


def test_a_queued_renewal_of_a_teams_certificate_names_that_team() -> None:
    services, issuer, serial = alphas_certificate()
    renewal = {"domains": DOMAINS, "name": "alpha.web", "force": True, "renews": serial}
    again = issuer.handle(renewal, "m-1", requester=Requester("queue", event_id="m-1"))
    assert again.status == "renewed", again
    assert services.zone_session == session_name("alpha", "m-1")


def test_the_operators_forced_renewal_of_a_teams_certificate_names_that_team() -> None:
    services, issuer, _ = alphas_certificate()
    again = issuer.handle({"domains": DOMAINS, "name": "alpha.web", "force": True})
    assert again.status == "renewed", again
    assert services.zone_session == session_name("alpha", issuer.holder)


def test_the_operators_certificate_after_a_teams_in_one_batch_names_the_operators() -> None:
    services, issuer, _ = alphas_certificate()
    own = {"domains": ["*.web.example.com", "web.example.com"], "name": "web"}
    outcome = issuer.handle(own, "m-2", requester=Requester("queue", event_id="m-2"))
    assert outcome.status == "issued", outcome
    assert services.zone_session == session_name(None, "m-2")
