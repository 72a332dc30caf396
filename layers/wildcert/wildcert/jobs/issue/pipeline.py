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
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography import x509

from wildcert.adapters import aws, slack
from wildcert.adapters.acme import (
    AcmeError,
    AcmeSession,
    DnsChallenge,
    Order,
    OrderStatus,
    new_account_key_pem,
)
from wildcert.adapters.bucket.certificates import (
    AccountRecord,
    CertificateStore,
    StorageError,
    StoredCertificate,
)
from wildcert.adapters.bucket.leases import Busy, InFlight, Journal, Lease, LeaseLost
from wildcert.adapters.bucket.objects import Bucket
from wildcert.adapters.dns import caa_preflight, wait_for_txt
from wildcert.adapters.route53 import ChallengeRecord, ChallengeRecords, HostedZone, Route53Error
from wildcert.deadline import Deadline
from wildcert.logic import ari
from wildcert.logic.certificates import (
    CertificateError,
    IssuedSet,
    PrivateKey,
    generate_key,
    key_pem,
    load_key,
    make_csr,
    verify_set,
)
from wildcert.logic.renewal import Lifetime, is_due
from wildcert.logic.request import (
    CertificateRequest,
    RequestRejected,
    normalise_serial,
    parse_request,
)
from wildcert.logic.zones import zone_for
from wildcert.settings import Settings

logger = logging.getLogger("wildcert.jobs.issue.pipeline")
CLEANUP_SECONDS = 15.0
# A lease outlives the attempt's own deadline by this much, so a live holder never loses it.
LEASE_MARGIN_SECONDS = 60.0
DEFAULT_RATE_LIMIT_WAIT = 3600.0  # Let's Encrypt always sends Retry-After; this is a fallback


class StageFailure(Exception):
    """A failure after bounded retries, tagged with the stage it happened in."""

    def __init__(self, stage: str, message: str, *, retry_after: float | None = None,
                 deferred: bool = False):
        super().__init__(f"[{stage}] {message}")
        self.stage = stage
        self.message = message
        self.retry_after = retry_after
        # Deferred: not attempted because the CA asked everyone to wait; already reported.
        self.deferred = deferred


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
                   BotoCoreError, TimeoutError, LeaseLost)


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

    @property
    def route53(self) -> ChallengeRecords:
        return self.route53_within(self.deadline)

    def route53_within(self, deadline: Deadline) -> ChallengeRecords:
        return ChallengeRecords(
            self.client_factory("route53"), deadline=deadline, ttl=self.settings.record_ttl
        )

    @property
    def bucket(self) -> Bucket:
        return Bucket(self.client_factory("s3"), self.settings.bucket, self.settings.kms_key_id)

    @property
    def store(self) -> CertificateStore:
        return CertificateStore(self.bucket)

    @property
    def inflight(self) -> InFlight:
        return InFlight(self.bucket)

    def zones(self) -> list[HostedZone]:
        return _zone_cache(self.settings.allowed_zone_ids, self.route53)


_ZONE_CACHE: dict[tuple[str, ...], list[HostedZone]] = {}


