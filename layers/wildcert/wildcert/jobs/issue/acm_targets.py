"""Where a certificate goes in ACM: the regions a request (or its team) names, checked before
anything is ordered, and the import after issuance that re-imports to the ARNs cert.json keeps."""

from __future__ import annotations

import dataclasses

from wildcert.adapters.acm import AcmImports, import_certificate, same_account
from wildcert.adapters.bucket.certificates import StoredCertificate
from wildcert.jobs.issue.outcome import Refused
from wildcert.jobs.issue.wiring import Services
from wildcert.logic.certificates import IssuedSet
from wildcert.logic.request import CertificateRequest
from wildcert.logic.request.acm import check_acm
from wildcert.logic.request.acm import regions as acm_regions
from wildcert.logic.zones import session_name


def with_team_targets(services: Services, owner: str | None,
                      request: CertificateRequest) -> CertificateRequest:
    """A request that names no ACM targets takes its owning team's (teams.toml `acm`), checked
    against its key type like a request's own, before anything is ordered."""
    team = services.teams.get(owner)
    if request.acm or team is None or not team.acm:
        return request
    problems: list[str] = []
    targets = check_acm(list(team.acm), request.key_type, problems)
    if problems:
        raise Refused("policy", [f"team {team.id}'s {p}" for p in problems])
    return dataclasses.replace(request, acm=targets)


def imported(services: Services, request: CertificateRequest, issued: IssuedSet,
             current: StoredCertificate | None, *, owner: str | None,
             request_id: str | None) -> AcmImports:
    """Import into ACM where the request asks, re-importing to the ARNs cert.json keeps.
    A request that does not say (a renewal from the queue) goes where the last one went:
    into the owning team's account through its role when it names one (only ever the
    certificate's own team's role; the session names that team even for a renewal from the
    queue), else into the issuer's."""
    team = services.teams.get(owner)
    access = team.acm_access if team else None
    stored = dict((current.extra if current else {}).get("acm") or {})
    regions = acm_regions(request.acm) if request.acm else tuple(stored)
    if not regions:
        return AcmImports()
    previous = same_account(stored, access.account if access else None)
    done = import_certificate(regions, request.name, issued, previous=previous,
                              client_for=services.acm_through(
                                  access, session_name(owner, request_id)))
    # A region whose re-import failed keeps the ARN that still holds the old certificate.
    kept = {region: previous[region] for region in regions if region in previous}
    return AcmImports({**kept, **done.arns}, done.problems)
