"""The issuance pipeline: one request in, one stored certificate (or one clear refusal) out.

`Issuer.issue` is the whole flow, step by step in the order it runs:

    validate → skip? → bucket precheck → CAA → lease → order → publish TXT
    → wait for the name servers → answer → finalize → verify → store → notify

Each step below it is one small method, tagged with the stage a user sees when it fails
(see `wildcert.jobs.issue.outcome`), and logs one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography import x509

from wildcert.adapters import aws, slack
from wildcert.adapters.acme_types import AcmeError, OrderStatus, new_account_key_pem
from wildcert.adapters.bucket.certificates import (
    AccountRecord,
    CertificateStore,
    StorageError,
    StoredCertificate,
)
from wildcert.adapters.bucket.leases import Busy, InFlight, Journal, Lease
from wildcert.adapters.bucket.objects import Bucket
from wildcert.adapters.dns import caa_preflight, wait_for_txt
from wildcert.adapters.route53 import ChallengeRecord, ChallengeRecords, HostedZone
from wildcert.deadline import Deadline
from wildcert.jobs.issue.head_start import HeadStart
from wildcert.jobs.issue.outcome import Outcome, StageFailure, in_stage, stage
from wildcert.logic import ari
from wildcert.logic.certificates import (
    IssuedSet,
    PrivateKey,
    generate_key,
    key_pem,
    load_key,
    make_csr,
    verify_set,
)
from wildcert.logic.renewal import skip_reason
from wildcert.logic.request import CertificateRequest, RequestRejected, parse_request
from wildcert.logic.zones import zone_for
from wildcert.settings import Settings

if TYPE_CHECKING:  # loaded once an order is about to be made (jobs/issue/head_start.py)
    from wildcert.adapters.acme import AcmeSession, Order

__all__ = ["Issuer", "Outcome", "Services", "StageFailure"]

logger = logging.getLogger("wildcert.jobs.issue.pipeline")
CLEANUP_SECONDS = 15.0
# A lease outlives the attempt's own deadline by this much, so a live holder never loses it.
LEASE_MARGIN_SECONDS = 60.0
DEFAULT_RATE_LIMIT_WAIT = 3600.0  # Let's Encrypt always sends Retry-After; this is a fallback


@dataclass
class Services:
    """The outside systems, built lazily so a rejected request touches none of them."""

    settings: Settings
    deadline: Deadline
    client_factory: Callable[[str], Any] = aws.client

    def route53_within(self, deadline: Deadline) -> ChallengeRecords:
        return ChallengeRecords(
            self.client_factory("route53"), deadline=deadline, ttl=self.settings.record_ttl
        )

    @property
    def route53(self) -> ChallengeRecords:
        return self.route53_within(self.deadline)

    @property
    def bucket(self) -> Bucket:
        return Bucket(self.client_factory("s3"), self.settings.bucket, self.settings.kms_key_id)

    @property
    def store(self) -> CertificateStore:
        return CertificateStore(self.bucket)

    @property
    def leases(self) -> InFlight:
        return InFlight(self.bucket)

    def zones(self) -> list[HostedZone]:
        ids = self.settings.allowed_zone_ids
        # Zone names never change in practice; one ListHostedZones per container is plenty
        # under Route 53's account-wide five requests per second.
        if ids not in _ZONES:
            _ZONES[ids] = self.route53.allowed_zones(ids)
        return _ZONES[ids]


_ZONES: dict[tuple[str, ...], list[HostedZone]] = {}


@dataclass
class HeldLease:
    """The name's lease while this attempt holds it, and what a dead predecessor left."""

    lease: Lease
    previous: Journal | None
    # Set once a certificate exists: from then on a failure keeps the order for the retry.
    certificate_exists: bool = False
    recovered: bool = False  # the certificate came from the predecessor's order


