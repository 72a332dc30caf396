"""Who is asking, and a team's admission: its policy (names, hosts, key types, CA) and, for a
request that would be ordered, its caps, with the place a new name reserves under the cap
given back when the request ends; and the operators' renewal of a team's certificate held to
the policy as it is now."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from wildcert.adapters.bucket.certificates import StoredCertificate
from wildcert.jobs.issue.ask import Ask, owner_of
from wildcert.jobs.issue.outcome import Refused, stage
from wildcert.jobs.issue.wiring import Services
from wildcert.logic import teams
from wildcert.logic.renewal import early_reissue
from wildcert.logic.request import CertificateRequest
from wildcert.logic.teams import Refusal, Team
from wildcert.logic.times import iso

logger = logging.getLogger(__name__)
# A new name's place under the team's cap outlives the attempt's deadline by this much.
RESERVATION_MARGIN_SECONDS = 60.0

_NOT_A_TEAM = {"direct": "the operators", "queue": "for the certificate's owner",
               "eventbridge": "no team"}


def identify(services: Services, ask: Ask) -> Team | None:
    """The team the envelope says is asking; an event from no team is refused."""
    found = teams.identify(services.teams, ask.requester)
    if isinstance(found, Refusal):
        raise Refused("policy", [found])
    ask.team = found
    logger.info("requester: %s (%s)", ask.requester,
                f"team {found.id}" if found else _NOT_A_TEAM.get(ask.requester.kind, ""))
    return found


def admit(services: Services, ask: Ask, request: CertificateRequest,
          current: StoredCertificate | None, now: Callable[[], dt.datetime], *,
          orders: bool) -> str | None:
    """A team asks only for its own names and hosts, key types and CA, and within its caps
    (counted only for a request that would be ordered): else refused. The new name it
    reserved, if any, for `release` once the request ends."""
    team = ask.team
    if team is None:
        still_fits(services, ask, request, current, orders=orders)
        return None
    at = now()
    asking = teams.Asking(
        team, request, stored=current is not None, owner=owner_of(current), orders=orders,
        early=orders and current is not None and early_reissue(
            current, at, remaining_fraction=services.settings.renew_at_remaining_fraction),
        day=at.date().isoformat(), request_id=ask.request_id,
        hold_until=iso(at + dt.timedelta(
            seconds=services.deadline.remaining() + RESERVATION_MARGIN_SECONDS)))
    with stage("precheck"):
        admission = teams.admit(asking, services.ledger)
    if not admission.admitted:
        raise Refused("policy", admission.refusals)
    counted = (f"; owns {admission.owned} of {team.max_certificates}"
               if admission.owned is not None else
               f"; forced reissue {admission.forced} of {team.max_forced_per_day} today"
               if admission.forced is not None else "")
    logger.info("admit: team %s may ask for %s%s", team.id, request.name, counted)
    return admission.reserved


def still_fits(services: Services, ask: Ask, request: CertificateRequest,
               current: StoredCertificate | None, *, orders: bool) -> None:
    """A renewal from the queue of a team's certificate is held to the team's policy as
    it is now: one that no longer fits is refused, saying what changed. The operators'
    own renewals (direct invokes, their certificates) go on."""
    owner = services.teams.get(ask.owner)
    if ask.requester.kind != "queue" or owner is None or not orders:
        return
    endpoints = request.endpoints or tuple((current.extra if current else {}).get(
        "endpoints", ()))
    broken = teams.host_refusals(owner, request.domains, request.key_type, endpoints)
    if broken:
        raise Refused("policy", [teams.policy_changed(owner, request.name, broken)])


def release(services: Services, ask: Ask, name: str) -> None:
    """Give back the new name's place under the cap; never raises (it lapses anyway)."""
    if ask.team is None:
        return
    try:
        services.ledger.release(ask.team.id, name)
    except Exception as exc:
        logger.warning("could not release team %s's reservation of %s (it lapses by "
                       "itself): %s", ask.team.id, name, exc)
