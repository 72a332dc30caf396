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
challenge value is written (`challenge_sites`) and how every outcome is told
(`telling.Teller`: one log line, Slack, an outcome event).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cryptography import x509

from wildcert.adapters import slack
from wildcert.adapters.acm import AcmImports, import_certificate, same_account
from wildcert.adapters.acme import AcmeError, AcmeSession, Order, new_account_key_pem
from wildcert.adapters.bucket.certificates import (
    AccountRecord,
    StoredCertificate,
)
from wildcert.adapters.bucket.leases import Busy
from wildcert.adapters.route53 import ChallengeRecord, ChallengeSite, HostedZone
from wildcert.errors import WildcertError
from wildcert.jobs.issue import accounts, challenge_sites
from wildcert.jobs.issue.ask import Ask, owner_of
from wildcert.jobs.issue.crash_safety import CLEANUP_SECONDS, CrashSafety
from wildcert.jobs.issue.outcome import (
    Outcome,
    Refused,
    StageFailure,
    in_stage,
    stage,
    unexpected,
)
from wildcert.jobs.issue.revoke import Revoker
from wildcert.jobs.issue.telling import Teller
from wildcert.jobs.issue.wiring import Services
from wildcert.logic import ari, cas, ratelimit, teams
from wildcert.logic.cas import Ca
from wildcert.logic.certificates import IssuedSet, PrivateKey, generate_key, make_csr
from wildcert.logic.renewal import early_reissue, skip_reason
from wildcert.logic.request import (
    DIRECT,
    CertificateRequest,
    Requester,
    RequestRejected,
    parse_request,
)
from wildcert.logic.request.acm import check_acm
from wildcert.logic.request.acm import regions as acm_regions
from wildcert.logic.revocation import is_revoke
from wildcert.logic.teams import Refusal, Team
from wildcert.logic.times import iso
from wildcert.logic.zones import session_name

__all__ = ["CLEANUP_SECONDS", "Ask", "Issuer", "Outcome", "Refused", "Services", "StageFailure"]