class Issuer:
    def __init__(self, services: Services, notifier: slack.SlackNotifier,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 holder: str | None = None):
        self.holder = holder or f"attempt-{uuid.uuid4().hex[:12]}"
        self.services = services
        self.settings = services.settings
        self.deadline = services.deadline
        self.notifier = notifier
        self.now = now

    def handle(self, raw: object, request_id: str | None = None) -> Outcome:
        """Validate `raw` and issue; every failure is reported to Slack once, then raised."""
        request: CertificateRequest | None = None
        try:
            zones = self._zones()
            try:
                request = parse_request(raw, [z.name for z in zones],
                                        endpoint_ports=self.settings.endpoint_ports)
            except RequestRejected as rejected:
                return self._reject(raw, rejected.problems, stage_name="validation")
            return self.issue(request, zones, request_id)
        except StageFailure as failure:
            if not failure.deferred:
                name, domains = ((request.name, list(request.domains)) if request
                                 else _best_effort_identity(raw))
                self.notifier.post(
                    slack.failed(name or "unnamed", domains, failure.stage, failure.message))
            raise

    def issue(self, request: CertificateRequest, zones: Sequence[HostedZone],
              request_id: str | None = None) -> Outcome:
        current = self._current(request)
        reason = skip_reason(current, request, request_id, self.now(),
                             remaining_fraction=self.settings.renew_at_remaining_fraction)
        if current is not None and reason:
            return self._skipped(request, current, reason)
        ahead = HeadStart.begin(self.services, self.settings.directory_url)
        account = self._bucket_precheck(ahead)
        problems = self._caa(request, account)
        if problems:
            return self._reject({"name": request.name, "domains": list(request.domains)},
                                problems, stage_name="precheck")
        zone_of = _zones_by_identifier(request, zones)
        try:
            with self._lease(request) as held:
                session = self._acme_session(account, ahead)
                replaces = self._replaces(session, current)
                issued = self._recover(session, held, request)
                if issued is None:
                    order = self._order(session, request, replaces)
                    key = generate_key(request.key_type)
                    records = _challenge_records(order, zone_of)
                    self._journal(held, order, key, records)
                    with self._published(held, records):
                        self._wait_for_name_servers(records)
                        self._answer(session, order)
                        fullchain = self._finalize(session, order, key, request)
                    issued = self._verify(key, fullchain, request)
                held.certificate_exists = True
                meta, location = self._store(request, issued, current, session, request_id)
        except Busy as busy:
            logger.info("lease: %s", busy)
            return Outcome("busy", request.name, request.domains, {
                "reason": str(busy), "retry_after": busy.retry_after})
        return self._notify_issued(request, meta, location, issued, renewal=current is not None,
                                   replaces=replaces, recovered=held.recovered)

    # -- the steps, in pipeline order ---------------------------------------------------------
    @in_stage("precheck")
    def _zones(self) -> list[HostedZone]:
        return self.services.zones()

    @in_stage("precheck")
    def _current(self, request: CertificateRequest) -> StoredCertificate | None:
        return self.services.store.current(request.name)

    def _skipped(self, request: CertificateRequest, current: StoredCertificate,
                 reason: str) -> Outcome:
        logger.info("skip: %s: %s", request.name, reason)
        return Outcome("skipped", request.name, request.domains, {
            "serial": current.serial, "not_after": current.not_after, "reason": reason})

    def _bucket_precheck(self, ahead: HeadStart) -> AccountRecord:
        """The bucket takes our writes, the account key is there, and the CA has not said wait."""
        store = self.services.store
        with stage("precheck"):
            ahead.probe.result()
            directory = self.settings.directory_url
            account = ahead.account.result() or store.create_account(
                AccountRecord(directory, new_account_key_pem().decode()))
            until = ahead.cooldown.result()
        logger.info("bucket precheck: writable, account key for %s", directory)
        wait = (until - self.now()).total_seconds() if until else 0.0
        if until is not None and wait > 0:
            raise StageFailure(
                "acme",
                f"the CA rate-limited this account until {until.isoformat()}; "
                "the request waits instead of spending another order",
                retry_after=wait, deferred=True,
            )
        return account

    @in_stage("precheck")
    def _caa(self, request: CertificateRequest, account: AccountRecord) -> list[str]:
        problems = caa_preflight(
            request.domains,
            resolver_address=self.settings.dns_server_override,
            identities=self.settings.caa_identities,
            account_uri=account.account_url,
            deadline=self.deadline,
        )
        logger.info("caa: %s", "; ".join(problems) if problems else "the CA may issue")
        return problems

    @contextlib.contextmanager
    def _lease(self, request: CertificateRequest) -> Iterator[HeldLease]:
        """Hold the name for this attempt; on the way out leave what a retry must finish."""
        leases = self.services.leases
        now = self.now()
        journal = Journal(
            name=request.name, holder=self.holder, domains=request.domains,
            key_type=request.key_type,
            expires_at=InFlight.until(now, self.deadline.remaining() + LEASE_MARGIN_SECONDS),
        )
        with stage("precheck"):
            lease, previous = leases.acquire(journal, now)
        logger.info("lease: %s holds %s until %s", self.holder, request.name, journal.expires_at)
        held = HeldLease(lease, previous)
        try:
            yield held
        except StageFailure:
            self._let_go(leases, lease, keep_order=held.certificate_exists)
            raise
        # Any other error leaves the lease to expire: the next attempt finishes from the journal.
        self._let_go(leases, lease, keep_order=False)

    @in_stage("acme")
    def _acme_session(self, account: AccountRecord, ahead: HeadStart) -> AcmeSession:
        session = ahead.session_for(account)
        if account.account_url:
            session.use_account(account.account_url)
        else:
            url = session.register(self.settings.contact_email)
            self.services.store.update_account(dataclasses.replace(account, account_url=url))
        return session

    @in_stage("acme")
    def _replaces(self, session: AcmeSession, current: StoredCertificate | None) -> str | None:
        """The ARI CertID of the certificate this order renews, if the CA speaks ARI."""
        if current is None or not current.extra.get("ari_id"):
            return None
        return str(current.extra["ari_id"]) if session.renewal_info_url else None

    def _recover(self, session: AcmeSession, held: HeldLease,
                 request: CertificateRequest) -> IssuedSet | None:
        """Clean up after a dead attempt and, if the CA already issued or validated, finish."""
        previous = held.previous
        if previous is None:
            return None
        if previous.records:
            self._cleanup(held.lease, [
                ChallengeRecord(HostedZone(zid, zname), name, value)
                for zid, zname, name, value in previous.records
            ])
        same = (sorted(previous.domains) == sorted(request.domains)
                and previous.key_type == request.key_type)
        if not (same and previous.order_url and previous.key_pem):
            return None
        with stage("acme"):
            try:
                state = session.fetch_order(previous.order_url)
            except AcmeError as exc:
                logger.info("recover: previous order %s is gone (%s); ordering anew",
                            previous.order_url, exc)
                return None
            key = load_key(previous.key_pem.encode())
            if state.status is OrderStatus.VALID and state.certificate_url:
                fullchain = session.download(state.certificate_url)
            elif state.status is OrderStatus.READY:
                fullchain = session.finalize(previous.order_url, state.finalize_url,
                                             make_csr(key, request.domains))
            else:
                return None
        logger.info("recover: finished the order %s of an attempt that died",
                    previous.order_url)
        held.recovered = True
        return self._verify(key, fullchain, request)

    @in_stage("acme")
    def _order(self, session: AcmeSession, request: CertificateRequest,
               replaces: str | None) -> Order:
        profile = self.settings.acme_profile
        session.check_profile(profile)
        try:
            order = session.new_order(request.domains, profile=profile, replaces=replaces)
        except AcmeError as exc:
            if exc.code == "rateLimited":
                self._start_ca_cooldown(exc)
            if exc.code != "alreadyReplaced" or not replaces:
                raise
            # Another order already claimed the old certificate (RFC 9773 §5): order
            # without the claim, losing only the rate-limit exemption.
            logger.warning("order: %s was already replaced; ordering without replaces", replaces)
            order = session.new_order(request.domains, profile=profile)
        logger.info("order: %s, %d challenge(s) to answer", order.url, len(order.challenges))
        return order

    @in_stage("storage")
    def _journal(self, held: HeldLease, order: Order, key: PrivateKey,
                 records: Sequence[ChallengeRecord]) -> None:
        # Journaled before anything is added, so whoever comes after a crash can clean up
        # and finish this order instead of ordering a second certificate.
        self.services.leases.record(
            held.lease, order_url=order.url, key_pem=key_pem(key).decode(),
            records=tuple((r.zone.id, r.zone.name, r.name, r.value) for r in records),
        )

    @contextlib.contextmanager
    def _published(self, held: HeldLease, records: Sequence[ChallengeRecord]) -> Iterator[None]:
        """The challenge values are in Route 53 inside the block, and removed after it."""
        if not records:  # every authorization was still valid from an earlier order
            yield
            return
        if self.deadline.expired():
            raise StageFailure("dns", "no time left to add the challenge records: the "
                               "invocation's deadline passed; the request is retried")
        try:
            with stage("dns"):
                self.services.route53.add(records)
            logger.info("publish: %s", ", ".join(sorted({r.name for r in records})))
            yield
        finally:
            self._cleanup(held.lease, records)

    @in_stage("dns")
    def _wait_for_name_servers(self, records: Sequence[ChallengeRecord]) -> None:
        if not records:
            return
        expected: dict[str, set[str]] = {}
        for record in records:
            expected.setdefault(record.name, set()).add(record.value)
        servers: Mapping[str, Sequence[str]] | str
        if self.settings.dns_server_override:
            servers = self.settings.dns_server_override
        else:
            route53 = self.services.route53
            by_zone = {r.zone: route53.name_servers(r.zone) for r in records}
            servers = {r.name: by_zone[r.zone] for r in records}
        wait_for_txt(expected, servers, deadline=self.deadline,
                     timeout=self.settings.propagation_timeout_seconds)
        logger.info("propagation: every name server shows %d value(s)", len(records))

    @in_stage("acme")
    def _answer(self, session: AcmeSession, order: Order) -> None:
        if not order.challenges:
            return
        session.answer(order.challenges)
        session.wait_until_ready(order.url, order.challenges)
        logger.info("answer: the CA validated %d challenge(s)", len(order.challenges))

    @in_stage("acme")
    def _finalize(self, session: AcmeSession, order: Order, key: PrivateKey,
                  request: CertificateRequest) -> str:
        fullchain = session.finalize(order.url, order.finalize_url,
                                     make_csr(key, request.domains))
        logger.info("finalize: %s issued", order.url)
        return fullchain

    @in_stage("acme")
    def _verify(self, key: PrivateKey, fullchain: str,
                request: CertificateRequest) -> IssuedSet:
        issued = IssuedSet.from_fullchain(key, fullchain)
        verify_set(issued, request.domains)
        logger.info("verify: key matches, chain and names check out")
        return issued

    def _store(self, request: CertificateRequest, issued: IssuedSet,
               current: StoredCertificate | None, session: AcmeSession,
               request_id: str | None) -> tuple[StoredCertificate, str]:
        meta = StoredCertificate.describe(request.name, issued, self.now())
        # Endpoints given once stay with the certificate through renewals that omit them.
        endpoints = list(request.endpoints) or list(
            (current.extra if current else {}).get("endpoints", []))
        meta = dataclasses.replace(meta, extra={
            **meta.extra, **self._renewal_info(session, issued),
            **({"request_id": request_id} if request_id else {}),
            **({"endpoints": endpoints} if endpoints else {}),
        })
        with stage("storage"):
            location = self.services.store.save(meta, issued)
        logger.info("store: %s serial %s until %s", location, meta.serial, meta.not_after)
        return meta, location

    def _notify_issued(self, request: CertificateRequest, meta: StoredCertificate,
                       location: str, issued: IssuedSet, *, renewal: bool,
                       replaces: str | None, recovered: bool) -> Outcome:
        self.notifier.post(slack.issued(
            request.name, request.domains, meta.not_after, location, meta.serial, renewal=renewal
        ))
        logger.info("notify: issued %s serial %s", request.name, meta.serial)
        return Outcome("issued", request.name, request.domains, {
            "serial": meta.serial, "not_after": meta.not_after, "location": location,
            "files": [f"{request.name}/{f}" for f in issued.files()] + [
                f"{request.name}/cert.json"],
            "renewal": renewal,
            "recovered": recovered,
            "replaces": replaces,
        })

    # -- what the steps share -----------------------------------------------------------------
    def _start_ca_cooldown(self, exc: AcmeError) -> None:
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_RATE_LIMIT_WAIT
        until = self.now() + dt.timedelta(seconds=wait)
        try:
            self.services.store.set_ca_cooldown(self.settings.directory_url, until, str(exc))
        except (StorageError, ClientError, BotoCoreError) as error:
            logger.warning("could not record the CA's rate limit: %s", error)

    def _renewal_info(self, session: AcmeSession, issued: IssuedSet) -> dict[str, Any]:
        """ari_id always; the CA's window when it offers ARI (best effort: the sweep retries)."""
        try:
            cert_id = ari.cert_id(issued.leaf)
        except (ari.InvalidRenewalInfo, x509.ExtensionNotFound):
            return {}
        extra: dict[str, Any] = {"ari_id": cert_id}
        try:
            if session.renewal_info_url:
                body, retry_after = session.renewal_info(cert_id)
                info = ari.parse(body, retry_after_seconds=retry_after, now=self.now())
                extra["ari"] = info.as_json()
        except (AcmeError, ari.InvalidRenewalInfo) as exc:
            logger.warning("no renewal information for %s yet: %s", cert_id, exc)
        return extra

    def _let_go(self, leases: InFlight, lease: Lease, *, keep_order: bool) -> None:
        """Give the name up. What the next attempt must finish stays in the journal.

        keep_order: the certificate exists but is not stored, so order and key stay for the
        retry. Challenge values a cleanup could not remove stay too, for the next attempt to
        remove. Never raises: the certificate (or the failure) being reported matters more,
        and an unreleased lease expires by itself.
        """
        try:
            if keep_order:
                leases.park(lease, self.now(), records=lease.leftover)
            elif lease.leftover:
                leases.park(lease, self.now(), records=lease.leftover, forget_order=True)
            else:
                leases.release(lease)
        except Exception as exc:
            logger.error("could not update the in-flight journal of %s: %s",
                         lease.journal.name, exc)

    def _cleanup(self, lease: Lease, records: Sequence[ChallengeRecord]) -> None:
        """Remove exactly these values; what cannot be removed stays journaled on the lease.

        Its own budget: cleanup must run even when the order used up the deadline, and the
        deadline's reserve is there for exactly this.
        """
        route53 = self.services.route53_within(Deadline.after(CLEANUP_SECONDS))
        try:
            route53.remove(records)
        except Exception as exc:
            lease.leftover.extend(
                (r.zone.id, r.zone.name, r.name, r.value) for r in records
                if (r.zone.id, r.zone.name, r.name, r.value) not in lease.leftover
            )
            logger.error("cleanup: could not remove challenge records %s: %s",
                         sorted({r.name for r in records}), exc)
            self.notifier.post(slack.failed(
                lease.journal.name, [r.name for r in records], "dns",
                f"cleanup failed: could not remove the _acme-challenge TXT values this order "
                f"added: {exc}. "
                f"They are harmless; the next run for {lease.journal.name} removes them.",
            ))
            return
        logger.info("cleanup: removed %d challenge value(s)", len(records))

    def _reject(self, raw: object, problems: Sequence[str], *, stage_name: str) -> Outcome:
        name, domains = _best_effort_identity(raw)
        self.notifier.post(slack.rejected(name, domains, problems))
        logger.info("rejected request at %s: %d problem(s)", stage_name, len(problems))
        return Outcome("rejected", name, tuple(domains), {
            "stage": stage_name, "problems": list(problems),
            "message": "; ".join(problems),
        })


