"""Revoke and re-key: `{"revoke": {"names" | "domains" | "serials": [...], "reason": ...}}`.

For a leaked server key. Each selected certificate, in turn:

    revoke at the CA that issued it (its account signs) → mark its serial revoked in cert.json
    → reissue the name with a fresh key (the issuance pipeline, forced)
    → if the reissue failed: remove the live PEM copies (cert.json still says which serial was
      revoked, so no puller installs it and the next request reissues)

Marking comes before the reissue, so a puller never installs the revoked set, whatever fails
after. One Slack summary is posted for the whole request; each reissue still puts its outcome
event on the bus. A team may revoke only its own certificates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from wildcert.adapters import slack
from wildcert.adapters.acme import AcmeError
from wildcert.adapters.bucket.certificates import CERT_FILES, StoredCertificate
from wildcert.adapters.bucket.inventory import ManagedCertificates
from wildcert.errors import WildcertError
from wildcert.jobs.issue.ask import Ask, owner_of
from wildcert.jobs.issue.outcome import Outcome, Refused, StageFailure
from wildcert.jobs.issue.telling import Teller
from wildcert.jobs.issue.wiring import Services
from wildcert.logic import cas
from wildcert.logic.cas import STAGING_NAME, Ca
from wildcert.logic.revocation import RevokeRejected, RevokeRequest, parse_revoke
from wildcert.logic.teams import Team
from wildcert.logic.times import iso


class Issuing(Protocol):
    """What a revoke needs of the issuer (jobs/issue/pipeline.py), which hands itself over."""

    services: Services
    tell: Teller
    now: Callable[[], dt.datetime]

    def who(self, ask: Ask) -> Team | None: ...

    def issue(self, ask: Ask) -> Outcome: ...

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Revoked:
    """What happened to one certificate: revoked (or already), then replaced or not."""

    name: str
    serial: str
    replaced_by: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "serial": self.serial, "replaced_by": self.replaced_by,
                "error": self.error}


class Revoker:
    """Runs one revoke request with the issuer's services; `quiet` reissues without Slack."""

    def __init__(self, issuer: Issuing, quiet: Issuing):
        self.issuer = issuer
        self.quiet = quiet
        self.services = issuer.services
        self.settings = issuer.services.settings

    def handle(self, ask: Ask) -> Outcome:
        team = self.issuer.who(ask)
        try:
            request = parse_revoke(ask.raw)
        except RevokeRejected as rejected:
            raise Refused("validation", rejected.problems) from None
        targets = self._targets(request, ask)
        if not targets:
            raise Refused("validation", [f"no stored certificate matches {request.selector} "
                                         f"{list(request.values)}"
                                         + (f" among team {team.id}'s" if team else "")])
        done = [self._revoke_and_rekey(ask, request, meta) for meta in targets]
        outcome = Outcome("revoked", None, (), {
            "reason": request.reason, "certificates": [d.as_dict() for d in done],
            **ask.about()})
        self.issuer.tell.tell(ask, outcome, None, _summary(request, done, ask.team_id))
        return outcome

    def _targets(self, request: RevokeRequest, ask: Ask) -> list[StoredCertificate]:
        """The selected live certificates; a team's own only (it never sees others')."""
        store = self.services.store
        if request.selector == "names":
            found = [store.current(name) for name in request.values]
            metas = [m for m in found if m is not None]
        else:
            inventory = ManagedCertificates(self.services.bucket).load()
            metas = [e.meta for e in inventory.entries]
        chosen = [m for m in metas if request.selects(m.name, m.domains, m.serial)]
        if ask.team is not None:
            chosen = [m for m in chosen if owner_of(m) == ask.team.id]
        return chosen

    def _revoke_and_rekey(self, ask: Ask, request: RevokeRequest,
                          meta: StoredCertificate) -> Revoked:
        try:
            self._revoke(request, meta)
        except (StageFailure, WildcertError) as exc:
            logger.error("revoke: %s serial %s not revoked: %s", meta.name, meta.serial, exc)
            return Revoked(meta.name, meta.serial, error=f"not revoked: {exc}")
        store = self.services.store
        marked = _marked(meta, request, self.issuer.now())
        store.bucket.put(f"{meta.name}/cert.json", marked.to_json(),
                         content_type="application/json")
        reissue = Ask({"name": meta.name, "domains": list(meta.domains),
                       "key_type": meta.key_type, "force": True,
                       **({"ca": meta.extra["ca"]} if meta.extra.get("ca") else {})},
                      requester=ask.requester, request_id=f"revoke-{meta.serial}")
        reissue.team = ask.team
        try:
            outcome = self.quiet.issue(reissue)
        except (Refused, StageFailure) as failure:
            self._withdraw_live_copies(meta.name)
            return Revoked(meta.name, meta.serial, error=f"revoked, not replaced: {failure}")
        logger.info("revoke: %s serial %s revoked (%s), replaced by %s", meta.name, meta.serial,
                    request.reason, outcome.details.get("serial"))
        return Revoked(meta.name, meta.serial, replaced_by=outcome.details.get("serial"))

    def _revoke(self, request: RevokeRequest, meta: StoredCertificate) -> None:
        ca = self._ca_of(meta)
        store = self.services.store
        # The account that ordered it: its owning team's, or (ordered before teams had their
        # own, or the operators') the operators'.
        owner = owner_of(meta) if self.services.teams.get(owner_of(meta)) else None
        account = store.load_account(ca.directory_url, owner) if owner else None
        if account is None or not account.account_url:
            account = store.load_account(ca.directory_url)
        if account is None or not account.account_url:
            raise AcmeError(f"no ACME account at CA {ca.name} to revoke {meta.name} with")
        session = self.services.acme_session(account)
        session.use_account(account.account_url)
        stored = store.bucket.get(meta.archive + "cert.pem")
        if stored is None:
            raise AcmeError(f"{store.bucket.url(meta.archive)}cert.pem is missing")
        if not session.revoke(stored.body, request.reason_code):
            logger.info("revoke: %s serial %s was revoked already", meta.name, meta.serial)

    def _ca_of(self, meta: StoredCertificate) -> Ca:
        name = cas.issuer_of(meta.extra, self.settings.cas)
        known = {c.name: c for c in (*self.settings.cas, *self.settings.cas_for(STAGING_NAME))}
        if name not in known:
            raise AcmeError(f"{meta.name} was issued by CA {name}, which ACME_CAS no longer "
                            "lists: add it back to revoke there")
        return known[name]

    def _withdraw_live_copies(self, name: str) -> None:
        """The revoked set must not stay served; cert.json stays and says why."""
        for filename in CERT_FILES:
            try:
                self.services.bucket.delete(f"{name}/{filename}")
            except WildcertError as exc:
                logger.error("revoke: could not remove %s/%s: %s", name, filename, exc)


def _marked(meta: StoredCertificate, request: RevokeRequest,
            now: dt.datetime) -> StoredCertificate:
    listed = [r for r in meta.extra.get("revoked", []) if isinstance(r, dict)]
    listed.append({"serial": meta.serial, "reason": request.reason, "revoked_at": iso(now)})
    return dataclasses.replace(meta, extra={**meta.extra, "revoked": listed})


def _summary(request: RevokeRequest, done: Sequence[Revoked], team: str | None) -> slack.Message:
    lines = [f"{d.name}: serial {d.serial} " + (f"revoked, replaced by {d.replaced_by}"
                                                if d.replaced_by else str(d.error))
             for d in done]
    return slack.revoked(request.reason, lines, team=team,
                         failed=sum(1 for d in done if d.replaced_by is None))
