"""The parts of the ACME adapter (`wildcert.adapters.acme`) that load no ACME library: its error,
an order's status and a new account key.

The pipeline and the stage reporting name these on every request; the `acme`, `josepy` and
`requests` stack behind the adapter (about a fifth of a second to import) is loaded only once a
request is about to reach the CA.
"""

from __future__ import annotations

import enum

from wildcert.errors import WildcertError
from wildcert.logic.certificates import generate_key, key_pem


class AcmeError(WildcertError):
    """The CA refused or failed; the message carries the CA's own words and what to do."""

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None,
                 detail: str | None = None):
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
        self.detail = detail  # the CA's problem detail alone: it says what a rate limit counts


class OrderStatus(enum.Enum):
    """An order's status (RFC 8555 §7.1.6)."""

    PENDING = "pending"
    READY = "ready"
    PROCESSING = "processing"
    VALID = "valid"
    INVALID = "invalid"


def new_account_key_pem() -> bytes:
    return key_pem(generate_key("ec256"))
