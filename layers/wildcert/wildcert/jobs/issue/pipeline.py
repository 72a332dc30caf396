"""The issuance pipeline: one request in, one stored certificate (or one clear refusal) out.

`Issuer.issue` is the whole flow, step by step in the order it runs:

    who is asking → validate → whose name → which zones (CNAME delegations) → skip?
    → team admission (policy, caps) → at each CA in order of preference: bucket precheck
    (and that CA's cooldowns) → CAA → lease → order → publish TXT → wait for the name
    servers → answer → finalize → verify → store → tell

Each step below it is one small method, tagged with the stage a user sees when it fails
(see `wildcert.jobs.issue.outcome`), and logs one line. Next to this file: the outside systems
(`wiring.Services`), what keeps an order safe across a dead container (`crash_safety`: the
lease, the journal, recovery, publish and cleanup, the certificate's checks), where each
challenge value is written (`challenge_sites`), a team's admission and reservation
(`admission`), the CAs in order of preference (`failover`), the account at each CA
(`accounts`), the CA's rate limits as waits (`cooldowns`), ARI (`renewal_info`), ACM
(`acm_targets`) and how every outcome is told (`telling.Teller`: one log line, Slack, an
outcome event).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence

from wildcert.adapters import slack
from wildcert.adapters.acm import AcmImports
from wildcert.adapters.acme import AcmeError, AcmeSession, Order
from wildcert.adapters.bucket.certificates import AccountRecord, StoredCertificate
from wildcert.adapters.bucket.leases import Busy
from wildcert.adapters.route53 import ChallengeRecord, ChallengeSite
from wildcert.jobs.issue import (
    accounts,
    acm_targets,
    admission,
    challenge_sites,
    cooldowns,
    failover,
    renewal_info,
)
from wildcert.jobs.issue.ask import Ask, owner_of
from wildcert.jobs.issue.crash_safety import CrashSafety
from wildcert.jobs.issue.outcome import Outcome, Refused, StageFailure, in_stage, stage, unexpected
from wildcert.jobs.issue.revoke import Revoker
from wildcert.jobs.issue.telling import Teller
from wildcert.jobs.issue.wiring import Services
from wildcert.logic.cas import Ca
from wildcert.logic.certificates import IssuedSet, PrivateKey, generate_key, make_csr
from wildcert.logic.renewal import skip_reason
from wildcert.logic.request import (
    DIRECT,
    CertificateRequest,
    Requester,
    RequestRejected,
    parse_request,
)
from wildcert.logic.revocation import is_revoke
from wildcert.logic.teams import Team
from wildcert.logic.zones import HostedZone, session_name

logger = logging.getLogger(__name__)


class Issuer:
    def __init__(self, services: Services, notifier: slack.SlackNotifier | slack.Channels,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 holder: str | None = None):
        self.holder = holder or f"attempt-{uuid.uuid4().hex[:12]}"
        self.services = services
        self.settings = services.settings
        self.deadline = services.deadline
        channels = (notifier if isinstance(notifier, slack.Channels)
                    else slack.Channels(notifier))
        self.now = now
        self.safety = CrashSafety(services, channels, now, self.holder)
        self.tell = Teller(services, channels)

    def handle(self, raw: object, request_id: str | None = None,
               requester: Requester = DIRECT) -> Outcome:
        """Issue what `raw` asks for; every outcome is told once, and a failure is raised."""
        ask = Ask(raw, requester, request_id)
        try:
            if is_revoke(raw):
                return self._revoker().handle(ask)
            return self.issue(ask)
        except Refused as refused:
            return self.tell.rejected(ask, refused)
        except StageFailure as failure:
            failure.outcome = self.tell.failed(ask, failure).as_dict()
            raise
        except Exception as exc:  # a bug: still an outcome, told and raised as a failure
            logger.error("unexpected error handling %s", ask.identity()[0], exc_info=exc)
            bug = unexpected(exc)
            bug.outcome = self.tell.failed(ask, bug).as_dict()
            raise bug from exc

    def issue(self, ask: Ask) -> Outcome:
        zones = self._zones()
        team = self.who(ask)
        request = self._validate(ask, zones, team)
        current = self._current(request)
        self._whose(ask, request, current)
        zone_of = challenge_sites.chosen(request, zones, ask.owner)
        reason = skip_reason(current, request, ask.request_id, self.now(),
                             remaining_fraction=self.settings.renew_at_remaining_fraction)
        if not (current is not None and reason):  # before the caps count it: it may refuse
            # The policy first (nothing counted): a refused request asks no name server.
            admission.admit(self.services, ask, request, current, self.now, orders=False)
            zone_of = challenge_sites.delegated(self.services, zone_of, zones, ask.owner)
            request = acm_targets.with_team_targets(self.services, ask.owner, request)
        reserved = admission.admit(self.services, ask, request, current, self.now,
                                   orders=not reason)
        if current is not None and reason:
            return self.tell.skipped(ask, request, current, reason)
        try:  # at each CA in order of preference, the next only when one cannot serve
            return failover.first_that_serves(
                failover.usable(self.settings, ask.team, request),
                lambda ca: self._issue_at(ca, ask, request, current, zone_of),
                self.deadline.remaining)
        finally:
            if reserved:  # stored (now counted as owned), refused or failed: either way done
                admission.release(self.services, ask, reserved)

    def _issue_at(self, ca: Ca, ask: Ask, request: CertificateRequest,
                  current: StoredCertificate | None,
                  zone_of: Mapping[str, ChallengeSite]) -> Outcome:
        """The request at one CA: account, CAA for that CA, lease, order, store, tell."""
        account = self._bucket_precheck(request, current, ca, ask.owner)
        self._caa(request, account, ca)
        safety = self.safety
        try:
            with safety.lease(request) as held:
                session, account = self._acme_session(account, ca)
                replaces = self._replaces(session, current, ca, account)
                issued = safety.recover(session, held, request)
                if issued is None:
                    order = self._order(session, request, replaces, ca, account)
                    key = generate_key(request.key_type)
                    records = challenge_sites.records(order, zone_of)
                    safety.journal(held, order, key, records)
                    with safety.published(held, records):
                        self._wait_for_name_servers(records)
                        self._answer(session, order)
                        fullchain = self._finalize(session, order, key, request)
                    issued = safety.verify(key, fullchain, request)
                held.certificate_exists = True
                imported = acm_targets.imported(
                    self.services, request, issued, current, owner=ask.owner,
                    request_id=ask.request_id or self.holder)
                meta, location = self._store(ask, request, issued, current, session, ca=ca,
                                             account=account, acm=imported)
        except Busy as busy:
            return self.tell.busy(ask, request, busy)
        return self.tell.issued(ask, request, meta, location, issued,
                                renewal=current is not None, replaces=replaces,
                                recovered=held.recovered, ca=ca,
                                fallback=ca != self.settings.cas_for(request.ca)[0],
                                acm=imported)

    # -- the steps, in pipeline order ---------------------------------------------------------
    @in_stage("precheck")
    def _zones(self) -> list[HostedZone]:
        return self.services.listed_zones()

    def _revoker(self) -> Revoker:
        """Revoke and re-key; the reissues tell Slack nothing (the revoker posts a summary)."""
        quiet = slack.Channels(slack.SlackNotifier(None))
        return Revoker(self, Issuer(self.services, quiet, self.now, self.holder))

    def who(self, ask: Ask) -> Team | None:
        """The team the envelope says is asking; an event from no team is refused."""
        return admission.identify(self.services, ask)

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
            ask.owner = owner_of(current)
        elif ask.team is not None:
            ask.owner = ask.team.id
        else:
            ask.owner = self.services.teams.namespace_owner(request.name)
        logger.info("owner: %s belongs to %s", request.name,
                    f"team {ask.owner}" if ask.owner else "the operators")
        # Whoever asks (the team, the renewal queue, the operators), a zone in another account
        # sees the certificate's team in the STS session, with the request (or this attempt).
        self.services.zone_session = session_name(ask.owner, ask.request_id or self.holder)

    def _bucket_precheck(self, request: CertificateRequest, current: StoredCertificate | None,
                         ca: Ca, owner: str | None) -> AccountRecord:
        """The bucket takes our writes, the account key is there, and the CA has not said wait
        for anything this order would count against."""
        store, directory = self.services.store, ca.directory_url
        with stage("precheck"):
            store.probe()
            account = accounts.stored(self.services, directory, owner)
            held = store.ca_cooldowns(directory)
        logger.info("bucket precheck: writable, %s account key for %s",
                    f"team {account.team}'s" if account.team else "the operators'", directory)
        cooldowns.wait_if_held(held, request, current, ca=ca, every_ca=self.settings.cas,
                               account=account, now=self.now())
        return account

    def _caa(self, request: CertificateRequest, account: AccountRecord, ca: Ca) -> None:
        with stage("precheck"):
            problems = self.services.caa_problems(request.domains, ca.caa_identities,
                                                  account.account_url)
        logger.info("caa: %s", "; ".join(problems) if problems else f"CA {ca.name} may issue")
        if problems:
            raise Refused("precheck", problems)

    @in_stage("acme")
    def _acme_session(self, account: AccountRecord,
                      ca: Ca) -> tuple[AcmeSession, AccountRecord]:
        return accounts.session_for(self.services, account, ca)

    @in_stage("acme")
    def _replaces(self, session: AcmeSession, current: StoredCertificate | None,
                  ca: Ca, account: AccountRecord) -> str | None:
        return renewal_info.replaces(session, current, ca, self.settings.cas, account)

    @in_stage("acme")
    def _order(self, session: AcmeSession, request: CertificateRequest,
               replaces: str | None, ca: Ca, account: AccountRecord) -> Order:
        profile = ca.profile
        session.check_profile(profile)
        try:
            order = session.new_order(request.domains, profile=profile, replaces=replaces)
        except AcmeError as exc:
            if exc.code == "rateLimited":
                raise cooldowns.rate_limited(
                    self.services.store, exc, request, directory=session.directory_url,
                    team=account.team, now=self.now()) from exc
            if exc.code != "alreadyReplaced" or not replaces:
                raise
            # Another order already claimed the old certificate (RFC 9773 §5): order
            # without the claim, losing only the rate-limit exemption.
            logger.warning("order: %s was already replaced; ordering without replaces", replaces)
            order = session.new_order(request.domains, profile=profile)
        logger.info("order: %s, %d challenge(s) to answer", order.url, len(order.challenges))
        return order

    @in_stage("dns")
    def _wait_for_name_servers(self, records: Sequence[ChallengeRecord]) -> None:
        if not records:
            return
        self.services.wait_until_published(records)
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

    def _store(self, ask: Ask, request: CertificateRequest, issued: IssuedSet,
               current: StoredCertificate | None, session: AcmeSession, *,
               ca: Ca, account: AccountRecord,
               acm: AcmImports | None = None) -> tuple[StoredCertificate, str]:
        meta = StoredCertificate.describe(request.name, issued, self.now())
        meta = dataclasses.replace(meta, extra={
            **meta.extra, **ask.recorded(current),
            **renewal_info.window(session, issued, self.now),
            **({"acm": acm.arns} if acm and acm.arns else {}),  # ACM ARNs by region
            "acme_ca": ca.name,
            "acme_directory": ca.directory_url,
            # Which ACME account ordered it: only that account's order may `replace` it.
            **({"acme_account": account.account_url} if account.account_url else {}),
        })
        with stage("storage"):
            location = self.services.store.save(meta, issued)
        logger.info("store: %s serial %s until %s", location, meta.serial, meta.not_after)
        return meta, location
