"""The set-up an order needs, started together once the pipeline knows it will order.

Before ordering, an issuance probes the bucket (once per container), reads the account key and
the CA's cooldown from it, loads the ACME stack (`acme`, `josepy`, `requests`: about a fifth
of a second) and fetches the CA's directory (once per container and hour); its later steps
load dnspython (a tenth of a second). One after another these add up;
started together, the imports and the key's parsing run while the requests wait on S3 and
the CA. The steps that need a piece (`Issuer._bucket_precheck`, `Issuer._acme_session`)
take it from here; dnspython is simply loaded by the time a step imports it. The Slack SDK
loads when the outcome is posted, not here: loaded while the order's requests and keys are
still alive it added 0.9 MiB to a cold issuance's peak, and ahead of time it saved no wall
time (`make bench`).

A piece that failed raises where its step takes it, inside that step's stage, as if the step
had done the work itself. What no step takes (the request stopped first: CAA, a cooldown, a
busy lease) finishes in the background and is dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wildcert.adapters.bucket.certificates import AccountRecord
from wildcert.deadline import Deadline
from wildcert.jobs.issue.wiring import Services
from wildcert.logic.ratelimit import Cooldown

if TYPE_CHECKING:
    from wildcert.adapters.acme import AcmeSession


@dataclass(frozen=True)
class HeadStart:
    probe: Future[None]
    account: Future[AccountRecord | None]  # None: no account for this CA yet
    cooldowns: Future[list[Cooldown]]  # every scope the CA limited, current or not
    session: Future[AcmeSession | None]  # the stored account's, with the CA's directory
    deadline: Deadline
    ca_bundle: str | None
    kms: Callable[[], Any]  # a KMS client, for an account key held there
    team: str | None = None  # whose ACME account: a team's; None: the operators'

    @classmethod
    def begin(cls, services: Services, directory_url: str,
              team: str | None = None) -> HeadStart:
        store, deadline = services.store, services.deadline
        ca_bundle = services.settings.acme_ca_bundle
        kms = functools.partial(services.client_factory, "kms")
        # Threads of its own: `session` waits for `account`, which a pool shared with other
        # issuances might not have started yet.
        pool = ThreadPoolExecutor(max_workers=5, thread_name_prefix="wildcert-head-start")
        try:
            pool.submit(_load_dns)
            account = pool.submit(store.load_account, directory_url, team)
            return cls(
                probe=pool.submit(store.probe),
                account=account,
                cooldowns=pool.submit(store.ca_cooldowns, directory_url),
                session=pool.submit(_stored_account_session, account, deadline, ca_bundle,
                                    kms),
                deadline=deadline,
                ca_bundle=ca_bundle,
                kms=kms,
                team=team,
            )
        finally:
            pool.shutdown(wait=False)  # each thread ends with its piece

    def session_for(self, account: AccountRecord) -> AcmeSession:
        """The session made ahead, or a new one for the account created since."""
        made = self.session.result()
        if made is not None:
            return made
        return new_session(account, self.deadline, self.ca_bundle, self.kms)


def new_session(account: AccountRecord, deadline: Deadline, ca_bundle: str | None,
                kms: Callable[[], Any]) -> AcmeSession:
    from wildcert.adapters.acme import AcmeSession

    return AcmeSession(account.directory_url, account_key(account, kms), deadline=deadline,
                       ca_bundle=ca_bundle)


def account_key(account: AccountRecord, kms: Callable[[], Any]) -> Any:
    """The account's key as AcmeSession takes it: the stored PEM, or a JWK signing in KMS."""
    if account.kms_key_id:
        from wildcert.adapters.kms_key import account_jwk

        return account_jwk(kms(), account.kms_key_id)
    return account.key_pem.encode()


def _stored_account_session(account: Future[AccountRecord | None], deadline: Deadline,
                            ca_bundle: str | None, kms: Callable[[], Any]) -> AcmeSession | None:
    import wildcert.adapters.acme  # noqa: F401 - loaded while the account key is read

    stored = account.result()
    if stored is None:
        return None
    session = new_session(stored, deadline, ca_bundle, kms)
    session.directory  # noqa: B018 - fetched now, while the bucket's requests wait
    return session


def _load_dns() -> None:
    """What the later steps import: dnspython for CAA and propagation. Nobody waits for this;
    a step imports it if it is not loaded yet."""
    from wildcert.adapters import dns

    dns.load()
