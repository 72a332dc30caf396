"""wildcert's ACME account at a CA: the session signed with its key, registered when it is new
(with the CA's External Account Binding when it has one), moved to the KMS key the settings
name. The EAB HMAC key is read from Secrets Manager at registration only, signs the binding
and is dropped: it is in no log, message or error."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from wildcert.adapters.acme import AcmeError, AcmeSession, ExternalAccount, new_account_key_pem
from wildcert.adapters.aws import AwsError, secret_string
from wildcert.adapters.bucket.certificates import AccountRecord, CertificateStore
from wildcert.adapters.kms_key import account_jwk
from wildcert.jobs.issue.wiring import Services
from wildcert.logic.cas import Ca

logger = logging.getLogger(__name__)


def session_for(services: Services, account: AccountRecord,
                ca: Ca) -> tuple[AcmeSession, AccountRecord]:
    """A session at `ca` signed with the account's key, the account registered if need be."""
    settings = services.settings
    session = services.acme_session(account)
    if account.account_url:
        session.use_account(account.account_url)
        return to_kms(session, account, settings.account_kms_key, services.store,
                      lambda: services.client_factory("kms"))
    wanted = new_record(account.directory_url, account.team, settings.account_kms_key)
    if wanted.kms_key_id and account.kms_key_id != wanted.kms_key_id:
        # Never registered: nothing to roll over, the KMS key registers instead.
        account = wanted
        session = services.acme_session(account)
    url = register(session, ca, settings.contact_email,
                   lambda: services.client_factory("secretsmanager"))
    account = dataclasses.replace(account, account_url=url)
    services.store.update_account(account)
    if account.kms_key_id:
        services.store.forget_account_history(account)
    return session, account


def stored(services: Services, directory: str, owner: str | None) -> AccountRecord:
    """The account that orders at `directory`: the certificate's owning team's, else the
    operators'; its key created in the bucket when it has none yet."""
    team = owner if services.teams.get(owner) else None
    store = services.store
    return store.load_account(directory, team) or store.create_account(
        new_record(directory, team, services.settings.account_kms_key))


def new_record(directory: str, team: str | None, kms_key: str | None) -> AccountRecord:
    """A key in KMS for the operators' account when the setting names one: a CA binds one
    key to one account, so the teams' accounts keep keys of their own in the bucket."""
    if kms_key and team is None:
        return AccountRecord(directory, "", kms_key_id=kms_key)
    return AccountRecord(directory, new_account_key_pem().decode(), team=team)


def register(session: AcmeSession, ca: Ca, email: str | None,
             secrets: Callable[[], Any]) -> str:
    """The account URL at `ca` for the session's key, created if need be."""
    if ca.eab_secret is None:
        if session.requires_external_account:
            raise AcmeError(
                f"CA {ca.name} ({ca.directory_url}) requires External Account Binding and its "
                "ACME_CAS entry names no eab_secret: store the key id and HMAC key the CA "
                'issued in Secrets Manager as {"kid": ..., "hmac_key": ...} and name that '
                "secret in the entry's eab_secret.")
        return session.register(email)
    external = external_account(ca, secrets)
    try:
        return session.register(email, external)
    except AcmeError as exc:
        if exc.unavailable:
            raise
        raise AcmeError(
            f"CA {ca.name} refused wildcert's account: {exc} Check that the secret "
            f"{ca.eab_secret} holds the key id and HMAC key the CA issued for this deployment "
            "(an EAB credential is often single-use: ask the CA for a new one if it was used).",
            code=exc.code) from exc


def to_kms(session: AcmeSession, account: AccountRecord, kms_key: str | None,
           store: CertificateStore, kms: Callable[[], Any]) -> tuple[AcmeSession, AccountRecord]:
    """Move a registered account to the KMS key by ACME key rollover (RFC 8555 §7.3.5), when
    the setting names one and the account is not there yet: its URL and history stay. Then
    the bucket forgets the old key, earlier versions of the account's object included.

    The operators' account only: a CA binds one key to one account, so a team's account keeps
    its own key in the bucket.
    """
    if not kms_key or account.kms_key_id == kms_key or account.team is not None:
        return session, account
    session.change_key(account_jwk(kms(), kms_key))
    moved = dataclasses.replace(account, key_pem="", kms_key_id=kms_key)
    store.update_account(moved)
    deleted = store.forget_account_history(moved)
    logger.info("account: %s rolled over to KMS key %s; %d earlier version(s) of its object "
                "deleted", account.account_url, kms_key, deleted)
    return session, moved


def external_account(ca: Ca, secrets: Callable[[], Any]) -> ExternalAccount:
    where = f"CA {ca.name}'s External Account Binding (secret {ca.eab_secret})"
    if ca.eab_secret is None:
        raise AcmeError(f"{where}: its ACME_CAS entry names no eab_secret to read.")
    try:
        raw = secret_string(secrets(), ca.eab_secret)
    except AwsError as exc:
        raise AcmeError(f"could not read {where}: {exc.code or exc}; create the secret as "
                        '{"kid": ..., "hmac_key": ...} and let the issuer role read it.') from exc
    try:
        body = json.loads(raw)
        kid, hmac_key = body["kid"], body["hmac_key"]
    except (ValueError, KeyError, TypeError):
        raise AcmeError(f"{where} is not a JSON object with \"kid\" and \"hmac_key\"; "
                        "store it in that form.") from None
    if not (isinstance(kid, str) and kid and isinstance(hmac_key, str) and hmac_key):
        raise AcmeError(f"{where} has an empty kid or hmac_key; store the CA's values.")
    return ExternalAccount(kid, hmac_key)