def _zones_by_identifier(request: CertificateRequest,
                         zones: Sequence[HostedZone]) -> dict[str, HostedZone]:
    """The zone of each name to prove, chosen once: a wildcard's record lives at its base."""
    by_name = {z.name: z for z in zones}
    chosen: dict[str, HostedZone] = {}
    for domain in request.domains:
        zone_name = zone_for(domain, by_name)
        if zone_name is not None:
            chosen[domain.removeprefix("*.")] = by_name[zone_name]
    return chosen


def _challenge_records(order: Order,
                       zone_of: Mapping[str, HostedZone]) -> list[ChallengeRecord]:
    records = []
    for challenge in order.challenges:
        zone = zone_of.get(challenge.identifier)
        if zone is None:  # validation already checked; the CA changed identifiers
            raise StageFailure("acme", f"the CA asked to validate {challenge.identifier}, "
                               "which no allowed zone covers")
        records.append(ChallengeRecord(zone, challenge.record_name, challenge.value))
    return records


def _best_effort_identity(raw: object) -> tuple[str | None, list[str]]:
    """What to call a rejected request in messages, without trusting any of it."""
    if not isinstance(raw, dict):
        return None, []
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    domains = raw.get("domains")
    shown = [d for d in domains[:20] if isinstance(d, str)] if isinstance(domains, list) else []
    return (name[:128] if name else None), [d[:253] for d in shown]
