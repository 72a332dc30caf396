"""How every outcome of an issuance is told, the same way each time: one log line naming the
requester, Slack (the team's channel and the operators'), and an outcome event on the bus."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from wildcert import container, metrics
from wildcert.adapters import slack
from wildcert.adapters.acm import AcmImports
from wildcert.adapters.bucket.leases import Busy
from wildcert.jobs.issue.ask import Ask
from wildcert.jobs.issue.outcome import Outcome, Refused, StageFailure
from wildcert.jobs.issue.wiring import Services
from wildcert.logic import fleet
from wildcert.logic.cas import Ca
from wildcert.logic.certificates import IssuedSet, StoredCertificate
from wildcert.logic.refusals import RefusalTally
from wildcert.logic.request import CertificateRequest

logger = logging.getLogger(__name__)


class Teller:
    """Tells each kind of outcome; returns it, as told."""

    def __init__(self, services: Services, channels: slack.Channels,
                 tally: RefusalTally | None = None, now: Callable[[], dt.datetime] = (
                     lambda: dt.datetime.now(dt.UTC))):
        self.services = services
        self.channels = channels
        self.tally = tally if tally is not None else container.current().refusals
        self.now = now

    def skipped(self, ask: Ask, request: CertificateRequest, current: StoredCertificate,
                reason: str) -> Outcome:
        outcome = Outcome("skipped", request.name, request.domains, {
            "serial": current.serial, "not_after": current.not_after, "reason": reason,
            **ask.about()})
        return self.tell(ask, outcome, "skipped", None)

    def issued(self, ask: Ask, request: CertificateRequest, meta: StoredCertificate,
               location: str, issued: IssuedSet, *, renewal: bool,
               replaces: str | None, recovered: bool, ca: Ca, fallback: bool,
               acm: AcmImports | None = None) -> Outcome:
        # One word in the answer and the event: a certificate that replaced the one stored
        # under its name is renewed, a first one issued.
        status = "renewed" if renewal else "issued"
        outcome = Outcome(status, request.name, request.domains, {
            "serial": meta.serial, "not_after": meta.not_after, "location": location,
            "files": [f"{request.name}/{f}" for f in issued.files()] + [
                f"{request.name}/cert.json"],
            "renewal": renewal,
            "recovered": recovered,
            "replaces": replaces,
            "ca": request.ca,
            "acme_ca": ca.name,
            "fallback": fallback,
            **({"acm": acm.arns} if acm and acm.arns else {}),
            **({"acm_problems": list(acm.problems)} if acm and acm.problems else {}),
            **ask.about(),
        })
        message = slack.issued(request.name, request.domains, meta.not_after, location,
                               meta.serial, renewal=renewal, team=ask.team_id, ca=ca.name,
                               acm=acm.arns if acm else {},
                               acm_problems=acm.problems if acm else ())
        row = {**fleet.certificate_row(meta, ask.owner),
               "renewal": fleet.state("not due", _now(), "just issued")}
        return self.tell(ask, outcome, status, message, row=row)

    def busy(self, ask: Ask, request: CertificateRequest, busy: Busy) -> Outcome:
        """Another attempt holds the name: not an outcome yet, so no Slack post. The renewal
        queue's message comes back by itself; nothing delivers a team's event again, so the
        team is told with an event (it asks again after `retry_after`)."""
        outcome = Outcome("busy", request.name, request.domains, {
            "reason": str(busy), "retry_after": busy.retry_after, **ask.about()})
        told = "busy" if ask.requester.kind == "eventbridge" else None
        return self.tell(ask, outcome, told, None)

    def rejected(self, ask: Ask, refused: Refused) -> Outcome:
        name, domains = ask.identity()
        outcome = Outcome("rejected", name, tuple(domains), {
            "stage": refused.stage, "problems": refused.problems, "rules": refused.rules,
            "message": "; ".join(refused.problems), **ask.about(),
        })
        message = slack.rejected(name, domains, refused.problems, team=ask.team_id,
                                 requester=str(ask.requester))
        if ask.team is None:
            return self.tell(ask, outcome, "rejected", message)
        # A team's refusal: its own channel hears each, the operators a summary.
        first, held = self.tally.to_operators(ask.team.id, self.now().strftime("%Y-%m-%dT%H"))
        summary = slack.with_summary(message, ask.team.id, held) if first else None
        return self.tell(ask, outcome, "rejected", message, summary=summary)

    def failed(self, ask: Ask, failure: StageFailure) -> Outcome:
        """Told once: a wait the CA asked for is told by the run that met it, not by each run
        that then waits."""
        name, domains = ask.identity()
        outcome = Outcome("failed", name, tuple(domains), {
            "stage": failure.stage, "reason": failure.message, "deferred": failure.deferred,
            "retry_after": failure.retry_after, **ask.about()})
        message = None if failure.told else slack.failed(
            name or "unnamed", domains, failure.stage, failure.message, team=ask.team_id)
        return self.tell(ask, outcome, "failed", message)

    def tell(self, ask: Ask, outcome: Outcome, event: str | None,
             message: slack.Message | None, *,
             summary: slack.Message | bool | None = True,
             row: fleet.Row | None = None) -> Outcome:
        """One log line naming the requester, Slack, the outcome event, its metric and the
        owner's inventory (`row`: the stored certificate, when there is a new one).

        summary: what the operators see instead of `message` for a team's refusal (a Message,
        or None for nothing); True: they see `message` itself.
        """
        details = outcome.details
        said = details.get("stage") or details.get("serial") or details.get("reason") or ""
        logger.info("outcome: %s %s (%s) for %s, team %s", outcome.status, outcome.name,
                    said, ask.requester, ask.team_id or "none (operators)")
        delivery = None
        if message is not None and summary is not True and ask.team_id is not None:
            delivery = self.channels.post_summarised(
                message, ask.team_id, summary if isinstance(summary, slack.Message) else None)
        elif message is not None:
            delivery = self.channels.post(message, ask.team_id)
        if event is not None:
            # The team told hears it on its own bus too: the outcome of its own request, or
            # of its own certificate, never another team's.
            team = self.services.teams.get(ask.team_id)
            self.services.events.put(event, event_detail(event, outcome, ask, delivery),
                                     also_to=team.outcome_bus_arn if team else None)
            self._count(event, ask)
            self._inventory(event, outcome, ask, row)
        return outcome

    def _count(self, event: str, ask: Ask) -> None:
        name = OUTCOME_METRICS.get(event)
        if name:
            metrics.put(self.services.settings.metrics_namespace, name, 1,
                        team=fleet.owner_of(ask.team_id))

    def _inventory(self, event: str, outcome: Outcome, ask: Ask, row: fleet.Row | None) -> None:
        """The outcome in the owner's inventory: a new certificate's whole row, else only the
        last outcome of a certificate listed there. Another team's refused request for a name
        is not the owner's news."""
        if not outcome.name or (ask.team is not None and ask.team.id != ask.owner):
            return
        now = _now()
        details = outcome.details
        change = {**(row or {}), **fleet.outcome(
            event, now, stage=details.get("stage"),
            reason=details.get("message") or details.get("reason"))}
        self.services.fleet.update(fleet.owner_of(ask.owner), {outcome.name: change}, now,
                                   only_known=row is None)


# The per-team counts on the dashboard (CloudWatch metrics, dimension `team`).
OUTCOME_METRICS = {"issued": "Issued", "renewed": "Renewed", "rejected": "Refused",
                   "failed": "Failed"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def event_detail(kind: str, outcome: Outcome, ask: Ask,
                 delivery: slack.Delivery | None = None) -> dict[str, Any]:
    """The outcome event's detail, as docs/TEAMS.md describes it: every key always present."""
    details = outcome.details
    return {
        "status": kind,
        "team": ask.team_id,
        "name": outcome.name,
        "domains": list(outcome.domains),
        "serial": details.get("serial"),
        "not_after": details.get("not_after"),
        "location": details.get("location"),
        "ca": ask.request.ca if ask.request else None,
        "acme_ca": details.get("acme_ca"),
        "fallback": details.get("fallback"),
        "stage": details.get("stage"),
        "reason": details.get("message") or details.get("reason"),
        "rules": list(details.get("rules") or []),
        "retry_after": details.get("retry_after"),
        "requester": ask.requester.as_json(),
        # Whether the team's channel and the operators' heard: a channel that was not
        # reached is said here, so a team's automation sees it too.
        "notifications": delivery.as_json() if delivery else None,
    }
