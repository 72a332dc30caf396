"""The issuance pipeline: one request in, one stored certificate (or one clear refusal) out.

`Issuer.issue` is the whole flow, step by step in the order it runs:

    who is asking → validate → whose name → team policy → skip? → team caps
    → bucket precheck (and the CA's cooldowns) → CAA → lease → order → publish TXT
    → wait for the name servers → answer → finalize → verify → store → tell

Each step below it is one small method, tagged with the stage a user sees when it fails
(see `wildcert.jobs.issue.outcome`), and logs one line. Every outcome is told the same way
(`_tell`): one log line with the requester, Slack (the team's channel and the operators'), and
an outcome event on the bus.
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
    Cooldown,
    StorageError,
    StoredCertificate,
)
from wildcert.adapters.bucket.leases import Busy, InFlight, Journal, Lease
from wildcert.adapters.bucket.objects import Bucket
from wildcert.adapters.bucket.teams import TeamLedger
from wildcert.adapters.dns import caa_preflight, wait_for_txt
from wildcert.adapters.events import OutcomeEvents
from wildcert.adapters.route53 import ApiQuota, ChallengeRecord, ChallengeRecords, HostedZone
from wildcert.deadline import Deadline
from wildcert.jobs.issue.head_start import HeadStart
from wildcert.jobs.issue.outcome import Outcome, StageFailure, in_stage, stage
from wildcert.logic import ari, ratelimit, teams
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
from wildcert.logic.request import (
    DIRECT,
    CertificateRequest,
    Requester,
    RequestRejected,
    parse_request,
)
from wildcert.logic.teams import NO_TEAMS, Refusal, Team, Teams
from wildcert.logic.times import iso
from wildcert.logic.zones import ZoneAccess, foreign_zone_problem, session_name, zone_for
from wildcert.settings import Settings

if TYPE_CHECKING:  # loaded once an order is about to be made (jobs/issue/head_start.py)
    from wildcert.adapters.acme import AcmeSession, Order

__all__ = ["Ask", "Issuer", "Outcome", "Services", "StageFailure"]

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
    teams: Teams = NO_TEAMS
    assume: Callable[..., Any] = aws.assumed_client
    # The STS session name a zone in another account sees: the team and the request.
    zone_session: str = "wildcert-operators-direct"

    def route53_within(self, deadline: Deadline) -> ChallengeRecords:
        quota = ApiQuota(self.settings.route53_requests_per_second,
                         self.settings.route53_request_burst)
        return ChallengeRecords(
            self.client_factory("route53"), deadline=deadline, ttl=self.settings.record_ttl,
            quota=quota, clients=self._zone_client,
        )

    def _zone_client(self, access: ZoneAccess) -> Any:
        return self.assume("route53", access.role_arn, access.external_id, self.zone_session)

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
    def ledger(self) -> TeamLedger:
        return TeamLedger(self.bucket)

    @property
    def events(self) -> OutcomeEvents:
        return OutcomeEvents(lambda: self.client_factory("events"), self.settings.event_bus_name)

    def zones(self) -> list[HostedZone]:
        """The public zones requests may use."""
        return [z for z in self.listed_zones() if not z.private]

    def listed_zones(self) -> list[HostedZone]:
        """Every zone the settings name, private ones marked (never written)."""
        ids = self.settings.allowed_zone_ids
        # Zone names never change in practice; one ListHostedZones per container is plenty
        # under Route 53's account-wide request limit.
        if ids not in _ZONES:
            _ZONES[ids] = self.route53.listed_zones(ids) if ids else []
        return [*_ZONES[ids], *self._other_account_zones()]

    def _other_account_zones(self) -> list[HostedZone]:
        """The operators' zones in other accounts, then each team's, from their settings."""
        configured = [*self.settings.other_account_zones,
                      *(z for team in self.teams.teams.values() for z in team.zones)]
        return [HostedZone(z.id, z.name, access=z.access, team=z.team) for z in configured]


_ZONES: dict[tuple[str, ...], list[HostedZone]] = {}


@dataclass
class Ask:
    """One request on its way through the pipeline: what was sent, by whom, and, as the steps
    find out, which team asks and which team the name belongs to."""

    raw: object
    requester: Requester = DIRECT
    request_id: str | None = None
    team: Team | None = None  # the asking team; None: the operators, or the renewal queue
    owner: str | None = None  # the team the certificate belongs to; None: the operators
    request: CertificateRequest | None = None

    @property
    def team_id(self) -> str | None:
        """The team to tell: the one asking, else the one owning the name."""
        return self.team.id if self.team else self.owner

    def identity(self) -> tuple[str | None, list[str]]:
        if self.request is not None:
            return self.request.name, list(self.request.domains)
        return _best_effort_identity(self.raw)

    def about(self) -> dict[str, Any]:
        return {"team": self.team_id, "requester": self.requester.as_json()}


class Refused(Exception):
    """The request is refused (validation, team policy, CAA): nothing was created anywhere."""

    def __init__(self, stage_name: str, problems: Sequence[str | Refusal]):
        super().__init__(f"[{stage_name}] " + "; ".join(str(p) for p in problems))
        self.stage = stage_name
        self.problems = [str(p) for p in problems]
        self.rules = [p.rule for p in problems if isinstance(p, Refusal)]


@dataclass
class HeldLease:
    """The name's lease while this attempt holds it, and what a dead predecessor left."""

    lease: Lease
    previous: Journal | None
    # Set once a certificate exists: from then on a failure keeps the order for the retry.
    certificate_exists: bool = False
    recovered: bool = False  # the certificate came from the predecessor's order


