"""Which CAs a request may use, most preferred first, and the walk down that list: the next CA
is tried only when one could not serve (or asked for a wait longer than the request has
left); any other failure ends the request at the CA that met it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from wildcert.adapters.acme import AcmeError
from wildcert.jobs.issue.outcome import Outcome, Refused, StageFailure
from wildcert.logic import cas
from wildcert.logic.cas import Ca
from wildcert.logic.request import CertificateRequest
from wildcert.logic.teams import Team
from wildcert.settings import Settings

logger = logging.getLogger(__name__)


def usable(settings: Settings, team: Team | None, request: CertificateRequest) -> tuple[Ca, ...]:
    """The CAs this request may use, most preferred first (teams.toml may narrow them)."""
    found = cas.usable(settings.cas_for(request.ca), team.acme_cas if team else None)
    if not found:
        assert team is not None  # only a team's list can leave none
        raise Refused("policy", [f"team {team.id} may use none of the deployment's CAs "
                                 f"({', '.join(c.name for c in settings.cas)}); "
                                 "fix acme_cas in teams.toml"])
    return found


def first_that_serves(order_of_preference: Sequence[Ca], attempt: Callable[[Ca], Outcome],
                      remaining: Callable[[], float]) -> Outcome:
    """`attempt` at each CA in turn until one serves; the last CA's failure names the others'."""
    *preferred, last = order_of_preference
    passed: list[str] = []
    for ca in preferred:
        try:
            return attempt(ca)
        except StageFailure as failure:
            if not fails_over(failure, remaining()):
                raise
            logger.warning("failover: CA %s is unavailable (%s); trying the next CA",
                           ca.name, failure.message)
            passed.append(f"{ca.name}: {failure.message}")
    try:
        return attempt(last)
    except StageFailure as failure:
        if passed:
            failure.message += " (CAs tried before it: " + " | ".join(passed) + ")"
        raise


def fails_over(failure: StageFailure, remaining: float) -> bool:
    """The CA could not serve (or asked for a wait longer than the request has left)."""
    cause = failure.__cause__
    unavailable = isinstance(cause, AcmeError) and cause.unavailable
    wait = failure.retry_after if failure.deferred else None
    return cas.fails_over(unavailable=unavailable, wait=wait, remaining=remaining)
