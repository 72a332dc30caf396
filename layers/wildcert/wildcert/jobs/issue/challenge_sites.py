"""Where each challenge value of an order is written: the hosted zone of each name (a team's
zone serves only that team's certificates; a private zone is never written), and, where the
`_acme-challenge` record is a CNAME on its zone's name servers, the zone it points into, if the
certificate's team may use that zone."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from wildcert.adapters.acme import Order
from wildcert.adapters.dns import LookupFailed
from wildcert.adapters.route53 import ChallengeRecord, ChallengeSite
from wildcert.jobs.issue.outcome import Refused, StageFailure, stage
from wildcert.jobs.issue.wiring import Services
from wildcert.logic.request import CertificateRequest
from wildcert.logic.zones import HostedZone, foreign_zone_problem, zone_for

logger = logging.getLogger(__name__)


def chosen(request: CertificateRequest, zones: Sequence[HostedZone],
           owner: str | None) -> dict[str, ChallengeSite]:
    """The zone of each name and its `_acme-challenge` record, for a certificate of `owner`
    (a team; None: the operators)."""
    zone_of = _zones_by_identifier(request, zones)
    problems = [problem for name, zone in zone_of.items()
                if (problem := foreign_zone_problem(name, zone.where(), zone.team, owner))]
    if problems:
        raise Refused("policy", problems)
    return {name: ChallengeSite(zone, f"_acme-challenge.{name}")
            for name, zone in zone_of.items()}


def delegated(services: Services, sites: dict[str, ChallengeSite],
              zones: Sequence[HostedZone], owner: str | None) -> dict[str, ChallengeSite]:
    """Where a record that is a CNAME on its zone's name servers points, the values go,
    if that is in a zone the certificate's team may use: else refused, naming both."""
    try:
        with stage("dns"):
            found_cnames = services.challenge_delegations(list(sites.values()))
    except LookupFailed as error:
        raise StageFailure("dns", f"could not tell whether a challenge record is "
                           f"delegated by a CNAME: {error}. Retried later.") from error
    usable = {z.name: z for z in zones if not z.private and z.team in (None, owner)}
    problems = []
    for name, site in list(sites.items()):
        target = found_cnames.get(site.name)
        if target is None:
            continue
        found = zone_for(target, usable)
        if found is None:
            whose = f"team {owner}" if owner else "the operators"
            problems.append(
                f"{site.name} is a CNAME to {target}, which is in no hosted zone {whose} "
                f"may use: the challenge values would have to be written there. Point the "
                f"CNAME into a zone of yours, or remove it to prove {name} in "
                f"{site.zone.where()}.")
            continue
        sites[name] = ChallengeSite(usable[found], target)
        logger.info("delegation: %s is a CNAME to %s; its values go to %s", site.name,
                    target, usable[found].where())
    if problems:
        raise Refused("policy", problems)
    return sites


def records(order: Order, sites: Mapping[str, ChallengeSite]) -> list[ChallengeRecord]:
    """The TXT values the order's challenges ask for, each where its site says."""
    found = []
    for challenge in order.challenges:
        site = sites.get(challenge.identifier)
        if site is None:  # validation already checked; the CA changed identifiers
            raise StageFailure("acme", f"the CA asked to validate {challenge.identifier}, "
                               "which no allowed zone covers")
        # The record the CA reads, or the name its CNAME delegates to.
        found.append(ChallengeRecord(site.zone, site.name, challenge.value))
    return found


def _zones_by_identifier(request: CertificateRequest,
                         zones: Sequence[HostedZone]) -> dict[str, HostedZone]:
    """The zone of each name to prove, chosen once: a wildcard's record lives at its base.
    Only public zones: a private one of the same name is never written."""
    by_name = {z.name: z for z in zones if not z.private}
    private = {z.name: z for z in zones if z.private}
    chosen: dict[str, HostedZone] = {}
    for domain in request.domains:
        zone_name = zone_for(domain, by_name)
        if zone_name is not None:
            zone = chosen[domain.removeprefix("*.")] = by_name[zone_name]
            hidden = zone_for(domain, private)
            if hidden is not None and len(hidden) >= len(zone_name):
                logger.info("zone: %s goes to the public zone %s (%s), not the private zone "
                            "%s (%s)", domain, zone.name, zone.id, hidden, private[hidden].id)
    return chosen
