"""The issuance pipeline: one request in, one stored certificate (or one clear refusal) out.

Stages, as users see them in Slack and in errors:
    validation  the request itself
    precheck    bucket writable with our key, CAA allows the CA
    dns         challenge records in Route 53 and their propagation
    acme        the CA: account, order, validation, finalization
    storage     writing the certificate set to the bucket
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from wildcert import aws, slack
from wildcert.acme_client import AcmeError, AcmeSession, DnsChallenge, new_account_key_pem
from wildcert.certs import CertificateError, IssuedSet, generate_key, make_csr, verify_set
from wildcert.deadline import Deadline
from wildcert.dns_checks import caa_preflight, wait_for_txt
from wildcert.renewal import Lifetime, is_due
from wildcert.request import CertificateRequest, RequestRejected, parse_request
from wildcert.route53 import ChallengeRecord, ChallengeRecords, HostedZone, Route53Error
from wildcert.settings import Settings
from wildcert.store import AccountRecord, CertificateStore, StorageError, StoredCertificate
from wildcert.zones import zone_for

logger = logging.getLogger("wildcert.issuer")
CLEANUP_SECONDS = 15.0


class StageFailure(Exception):
    """A failure after bounded retries, tagged with the stage it happened in."""

    def __init__(self, stage: str, message: str, *, retry_after: float | None = None):
        super().__init__(f"[{stage}] {message}")
        self.stage = stage
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outcome:
    status: str  # issued | skipped | rejected
    name: str | None
    domains: tuple[str, ...]
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "name": self.name, "domains": list(self.domains),
                **self.details}


EXPECTED_ERRORS = (AcmeError, Route53Error, StorageError, CertificateError, ClientError,
                   BotoCoreError, TimeoutError)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    try:
        yield
    except StageFailure:
        raise
    except EXPECTED_ERRORS as exc:
        message = aws.error_text(exc) if isinstance(exc, ClientError | BotoCoreError) else str(exc)
        raise StageFailure(name, message, retry_after=getattr(exc, "retry_after", None)) from exc


@dataclass
class Services:
    """The outside systems, built lazily so a rejected request touches none of them."""

    settings: Settings
    deadline: Deadline
    client_factory: Callable[[str], Any] = aws.client
    _zones: list[HostedZone] | None = None

    @property
    def route53(self) -> ChallengeRecords:
        return self.route53_within(self.deadline)

    def route53_within(self, deadline: Deadline) -> ChallengeRecords:
        return ChallengeRecords(
            self.client_factory("route53"), deadline=deadline, ttl=self.settings.record_ttl
        )

    @property
    def store(self) -> CertificateStore:
        return CertificateStore(
            self.client_factory("s3"), self.settings.bucket, self.settings.kms_key_id
        )

    def zones(self) -> list[HostedZone]:
        if self._zones is None:
            self._zones = _zone_cache(self.settings.allowed_zone_ids, self.route53)
        return self._zones


_ZONE_CACHE: dict[tuple[str, ...], list[HostedZone]] = {}


def _zone_cache(ids: tuple[str, ...], route53: ChallengeRecords) -> list[HostedZone]:
    # Zone names change never in practice; one ListHostedZones per container is plenty
    # under Route 53's account-wide five requests per second.
    if ids not in _ZONE_CACHE:
        _ZONE_CACHE[ids] = route53.allowed_zones(ids)
    return _ZONE_CACHE[ids]


class Issuer:
    def __init__(self, services: Services, notifier: slack.SlackNotifier,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)):
        self.services = services
        self.settings = services.settings
        self.deadline = services.deadline
        self.notifier = notifier
        self.now = now

    # -- entry point --------------------------------------------------------------------------
    def handle(self, raw: object) -> Outcome:
        with stage("precheck"):
            zones = self.services.zones()
        try:
            request = parse_request(raw, [z.name for z in zones])
        except RequestRejected as rejected:
            return self._reject(raw, rejected.problems, stage_name="validation")
        try:
            return self.issue(request, zones)
        except StageFailure as failure:
            self.notifier.post(
                slack.failed(request.name, request.domains, failure.stage, failure.message)
            )
            raise

    # -- the pipeline -------------------------------------------------------------------------
    def issue(self, request: CertificateRequest, zones: Sequence[HostedZone]) -> Outcome:
        store = self.services.store
        with stage("precheck"):
            store.probe()
            current = store.current(request.name)
        if current is not None and not request.force and self._still_good(current, request):
            logger.info("skipped %s: current until renewal", request.name)
            return Outcome("skipped", request.name, request.domains, {
                "serial": current.serial, "not_after": current.not_after,
                "reason": "the stored certificate covers these domains and is not due",
            })
        with stage("precheck"):
            problems = caa_preflight(
                request.domains,
                resolver_address=self.settings.dns_server_override,
                identities=self.settings.caa_identities,
                deadline=self.deadline,
            )
        if problems:
            return self._reject(
                {"name": request.name, "domains": list(request.domains)}, problems,
                stage_name="precheck",
            )
        with stage("acme"):
            session = self._session(store)
            session.check_profile(self.settings.acme_profile)
            order = session.new_order(request.domains, profile=self.settings.acme_profile)
        key = generate_key(request.key_type)
        fullchain = self._validate_and_finalize(session, order.challenges, zones,
                                                lambda: session.finalize(order, make_csr(
                                                    key, request.domains)))
        with stage("acme"):
            issued = IssuedSet.from_fullchain(key, fullchain)
            verify_set(issued, request.domains)
        meta = StoredCertificate.describe(request.name, issued, self.now())
        with stage("storage"):
            location = store.save(meta, issued)
        renewal = current is not None
        self.notifier.post(slack.issued(
            request.name, request.domains, meta.not_after, location, meta.serial, renewal=renewal
        ))
        logger.info("issued %s serial %s until %s", request.name, meta.serial, meta.not_after)
        return Outcome("issued", request.name, request.domains, {
            "serial": meta.serial, "not_after": meta.not_after, "location": location,
            "files": [f"{request.name}/{f}" for f in issued.files()] + [
                f"{request.name}/cert.json"],
            "renewal": renewal,
        })

    def _still_good(self, current: StoredCertificate, request: CertificateRequest) -> bool:
        if sorted(current.domains) != sorted(request.domains):
            return False
        if current.key_type != request.key_type:
            return False
        lifetime = Lifetime(current.not_before_time, current.not_after_time)
        return not is_due(lifetime, self.now(),
                          remaining_fraction=self.settings.renew_at_remaining_fraction)

    def _validate_and_finalize(
        self, session: AcmeSession, pending: tuple[DnsChallenge, ...],
        zones: Sequence[HostedZone], finalize: Callable[[], str],
    ) -> str:
        records = self._records(pending, zones)
        route53 = self.services.route53
        try:
            if records:
                with stage("dns"):
                    route53.add(records)
                    self._wait_for_propagation(route53, records)
                with stage("acme"):
                    session.answer(pending)
                    session.wait_for_authorizations(pending)
            with stage("acme"):
                return finalize()
        finally:
            if records:
                # Its own budget: cleanup must run even when the order used up the deadline,
                # and the deadline's reserve is there for exactly this.
                self._cleanup(self.services.route53_within(Deadline.after(CLEANUP_SECONDS)),
                              records)

    def _records(self, pending: Sequence[DnsChallenge],
                 zones: Sequence[HostedZone]) -> list[ChallengeRecord]:
        by_name = {z.name: z for z in zones}
        records = []
        for item in pending:
            zone_name = zone_for(item.identifier, by_name)
            if zone_name is None:  # validation already checked; the CA changed identifiers
                raise StageFailure("acme", f"the CA asked to validate {item.identifier}, "
                                   "which no allowed zone covers")
            records.append(ChallengeRecord(by_name[zone_name], item.record_name, item.value))
        return records

    def _wait_for_propagation(self, route53: ChallengeRecords,
                              records: Sequence[ChallengeRecord]) -> None:
        expected: dict[str, set[str]] = {}
        for record in records:
            expected.setdefault(record.name, set()).add(record.value)
        override = self.settings.dns_server_override
        if override:
            servers: Any = override
        else:
            by_zone = {r.zone: route53.name_servers(r.zone) for r in records}
            servers = {r.name: by_zone[r.zone] for r in records}
        wait_for_txt(expected, servers, deadline=self.deadline,
                     timeout=self.settings.propagation_timeout_seconds)

    def _cleanup(self, route53: ChallengeRecords, records: Sequence[ChallengeRecord]) -> None:
        # Cleanup gets its own short budget: it must run even when the order ran out of time.
        try:
            route53.remove(records)
        except Exception as exc:
            logger.error("could not remove challenge records %s: %s",
                         sorted({r.name for r in records}), exc)
            self.notifier.post(slack.failed(
                "cleanup", [r.name for r in records], "dns",
                f"could not remove the _acme-challenge TXT values this order added: {exc}. "
                "They are harmless but should be deleted; the next run retries.",
            ))

    def _session(self, store: CertificateStore) -> AcmeSession:
        directory = self.settings.directory_url
        record = store.load_account(directory) or store.create_account(
            AccountRecord(directory, new_account_key_pem().decode())
        )
        session = AcmeSession(directory, record.key_pem.encode(), deadline=self.deadline,
                              ca_bundle=self.settings.acme_ca_bundle)
        if record.account_url:
            session.use_account(record.account_url)
        else:
            url = session.register(self.settings.contact_email)
            store.update_account(dataclasses.replace(record, account_url=url))
        return session

    # -- refusals -----------------------------------------------------------------------------
    def _reject(self, raw: object, problems: Sequence[str], *, stage_name: str) -> Outcome:
        name, domains = _best_effort_identity(raw)
        self.notifier.post(slack.rejected(name, domains, problems))
        logger.info("rejected request at %s: %d problem(s)", stage_name, len(problems))
        return Outcome("rejected", name, tuple(domains), {
            "stage": stage_name, "problems": list(problems),
            "message": "; ".join(problems),
        })


def _best_effort_identity(raw: object) -> tuple[str | None, list[str]]:
    """What to call a rejected request in messages, without trusting any of it."""
    if not isinstance(raw, dict):
        return None, []
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    domains = raw.get("domains")
    shown = [d for d in domains[:20] if isinstance(d, str)] if isinstance(domains, list) else []
    return (name[:128] if name else None), [d[:253] for d in shown]
