"""The issuance's composition root: the outside systems an issuance talks to, built from the
settings and one client factory, each only when a step first needs it (a rejected request
touches none of them)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wildcert import container
from wildcert.adapters import aws
from wildcert.adapters.acme import AcmeSession
from wildcert.adapters.bucket.certificates import AccountRecord, CertificateStore
from wildcert.adapters.bucket.fleet import FleetInventory
from wildcert.adapters.bucket.leases import InFlight
from wildcert.adapters.bucket.objects import Bucket
from wildcert.adapters.bucket.teams import TeamLedger
from wildcert.adapters.dns import caa_preflight, challenge_delegations, wait_for_txt
from wildcert.adapters.events import OutcomeEvents
from wildcert.adapters.kms_key import account_jwk
from wildcert.adapters.route53 import (
    ApiQuota,
    ChallengeRecord,
    ChallengeRecords,
    ChallengeSite,
    HostedZone,
)
from wildcert.deadline import Deadline
from wildcert.logic.teams import NO_TEAMS, Teams
from wildcert.logic.zones import ZoneAccess
from wildcert.settings import Settings

ACM_ROLE_HINT = ("Check that the team deployed deploy/acm-import-role.yaml in that account with "
                 "this issuer's role ARN and the team's external id, that the role name starts "
                 "with wildcert-acm-import, and that the stack's AcmImportAccountIds lists the "
                 "account.")


@dataclass
class Services:
    """The outside systems, built lazily so a rejected request touches none of them."""

    settings: Settings
    deadline: Deadline
    client_factory: Callable[[str], Any] = aws.client
    teams: Teams = NO_TEAMS
    assume: Callable[..., Any] = aws.assumed_client
    regional_client_factory: Callable[[str, str], Any] = aws.regional_client
    # The STS session name a zone in another account sees: the certificate's team and the
    # request (Issuer._whose sets it for each request).
    zone_session: str = "wildcert-operators.direct"

    def route53_within(self, deadline: Deadline) -> ChallengeRecords:
        quota = ApiQuota(self.settings.route53_requests_per_second,
                         self.settings.route53_request_burst)
        return ChallengeRecords(
            self.client_factory("route53"), deadline=deadline, ttl=self.settings.record_ttl,
            quota=quota, clients=self._zone_client,
        )

    def _zone_client(self, access: ZoneAccess) -> Any:
        return self.assume("route53", access.role_arn, access.external_id, self.zone_session)

    def acm(self, region: str) -> Any:
        """An ACM client in `region` (imports are regional)."""
        return self.regional_client_factory("acm", region)

    def acm_through(self, access: ZoneAccess | None, session: str) -> Callable[[str], Any]:
        """ACM clients by region: in the issuer's account (None), or as a team's role in its
        own account (deploy/acm-import-role.yaml) with `session` (the team and request)."""
        if access is None:
            return self.acm
        return lambda region: self.assume(
            "acm", access.role_arn, access.external_id, session, region=region,
            hint=ACM_ROLE_HINT)

    @property
    def route53(self) -> ChallengeRecords:
        return self.route53_within(self.deadline)

    @property
    def bucket(self) -> Bucket:
        return Bucket(self.client_factory("s3"), self.settings.bucket, self.settings.kms_key_id)

    @property
    def store(self) -> CertificateStore:
        days = self.settings.archived_key_retention_days
        return CertificateStore(self.bucket, None if days is None else dt.timedelta(days=days))

    @property
    def leases(self) -> InFlight:
        return InFlight(self.bucket)

    @property
    def fleet(self) -> FleetInventory:
        return FleetInventory(self.bucket)

    @property
    def ledger(self) -> TeamLedger:
        return TeamLedger(self.bucket)

    @property
    def events(self) -> OutcomeEvents:
        return OutcomeEvents(lambda: self.client_factory("events"), self.settings.event_bus_name)

    def acme_session(self, account: AccountRecord) -> AcmeSession:
        """A session with the CA of `account`, signed with its key: the stored PEM, or the
        KMS key that holds it (kms:Sign for every JWS)."""
        key: bytes | Any = account.key_pem.encode()
        if account.kms_key_id:
            key = account_jwk(self.client_factory("kms"), account.kms_key_id)
        return AcmeSession(account.directory_url, key, deadline=self.deadline,
                           ca_bundle=self.settings.acme_ca_bundle)

    def caa_problems(self, domains: Sequence[str], identities: Sequence[str],
                     account_uri: str | None) -> list[str]:
        """Why CAA would stop the CA known by `identities` issuing for `domains` (none: it
        may)."""
        return caa_preflight(domains, resolver_address=self.settings.dns_server_override,
                             identities=identities, account_uri=account_uri,
                             deadline=self.deadline)

    def wait_until_published(self, records: Sequence[ChallengeRecord]) -> None:
        """Until every authoritative name server of each record's zone (or the one DNS server
        the settings name) shows its values."""
        expected: dict[str, set[str]] = {}
        for record in records:
            expected.setdefault(record.name, set()).add(record.value)
        wait_for_txt(expected, self.name_servers({r.name: r.zone for r in records}),
                     deadline=self.deadline, timeout=self.settings.propagation_timeout_seconds)

    def challenge_delegations(self, sites: Sequence[ChallengeSite]) -> dict[str, str]:
        """The `_acme-challenge` records that are CNAMEs on their zones' name servers, and
        where each points."""
        return challenge_delegations([s.name for s in sites], self.name_servers(
            {s.name: s.zone for s in sites}), deadline=self.deadline)

    def name_servers(self, zones: Mapping[str, HostedZone]) -> Mapping[str, Sequence[str]] | str:
        """Each record's zone's name servers, or the DNS server override for all."""
        if self.settings.dns_server_override:
            return self.settings.dns_server_override
        route53 = self.route53
        by_zone = {zone: route53.name_servers(zone) for zone in set(zones.values())}
        return {name: by_zone[zone] for name, zone in zones.items()}

    def zones(self) -> list[HostedZone]:
        """The public zones requests may use."""
        return [z for z in self.listed_zones() if not z.private]

    def listed_zones(self) -> list[HostedZone]:
        """Every zone the settings name, private ones marked (never written)."""
        ids = self.settings.allowed_zone_ids
        # Zone names never change in practice; one ListHostedZones per container is plenty
        # under Route 53's account-wide request limit.
        kept = container.current().zones
        if ids not in kept:
            kept[ids] = self.route53.listed_zones(ids) if ids else []
        return [*kept[ids], *self._other_account_zones()]

    def _other_account_zones(self) -> list[HostedZone]:
        """The operators' zones in other accounts, then each team's, from their settings."""
        configured = [*self.settings.other_account_zones,
                      *(z for team in self.teams.teams.values() for z in team.zones)]
        return [HostedZone(z.id, z.name, access=z.access, team=z.team) for z in configured]
