"""A CA's rate limits as waits: an order that would count against a limit the CA has already
met waits instead of spending another order, and a `rateLimited` answer starts the cooldown
of just what the CA limited (logic.ratelimit), for as long as it said."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from wildcert.adapters.acme import AcmeError
from wildcert.adapters.bucket.certificates import AccountRecord, CertificateStore, StoredCertificate
from wildcert.errors import WildcertError
from wildcert.jobs.issue.outcome import StageFailure
from wildcert.logic import cas, ratelimit
from wildcert.logic.cas import Ca
from wildcert.logic.request import CertificateRequest
from wildcert.logic.times import iso

logger = logging.getLogger(__name__)


def wait_if_held(cooldowns: Sequence[ratelimit.Cooldown], request: CertificateRequest,
                 current: StoredCertificate | None, *, ca: Ca, every_ca: Sequence[Ca],
                 account: AccountRecord, now: dt.datetime) -> None:
    """Deferred (a StageFailure to retry later) when the CA said wait for anything this order
    would count against."""
    same_ca = current is not None and cas.issuer_of(current.extra, every_ca) == ca.name
    renewal = ratelimit.exemption(current, request.domains, now, same_ca=same_ca,
                                  account_url=account.account_url, account_team=account.team)
    held = ratelimit.holding(cooldowns, request.domains, now, account=account.team or "",
                             renewal=renewal)
    if held is not None:
        raise StageFailure(
            "acme",
            f"CA {ca.name} rate-limited {held.scope.describe()} until "
            f"{held.until.isoformat()}; "
            "the request waits instead of spending another order",
            retry_after=(held.until - now).total_seconds(), deferred=True,
        )


def rate_limited(store: CertificateStore, exc: AcmeError, request: CertificateRequest, *,
                 directory: str, team: str | None, now: dt.datetime) -> StageFailure:
    """Make what the CA limited wait: only that (logic.ratelimit), for as long as it said.

    The request is deferred, not failed. Runs that passed the cooldown check just before
    another run met the limit meet it too; only a run that starts the cooldown tells Slack.
    """
    cooldown = ratelimit.cooldown_after(exc.detail, exc.retry_after, request.domains, now,
                                        str(exc), account=team or "")
    scope, wait = cooldown.scope.describe(), (cooldown.until - now).total_seconds()
    logger.warning("rate limit: the CA limited %s until %s", scope, iso(cooldown.until))
    started = True
    try:
        started = store.start_ca_cooldown(directory, cooldown, now)
    except WildcertError as error:
        logger.warning("could not record the CA's rate limit: %s", error)
    return StageFailure(
        "acme", f"{exc}; the request waits for {scope} and is retried automatically",
        retry_after=wait, deferred=True, told=not started)