logger = logging.getLogger(__name__)
# A new name's place under the team's cap outlives the attempt's deadline by this much.
RESERVATION_MARGIN_SECONDS = 60.0


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
            self._admit(ask, request, current, orders=False)
            zone_of = challenge_sites.delegated(self.services, zone_of, zones, ask.owner)
            request = self._acm_targets(ask, request)
        reserved = self._admit(ask, request, current, orders=not reason)
        if current is not None and reason:
            return self.tell.skipped(ask, request, current, reason)
        try:
            return self._order_from_cas(ask, request, current, zone_of)
        finally:
            if reserved:  # stored (now counted as owned), refused or failed: either way done
                self._release(ask, reserved)

    def _order_from_cas(self, ask: Ask, request: CertificateRequest,
                        current: StoredCertificate | None,
                        zone_of: Mapping[str, ChallengeSite]) -> Outcome:
        """The request at its CAs in order of preference, the next when one cannot serve."""
        *preferred, last = self._cas(ask.team, request)
        passed: list[str] = []
        for ca in preferred:
            try:
                return self._issue_at(ca, ask, request, current, zone_of)
            except StageFailure as failure:
                if not self._fails_over(failure):
                    raise
                logger.warning("failover: CA %s is unavailable (%s); trying the next CA",
                               ca.name, failure.message)
                passed.append(f"{ca.name}: {failure.message}")
        try:
            return self._issue_at(last, ask, request, current, zone_of)
        except StageFailure as failure:
            if passed:
                failure.message += " (CAs tried before it: " + " | ".join(passed) + ")"
            raise

    def _issue_at(self, ca: Ca, ask: Ask, request: CertificateRequest,
                  current: StoredCertificate | None,
                  zone_of: Mapping[str, ChallengeSite]) -> Outcome:
        """The request at one CA: account, CAA for that CA, lease, order, store, tell."""
        account = self._bucket_precheck(request, current, ca, self._account_team(ask))
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
                imported = self._acm(request, issued, current, ask.owner)
                meta, location = self._store(ask, request, issued, current, session, ca=ca,
                                             account=account, acm=imported)
        except Busy as busy:
            return self.tell.busy(ask, request, busy)
        return self.tell.issued(ask, request, meta, location, issued,
                                renewal=current is not None, replaces=replaces,
                                recovered=held.recovered, ca=ca,
                                fallback=ca != self.settings.cas_for(request.ca)[0],
                                acm=imported)

    def _cas(self, team: Team | None, request: CertificateRequest) -> tuple[Ca, ...]:
        """The CAs this request may use, most preferred first (teams.toml may narrow them)."""
        usable = cas.usable(self.settings.cas_for(request.ca), team.acme_cas if team else None)
        if not usable:
            assert team is not None  # only a team's list can leave none
            raise Refused("policy", [f"team {team.id} may use none of the deployment's CAs "
                                     f"({', '.join(c.name for c in self.settings.cas)}); "
                                     "fix acme_cas in teams.toml"])
        return usable

    def _fails_over(self, failure: StageFailure) -> bool:
        """The CA could not serve (or asked for a wait longer than the request has left)."""
        cause = failure.__cause__
        unavailable = isinstance(cause, AcmeError) and cause.unavailable
        wait = failure.retry_after if failure.deferred else None
        return cas.fails_over(unavailable=unavailable, wait=wait,
                              remaining=self.deadline.remaining())

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
            ask.owner = owner_of(current)
        elif ask.team is not None:
            ask.owner = ask.team.id
        else:
            ask.owner = self.services.teams.namespace_owner(request.name)
        logger.info("owner: %s belongs to %s", request.name,
                    f"team {ask.owner}" if ask.owner else "the operators")

    def _admit(self, ask: Ask, request: CertificateRequest,
               current: StoredCertificate | None, *, orders: bool) -> str | None:
        """A team asks only for its own names and hosts, key types and CA, and within its caps
        (counted only for a request that would be ordered): else refused. The new name it
        reserved, if any, for `_release` once the request ends."""
        team = ask.team
        if team is None:
            self._still_fits(ask, request, current, orders=orders)
            return None
        now = self.now()
        asking = teams.Asking(
            team, request, stored=current is not None, owner=owner_of(current), orders=orders,
            early=orders and current is not None and early_reissue(
                current, now, remaining_fraction=self.settings.renew_at_remaining_fraction),
            day=now.date().isoformat(), request_id=ask.request_id,
            hold_until=iso(now + dt.timedelta(
                seconds=self.deadline.remaining() + RESERVATION_MARGIN_SECONDS)))
        with stage("precheck"):
            admission = teams.admit(asking, self.services.ledger)
        if not admission.admitted:
            raise Refused("policy", admission.refusals)
        counted = (f"; owns {admission.owned} of {team.max_certificates}"
                   if admission.owned is not None else
                   f"; forced reissue {admission.forced} of {team.max_forced_per_day} today"
                   if admission.forced is not None else "")
        logger.info("admit: team %s may ask for %s%s", team.id, request.name, counted)
        return admission.reserved

    def _still_fits(self, ask: Ask, request: CertificateRequest,
                    current: StoredCertificate | None, *, orders: bool) -> None:
        """A renewal from the queue of a team's certificate is held to the team's policy as
        it is now: one that no longer fits is refused, saying what changed. The operators'
        own renewals (direct invokes, their certificates) go on."""
        owner = self.services.teams.get(ask.owner)
        if ask.requester.kind != "queue" or owner is None or not orders:
            return
        endpoints = request.endpoints or tuple((current.extra if current else {}).get(
            "endpoints", ()))
        broken = teams.host_refusals(owner, request.domains, request.key_type, endpoints)
        if broken:
            raise Refused("policy", [teams.policy_changed(owner, request.name, broken)])

    def _release(self, ask: Ask, name: str) -> None:
        """Give back the new name's place under the cap; never raises (it lapses anyway)."""
        if ask.team is None:
            return
        try:
            self.services.ledger.release(ask.team.id, name)
        except Exception as exc:
            logger.warning("could not release team %s's reservation of %s (it lapses by "
                           "itself): %s", ask.team.id, name, exc)

    def _account_team(self, ask: Ask) -> str | None:
        """Whose ACME account orders: the certificate's owning team's; else the operators'."""
        return ask.owner if self.services.teams.get(ask.owner) else None

    def _bucket_precheck(self, request: CertificateRequest, current: StoredCertificate | None,
                         ca: Ca, team: str | None) -> AccountRecord:
        """The bucket takes our writes, the account key is there, and the CA has not said wait
        for anything this order would count against."""
        store = self.services.store
        directory = ca.directory_url
        with stage("precheck"):
            store.probe()
            account = store.load_account(directory, team) or store.create_account(
                self._new_account(directory, team))
            cooldowns = store.ca_cooldowns(directory)
        logger.info("bucket precheck: writable, %s account key for %s",
                    f"team {account.team}'s" if account.team else "the operators'", directory)
        now = self.now()
        same_ca = current is not None and cas.issuer_of(current.extra,
                                                        self.settings.cas) == ca.name
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
        return account

    def _caa(self, request: CertificateRequest, account: AccountRecord, ca: Ca) -> None:
        with stage("precheck"):
            problems = self.services.caa_problems(request.domains, ca.caa_identities,
                                                  account.account_url)
        logger.info("caa: %s", "; ".join(problems) if problems else f"CA {ca.name} may issue")
        if problems:
            raise Refused("precheck", problems)

    def _new_account(self, directory: str, team: str | None) -> AccountRecord:
        """A key in KMS for the operators' account when the setting names one: a CA binds one
        key to one account, so the teams' accounts keep keys of their own in the bucket."""
        kms_key = self.settings.account_kms_key
        if kms_key and team is None:
            return AccountRecord(directory, "", kms_key_id=kms_key)
        return AccountRecord(directory, new_account_key_pem().decode(), team=team)

    @in_stage("acme")
    def _acme_session(self, account: AccountRecord,
                      ca: Ca) -> tuple[AcmeSession, AccountRecord]:
        session = self.services.acme_session(account)
        if account.account_url:
            session.use_account(account.account_url)
            return accounts.to_kms(session, account, self.settings.account_kms_key,
                                   self.services.store, lambda: self.services.client_factory("kms"))
        wanted = self._new_account(account.directory_url, account.team)
        if wanted.kms_key_id and account.kms_key_id != wanted.kms_key_id:
            # Never registered: nothing to roll over, the KMS key registers instead.
            account = wanted
            session = self.services.acme_session(account)
        url = accounts.register(session, ca, self.settings.contact_email,
                                lambda: self.services.client_factory("secretsmanager"))
        account = dataclasses.replace(account, account_url=url)
        self.services.store.update_account(account)
        if account.kms_key_id:
            self.services.store.forget_account_history(account)
        return session, account

    @in_stage("acme")
    def _replaces(self, session: AcmeSession, current: StoredCertificate | None,
                  ca: Ca, account: AccountRecord) -> str | None:
        """The ARI CertID of the certificate this order renews, if the CA speaks ARI and
        issued it (`replaces` names a certificate of the CA it is sent to, RFC 9773 §5) to this
        account (the CA refuses to let another account's order replace it)."""
        if current is None or not current.extra.get("ari_id"):
            return None
        if cas.issuer_of(current.extra, self.settings.cas) != ca.name:
            return None
        if not ratelimit.ordered_by(current, account.account_url, account.team):
            logger.info("order: %s was ordered by another ACME account; no replaces",
                        current.name)
            return None
        return str(current.extra["ari_id"]) if session.renewal_info_url else None

    @in_stage("acme")
    def _order(self, session: AcmeSession, request: CertificateRequest,
               replaces: str | None, ca: Ca, account: AccountRecord) -> Order:
        profile = ca.profile
        session.check_profile(profile)
        try:
            order = session.new_order(request.domains, profile=profile, replaces=replaces)
        except AcmeError as exc:
            if exc.code == "rateLimited":
                raise self._rate_limited(exc, session.directory_url, request,
                                         account.team) from exc
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

    def _acm_targets(self, ask: Ask, request: CertificateRequest) -> CertificateRequest:
        """A request that names no ACM targets takes its team's (teams.toml `acm`), checked
        against its key type like a request's own, before anything is ordered."""
        team = self.services.teams.get(ask.owner)
        if request.acm or team is None or not team.acm:
            return request
        problems: list[str] = []
        targets = check_acm(list(team.acm), request.key_type, problems)
        if problems:
            raise Refused("policy", [f"team {team.id}'s {p}" for p in problems])
        return dataclasses.replace(request, acm=targets)

    def _acm(self, request: CertificateRequest, issued: IssuedSet,
             current: StoredCertificate | None, owner: str | None) -> AcmImports:
        """Import into ACM where the request asks, re-importing to the ARNs cert.json keeps.
        A request that does not say (a renewal from the queue) goes where the last one went:
        into the owning team's account through its role when it names one (only ever the
        certificate's own team's role), else into the issuer's."""
        team = self.services.teams.get(owner)
        access = team.acm_access if team else None
        stored = dict((current.extra if current else {}).get("acm") or {})
        regions = acm_regions(request.acm) if request.acm else tuple(stored)
        if not regions:
            return AcmImports()
        previous = same_account(stored, access.account if access else None)
        done = import_certificate(regions, request.name, issued, previous=previous,
                                  client_for=self.services.acm_through(access))
        # A region whose re-import failed keeps the ARN that still holds the old certificate.
        kept = {region: previous[region] for region in regions if region in previous}
        return AcmImports({**kept, **done.arns}, done.problems)

    def _store(self, ask: Ask, request: CertificateRequest, issued: IssuedSet,
               current: StoredCertificate | None, session: AcmeSession, *,
               ca: Ca, account: AccountRecord,
               acm: AcmImports | None = None) -> tuple[StoredCertificate, str]:
        meta = StoredCertificate.describe(request.name, issued, self.now())
        # Endpoints given once stay with the certificate through renewals that omit them.
        endpoints = list(request.endpoints) or list(
            (current.extra if current else {}).get("endpoints", []))
        meta = dataclasses.replace(meta, extra={
            **meta.extra, **self._renewal_info(session, issued),
            **({"request_id": ask.request_id} if ask.request_id else {}),
            **({"endpoints": endpoints} if endpoints else {}),
            **({"acm": acm.arns} if acm and acm.arns else {}),  # ACM ARNs by region
            **({"team": ask.owner} if ask.owner else {}),
            **({"ca": request.ca} if request.ca != "production" else {}),
            # Serials of this name revoked so far: pullers never install them.
            **({"revoked": current.extra["revoked"]}
               if current and current.extra.get("revoked") else {}),
            "acme_ca": ca.name,
            "acme_directory": ca.directory_url,
            "requester": ask.requester.as_json(),
            # Which ACME account ordered it: only that account's order may `replace` it.
            **({"acme_account": account.account_url} if account.account_url else {}),
        })
        with stage("storage"):
            location = self.services.store.save(meta, issued)
        logger.info("store: %s serial %s until %s", location, meta.serial, meta.not_after)
        return meta, location

    # -- what the steps share -----------------------------------------------------------------
    def _rate_limited(self, exc: AcmeError, directory: str, request: CertificateRequest,
                      team: str | None) -> StageFailure:
        """Make what the CA limited wait: only that (logic.ratelimit), for as long as it said.

        The request is deferred, not failed. Runs that passed the cooldown check just before
        another run met the limit meet it too; only a run that starts the cooldown tells Slack.
        """
        now = self.now()
        cooldown = ratelimit.cooldown_after(exc.detail, exc.retry_after, request.domains, now,
                                            str(exc), account=team or "")
        scope, wait = cooldown.scope.describe(), (cooldown.until - now).total_seconds()
        logger.warning("rate limit: the CA limited %s until %s", scope, iso(cooldown.until))
        started = True
        try:
            started = self.services.store.start_ca_cooldown(directory, cooldown, now)
        except WildcertError as error:
            logger.warning("could not record the CA's rate limit: %s", error)
        return StageFailure(
            "acme", f"{exc}; the request waits for {scope} and is retried automatically",
            retry_after=wait, deferred=True, told=not started)

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


_NOT_A_TEAM = {"direct": "the operators", "queue": "for the certificate's owner",
               "eventbridge": "no team"}
