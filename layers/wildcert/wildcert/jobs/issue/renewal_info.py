"""ACME Renewal Information (RFC 9773) in an issuance: the certificate an order replaces, and
the renewal window the CA offers for the new one, kept in cert.json."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509

from wildcert.adapters.acme import AcmeError, AcmeSession
from wildcert.adapters.bucket.certificates import AccountRecord, StoredCertificate
from wildcert.logic import ari, cas, ratelimit
from wildcert.logic.cas import Ca
from wildcert.logic.certificates import IssuedSet

logger = logging.getLogger(__name__)


def replaces(session: AcmeSession, current: StoredCertificate | None, ca: Ca,
             every_ca: Sequence[Ca], account: AccountRecord) -> str | None:
    """The ARI CertID of the certificate this order renews, if the CA speaks ARI and
    issued it (`replaces` names a certificate of the CA it is sent to, RFC 9773 §5) to this
    account (the CA refuses to let another account's order replace it)."""
    if current is None or not current.extra.get("ari_id"):
        return None
    if cas.issuer_of(current.extra, every_ca) != ca.name:
        return None
    if not ratelimit.ordered_by(current, account.account_url, account.team):
        logger.info("order: %s was ordered by another ACME account; no replaces",
                    current.name)
        return None
    return str(current.extra["ari_id"]) if session.renewal.url else None


def window(session: AcmeSession, issued: IssuedSet,
           now: Callable[[], dt.datetime]) -> dict[str, Any]:
    """ari_id always; the CA's window when it offers ARI (best effort: the sweep retries)."""
    try:
        cert_id = ari.cert_id(issued.leaf)
    except (ari.InvalidRenewalInfo, x509.ExtensionNotFound):
        return {}
    extra: dict[str, Any] = {"ari_id": cert_id}
    try:
        if session.renewal.url:
            body, retry_after = session.renewal.fetch(cert_id)
            info = ari.parse(body, retry_after_seconds=retry_after, now=now())
            extra["ari"] = info.as_json()
    except (AcmeError, ari.InvalidRenewalInfo) as exc:
        logger.warning("no renewal information for %s yet: %s", cert_id, exc)
    return extra