def _zone_cache(ids: tuple[str, ...], route53: ChallengeRecords) -> list[HostedZone]:
    # Zone names change never in practice; one ListHostedZones per container is plenty
    # under Route 53's account-wide five requests per second.
    if ids not in _ZONE_CACHE:
        _ZONE_CACHE[ids] = route53.allowed_zones(ids)
    return _ZONE_CACHE[ids]


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

    # -- entry point --------------------------------------------------------------------------
    def handle(self, raw: object, request_id: str | None = None) -> Outcome:
        request: CertificateRequest | None = None
        try:
            with stage("precheck"):
                zones = self.services.zones()  # cached per container
            try:
                request = parse_request(raw, [z.name for z in zones])
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

    # -- the pipeline -------------------------------------------------------------------------
    def issue(self, request: CertificateRequest, zones: Sequence[HostedZone],
              request_id: str | None = None) -> Outcome:
        store = self.services.store
        with stage("precheck"):
            current = store.current(request.name)
        skip = self._skip_reason(current, request, request_id)
        if current is not None and skip:
            logger.info("skipped %s: %s", request.name, skip)
            return Outcome("skipped", request.name, request.domains, {
                "serial": current.serial, "not_after": current.not_after, "reason": skip,
            })
        with stage("precheck"):
            store.probe()
            account = self._account(store)
        self._respect_ca_cooldown(store)
        with stage("precheck"):
            problems = caa_preflight(
                request.domains,
                resolver_address=self.settings.dns_server_override,
                identities=self.settings.caa_identities,
                account_uri=account.account_url,
                deadline=self.deadline,
            )
        if problems:
            return self._reject(
                {"name": request.name, "domains": list(request.domains)}, problems,
                stage_name="precheck",
            )
        inflight = self.services.inflight
        now = self.now()
        journal = Journal(
            name=request.name, holder=self.holder, domains=request.domains,
            key_type=request.key_type,
            expires_at=InFlight.until(now, self.deadline.remaining() + LEASE_MARGIN_SECONDS),
        )
        try:
            with stage("precheck"):
                lease, previous = inflight.acquire(journal, now)
        except Busy as busy:
            logger.info("%s", busy)
            return Outcome("busy", request.name, request.domains, {
                "reason": str(busy), "retry_after": busy.retry_after})
        try:
            outcome = self._issue_holding(request, zones, current=current, account=account,
                                          lease=lease, previous=previous, request_id=request_id)
        except StageFailure as failure:
            self._let_go(inflight, lease, keep_order=failure.stage == "storage")
            raise
        self._let_go(inflight, lease, keep_order=False)
        return outcome

    def _issue_holding(self, request: CertificateRequest, zones: Sequence[HostedZone], *,
                       current: StoredCertificate | None, account: AccountRecord, lease: Lease,
                       previous: Journal | None, request_id: str | None) -> Outcome:
        """The part that runs holding the name's lease."""
        with stage("acme"):
            session = self._session(account)
        issued = (self._recover(session, previous, request, lease) if previous is not None
                  else None)
        recovered = issued is not None
        replaces = self._replaces(session, current)
        if issued is None:
            issued = self._order(session, request, zones, lease, replaces)
        meta = StoredCertificate.describe(request.name, issued, self.now())
        # Endpoints given once stay with the certificate through renewals that omit them.
        endpoints = list(request.endpoints) or list((current.extra if current else {}).get(
            "endpoints", []))
        meta = dataclasses.replace(meta, extra={
            **meta.extra, **self._renewal_info(session, issued),
            **({"request_id": request_id} if request_id else {}),
            **({"endpoints": endpoints} if endpoints else {}),
        })
        with stage("storage"):
            location = self.services.store.save(meta, issued)
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
            "recovered": recovered,
            "replaces": replaces,
        })

    def _order(self, session: AcmeSession, request: CertificateRequest,
               zones: Sequence[HostedZone], lease: Lease, replaces: str | None) -> IssuedSet:
        profile = self.settings.acme_profile
        with stage("acme"):
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
                logger.warning("%s was already replaced; ordering without replaces", replaces)
                order = session.new_order(request.domains, profile=profile)
        key = generate_key(request.key_type)
        records = self._records(order.challenges, zones)
        with stage("precheck"):
            # Journaled before anything is added, so whoever comes after a crash can clean up
            # and finish this order instead of ordering a second certificate.
            self.services.inflight.record(
                lease, order_url=order.url, key_pem=key_pem(key).decode(),
                records=tuple((r.zone.id, r.zone.name, r.name, r.value) for r in records),
            )
        csr = make_csr(key, request.domains)
        fullchain = self._validate_and_finalize(
            session, order, records,
            finalize=lambda: session.finalize(order.url, order.finalize_url, csr), lease=lease,
        )
        return self._checked(key, fullchain, request)

    def _respect_ca_cooldown(self, store: CertificateStore) -> None:
        """Don't spend a request on a CA that told us to wait: the rest of the queue waits too."""
        with stage("precheck"):
            until = store.ca_cooldown(self.settings.directory_url)
        if until is None:
            return
        wait = (until - self.now()).total_seconds()
        if wait > 0:
            raise StageFailure(
                "acme",
                f"the CA rate-limited this account until {until.isoformat()}; "
                "the request waits instead of spending another order",
                retry_after=wait, deferred=True,
            )

    def _start_ca_cooldown(self, exc: AcmeError) -> None:
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_RATE_LIMIT_WAIT
        until = self.now() + dt.timedelta(seconds=wait)
        try:
            self.services.store.set_ca_cooldown(self.settings.directory_url, until, str(exc))
        except (StorageError, ClientError, BotoCoreError) as error:
            logger.warning("could not record the CA's rate limit: %s", error)

    @staticmethod
    def _replaces(session: AcmeSession, current: StoredCertificate | None) -> str | None:
        """The ARI CertID of the certificate this order renews, if the CA speaks ARI."""
        if current is None or not current.extra.get("ari_id"):
            return None
        with stage("acme"):
            return str(current.extra["ari_id"]) if session.renewal_info_url else None

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

    def _checked(self, key: PrivateKey, fullchain: str,
                 request: CertificateRequest) -> IssuedSet:
        with stage("acme"):
            issued = IssuedSet.from_fullchain(key, fullchain)
            verify_set(issued, request.domains)
        return issued

    def _recover(self, session: AcmeSession, previous: Journal, request: CertificateRequest,
                 lease: Lease) -> IssuedSet | None:
        """Clean up after a dead attempt and, if the CA already issued or validated, finish."""
        if previous.records:
            self._cleanup(lease, [
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
                logger.info("previous order %s is gone (%s); ordering anew",
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
        logger.info("finished the order %s of an attempt that died", previous.order_url)
        return self._checked(key, fullchain, request)

    def _let_go(self, inflight: InFlight, lease: Lease, *, keep_order: bool) -> None:
        """Give the name up. What the next attempt must finish stays in the journal.

        keep_order: the certificate exists but is not stored, so order and key stay for the
        retry. Challenge values a cleanup could not remove stay too, for the next attempt to
        remove. Never raises: the certificate (or the failure) being reported matters more,
        and an unreleased lease expires by itself.
        """
        try:
            if keep_order:
                inflight.park(lease, self.now(), records=lease.leftover)
            elif lease.leftover:
                inflight.park(lease, self.now(), records=lease.leftover, forget_order=True)
            else:
                inflight.release(lease)
        except Exception as exc:
            logger.error("could not update the in-flight journal of %s: %s",
                         lease.journal.name, exc)

    def _skip_reason(self, current: StoredCertificate | None, request: CertificateRequest,
                     request_id: str | None) -> str | None:
        if current is None:
            return None
        if request_id and current.extra.get("request_id") == request_id:
            return "this request was already served (duplicate delivery)"
        if request.renews and normalise_serial(current.serial) != request.renews:
            return (f"serial {request.renews} was already replaced by {current.serial} "
                    "(stale renewal request)")
        if not request.force and self._still_good(current, request):
            return "the stored certificate covers these domains and is not due"
        return None

    def _still_good(self, current: StoredCertificate, request: CertificateRequest) -> bool:
        if sorted(current.domains) != sorted(request.domains):
            return False
        if current.key_type != request.key_type:
            return False
        lifetime = Lifetime(current.not_before_time, current.not_after_time)
        return not is_due(lifetime, self.now(),
                          remaining_fraction=self.settings.renew_at_remaining_fraction)

    def _validate_and_finalize(
        self, session: AcmeSession, order: Order, records: Sequence[ChallengeRecord], *,
        finalize: Callable[[], str], lease: Lease,
    ) -> str:
        pending = order.challenges
        route53 = self.services.route53
        try:
            if records:
                if self.deadline.expired():
                    raise StageFailure("dns", "no time left to add the challenge records: the "
                                       "invocation's deadline passed; the request is retried")
                with stage("dns"):
                    route53.add(records)
                    self._wait_for_propagation(route53, records)
                with stage("acme"):
                    session.answer(pending)
                    session.wait_until_ready(order.url, pending)
            with stage("acme"):
                return finalize()
        finally:
            if records:
                self._cleanup(lease, records)

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
            logger.error("could not remove challenge records %s: %s",
                         sorted({r.name for r in records}), exc)
            self.notifier.post(slack.failed(
                lease.journal.name, [r.name for r in records], "dns",
                f"cleanup failed: could not remove the _acme-challenge TXT values this order "
                f"added: {exc}. "
                f"They are harmless; the next run for {lease.journal.name} removes them.",
            ))

    def _account(self, store: CertificateStore) -> AccountRecord:
        directory = self.settings.directory_url
        return store.load_account(directory) or store.create_account(
            AccountRecord(directory, new_account_key_pem().decode())
        )

    def _session(self, account: AccountRecord) -> AcmeSession:
        session = AcmeSession(account.directory_url, account.key_pem.encode(),
                              deadline=self.deadline, ca_bundle=self.settings.acme_ca_bundle)
        if account.account_url:
            session.use_account(account.account_url)
        else:
            url = session.register(self.settings.contact_email)
            self.services.store.update_account(dataclasses.replace(account, account_url=url))
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