class Issuer:
    def __init__(self, services: Services, notifier: slack.SlackNotifier | slack.Channels,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 holder: str | None = None):
        self.holder = holder or f"attempt-{uuid.uuid4().hex[:12]}"
        self.services = services
        self.settings = services.settings
        self.deadline = services.deadline
        self.channels = (notifier if isinstance(notifier, slack.Channels)
                         else slack.Channels(notifier))
        self.now = now

    def handle(self, raw: object, request_id: str | None = None,
               requester: Requester = DIRECT) -> Outcome:
        """Issue what `raw` asks for; every outcome is told once, and a failure is raised."""
        ask = Ask(raw, requester, request_id)
        try:
            return self.issue(ask)
        except Refused as refused:
            return self._rejected(ask, refused)
        except StageFailure as failure:
            failure.outcome = self._failed(ask, failure).as_dict()
            raise

    def issue(self, ask: Ask) -> Outcome:
        zones = self._zones()
        team = self._who(ask)
        request = self._validate(ask, zones, team)
        current = self._current(request)
        self._whose(ask, request, current)
        self._policy(team, request, current)
        zone_of = self._zone_choice(ask, request, zones)
        reason = skip_reason(current, request, ask.request_id, self.now(),
                             remaining_fraction=self.settings.renew_at_remaining_fraction)
        if current is not None and reason:
            return self._skipped(ask, request, current, reason)
        self._caps(ask, team, request, current)
        ahead = HeadStart.begin(self.services, self.settings.directory_for(request.ca))
        account = self._bucket_precheck(request, ahead)
        self._caa(request, account)
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
                meta, location = self._store(ask, request, issued, current, session)
        except Busy as busy:
            return self._busy(ask, request, busy)
        return self._issued(ask, request, meta, location, issued, renewal=current is not None,
                            replaces=replaces, recovered=held.recovered)

    # -- the steps, in pipeline order ---------------------------------------------------------
    @in_stage("precheck")
    def _zones(self) -> list[HostedZone]:
        return self.services.listed_zones()

    def _who(self, ask: Ask) -> Team | None:
        """The team the envelope says is asking; an event from no team is refused."""
        found = teams.identify(self.services.teams, ask.requester)
        if isinstance(found, Refusal):
            raise Refused("policy", [found])
        ask.team = found
        self.services.zone_session = session_name(found.id if found else None,
                                                  ask.request_id or self.holder)
        logger.info("requester: %s (%s)", ask.requester,
                    f"team {found.id}" if found else _NOT_A_TEAM.get(ask.requester.kind, ""))
        return found

    def _validate(self, ask: Ask, zones: Sequence[HostedZone],
                  team: Team | None) -> CertificateRequest:
        try:
            request = parse_request(ask.raw, [z.name for z in zones if not z.private],
                                    private_zone_names=[z.name for z in zones if z.private],
                                    endpoint_ports=self.settings.endpoint_ports,
                                    namespace=team.namespace if team else "")
        except RequestRejected as rejected:
            raise Refused("validation", rejected.problems) from None
        ask.request = request
        logger.info("validate: %s for %s", request.name, ", ".join(request.domains))
        return request

    @in_stage("precheck")
    def _current(self, request: CertificateRequest) -> StoredCertificate | None:
        return self.services.store.current(request.name)

    def _whose(self, ask: Ask, request: CertificateRequest,
               current: StoredCertificate | None) -> None:
        """The team the certificate belongs to: as stored; a new one, the asking team's, or the
        team whose namespace its name is in (that team's readers can read it)."""
        if current is not None:
            ask.owner = _owner_of(current)
        elif ask.team is not None:
            ask.owner = ask.team.id
        else:
            ask.owner = self.services.teams.namespace_owner(request.name)
        logger.info("owner: %s belongs to %s", request.name,
                    f"team {ask.owner}" if ask.owner else "the operators")

    def _policy(self, team: Team | None, request: CertificateRequest,
                current: StoredCertificate | None) -> None:
        """A team asks only for its own names and hosts, key types and CA: else refused."""
        if team is None:
            return
        broken = teams.refusals(team, request, exists=current is not None,
                                owner=_owner_of(current))
        if broken:
            raise Refused("policy", broken)
        logger.info("policy: team %s may ask for %s", team.id, request.name)

    def _zone_choice(self, ask: Ask, request: CertificateRequest,
                     zones: Sequence[HostedZone]) -> dict[str, HostedZone]:
        """The zone of each name; a team's zone serves only that team's certificates."""
        zone_of = _zones_by_identifier(request, zones)
        problems = [problem for name, zone in zone_of.items()
                    if (problem := foreign_zone_problem(name, zone.where(), zone.team,
                                                        ask.owner))]
        if problems:
            raise Refused("policy", problems)
        return zone_of

    def _skipped(self, ask: Ask, request: CertificateRequest, current: StoredCertificate,
                 reason: str) -> Outcome:
        outcome = Outcome("skipped", request.name, request.domains, {
            "serial": current.serial, "not_after": current.not_after, "reason": reason,
            **ask.about()})
        return self._tell(ask, outcome, "skipped", None)

    def _caps(self, ask: Ask, team: Team | None, request: CertificateRequest,
              current: StoredCertificate | None) -> None:
        """A new certificate within the team's cap; a forced reissue within today's."""
        if team is None:
            return
        ledger = self.services.ledger
        if current is None:
            with stage("precheck"):
                owned = ledger.owned(team.id, cap=team.max_certificates)
            refusal = teams.certificate_cap(team, owned)
            if refusal is not None:
                raise Refused("policy", [refusal])
            logger.info("caps: team %s owns at most %d of %d certificates", team.id, owned,
                        team.max_certificates)
        elif self._forcing(request, current):
            day = self.now().date().isoformat()
            with stage("precheck"):
                count = ledger.take_forced(team.id, day, team.max_forced_per_day,
                                           ask.request_id)
            if count is None:
                raise Refused("policy", [teams.forced_cap(team, day)])
            logger.info("caps: forced reissue %d of %d today for team %s", count,
                        team.max_forced_per_day, team.id)

    def _bucket_precheck(self, request: CertificateRequest, ahead: HeadStart) -> AccountRecord:
        """The bucket takes our writes, the account key is there, and the CA has not said wait
        for anything this order would count against."""
        store = self.services.store
        directory = self.settings.directory_for(request.ca)
        with stage("precheck"):
            ahead.probe.result()
            account = ahead.account.result() or store.create_account(
                AccountRecord(directory, new_account_key_pem().decode()))
            cooldowns = ahead.cooldowns.result()
        logger.info("bucket precheck: writable, account key for %s", directory)
        now = self.now()
        waiting = [c for c in cooldowns if c.until > now and c.scope.covers(request.domains)]
        if waiting:
            last = max(waiting, key=lambda c: c.until)
            raise StageFailure(
                "acme",
                f"the CA rate-limited {last.scope.describe()} until {last.until.isoformat()}; "
                "the request waits instead of spending another order",
                retry_after=(last.until - now).total_seconds(), deferred=True,
            )
        return account

    def _caa(self, request: CertificateRequest, account: AccountRecord) -> None:
        with stage("precheck"):
            problems = caa_preflight(
                request.domains,
                resolver_address=self.settings.dns_server_override,
                identities=self.settings.caa_identities,
                account_uri=account.account_url,
                deadline=self.deadline,
            )
        logger.info("caa: %s", "; ".join(problems) if problems else "the CA may issue")
        if problems:
            raise Refused("precheck", problems)

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
            known = {z.id: z for z in self._zones()}
            self._cleanup(held.lease, [
                ChallengeRecord(known.get(zid, HostedZone(zid, zname)), name, value)
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
                raise self._rate_limited(exc, session.directory_url, request) from exc
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

    def _store(self, ask: Ask, request: CertificateRequest, issued: IssuedSet,
               current: StoredCertificate | None,
               session: AcmeSession) -> tuple[StoredCertificate, str]:
        meta = StoredCertificate.describe(request.name, issued, self.now())
        # Endpoints given once stay with the certificate through renewals that omit them.
        endpoints = list(request.endpoints) or list(
            (current.extra if current else {}).get("endpoints", []))
        meta = dataclasses.replace(meta, extra={
            **meta.extra, **self._renewal_info(session, issued),
            **({"request_id": ask.request_id} if ask.request_id else {}),
            **({"endpoints": endpoints} if endpoints else {}),
            **({"team": ask.owner} if ask.owner else {}),
            **({"ca": request.ca} if request.ca != "production" else {}),
            "requester": ask.requester.as_json(),
        })
        with stage("storage"):
            location = self.services.store.save(meta, issued)
        logger.info("store: %s serial %s until %s", location, meta.serial, meta.not_after)
        return meta, location

    def _issued(self, ask: Ask, request: CertificateRequest, meta: StoredCertificate,
                location: str, issued: IssuedSet, *, renewal: bool,
                replaces: str | None, recovered: bool) -> Outcome:
        outcome = Outcome("issued", request.name, request.domains, {
            "serial": meta.serial, "not_after": meta.not_after, "location": location,
            "files": [f"{request.name}/{f}" for f in issued.files()] + [
                f"{request.name}/cert.json"],
            "renewal": renewal,
            "recovered": recovered,
            "replaces": replaces,
            "ca": request.ca,
            **ask.about(),
        })
        message = slack.issued(request.name, request.domains, meta.not_after, location,
                               meta.serial, renewal=renewal, team=ask.team_id)
        return self._tell(ask, outcome, "renewed" if renewal else "issued", message)

    def _busy(self, ask: Ask, request: CertificateRequest, busy: Busy) -> Outcome:
        """Another attempt holds the name: not an outcome yet, so neither Slack nor an event."""
        outcome = Outcome("busy", request.name, request.domains, {
            "reason": str(busy), "retry_after": busy.retry_after, **ask.about()})
        return self._tell(ask, outcome, None, None)

    def _rejected(self, ask: Ask, refused: Refused) -> Outcome:
        name, domains = ask.identity()
        outcome = Outcome("rejected", name, tuple(domains), {
            "stage": refused.stage, "problems": refused.problems, "rules": refused.rules,
            "message": "; ".join(refused.problems), **ask.about(),
        })
        message = slack.rejected(name, domains, refused.problems, team=ask.team_id,
                                 requester=str(ask.requester))
        return self._tell(ask, outcome, "rejected", message)

    def _failed(self, ask: Ask, failure: StageFailure) -> Outcome:
        """Told once: a wait the CA asked for is told by the run that met it, not by each run
        that then waits."""
        name, domains = ask.identity()
        outcome = Outcome("failed", name, tuple(domains), {
            "stage": failure.stage, "reason": failure.message, "deferred": failure.deferred,
            "retry_after": failure.retry_after, **ask.about()})
        message = None if failure.told else slack.failed(
            name or "unnamed", domains, failure.stage, failure.message, team=ask.team_id)
        return self._tell(ask, outcome, "failed", message)

    def _tell(self, ask: Ask, outcome: Outcome, event: str | None,
              message: slack.Message | None) -> Outcome:
        """One log line naming the requester, Slack, and the outcome event."""
        details = outcome.details
        said = details.get("stage") or details.get("serial") or details.get("reason") or ""
        logger.info("outcome: %s %s (%s) for %s, team %s", outcome.status, outcome.name,
                    said, ask.requester, ask.team_id or "none (operators)")
        if message is not None:
            self.channels.post(message, ask.team_id)
        if event is not None:
            self.services.events.put(event, _event_detail(event, outcome, ask))
        return outcome

    # -- what the steps share -----------------------------------------------------------------
    def _forcing(self, request: CertificateRequest, current: StoredCertificate) -> bool:
        """Is `force` what makes this a reissue (without it, the request would be skipped)?"""
        if not request.force:
            return False
        unforced = dataclasses.replace(request, force=False)
        return skip_reason(current, unforced, None, self.now(),
                           remaining_fraction=self.settings.renew_at_remaining_fraction) is not None

    def _rate_limited(self, exc: AcmeError, directory: str,
                      request: CertificateRequest) -> StageFailure:
        """Make what the CA limited wait: only that (logic.ratelimit), for as long as it said.

        The request is deferred, not failed. Runs that passed the cooldown check just before
        another run met the limit meet it too; only a run that starts the cooldown tells Slack.
        """
        now = self.now()
        scope = ratelimit.scope_of(exc.detail, request.domains)
        wait = exc.retry_after
        if wait is None:
            wait = ratelimit.retry_after_in_detail(exc.detail, now)
        wait = DEFAULT_RATE_LIMIT_WAIT if wait is None else wait
        until = now + dt.timedelta(seconds=wait)
        logger.warning("rate limit: the CA limited %s until %s", scope.describe(), iso(until))
        started = True
        try:
            started = self.services.store.start_ca_cooldown(
                directory, Cooldown(scope, until, str(exc)), now)
        except (StorageError, ClientError, BotoCoreError) as error:
            logger.warning("could not record the CA's rate limit: %s", error)
        return StageFailure(
            "acme", f"{exc}; the request waits for {scope.describe()} and is retried "
            "automatically", retry_after=wait, deferred=True, told=not started)

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
            self.channels.post(slack.failed(
                lease.journal.name, [r.name for r in records], "dns",
                f"cleanup failed: could not remove the _acme-challenge TXT values this order "
                f"added: {exc}. "
                f"They are harmless; the next run for {lease.journal.name} removes them.",
            ))
            return
        logger.info("cleanup: removed %d challenge value(s)", len(records))


_NOT_A_TEAM = {"direct": "the operators", "queue": "for the certificate's owner",
               "eventbridge": "no team"}


def _owner_of(current: StoredCertificate | None) -> str | None:
    """The team a stored certificate belongs to; None: the operators (or no certificate)."""
    team = current.extra.get("team") if current is not None else None
    return team if isinstance(team, str) and team else None


def _event_detail(kind: str, outcome: Outcome, ask: Ask) -> dict[str, Any]:
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
        "stage": details.get("stage"),
        "reason": details.get("message") or details.get("reason"),
        "rules": list(details.get("rules") or []),
        "retry_after": details.get("retry_after"),
        "requester": ask.requester.as_json(),
    }


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
