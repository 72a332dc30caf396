"""ACME requests as Pebble saw them, counted from its log (one line per request it handles).

Pebble logs the route of every request it serves ("POST /authZ/ -> calling handler()"), so
counting lines counts what any client sent, without touching the client.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

_REQUEST = re.compile(r"\b(GET|HEAD|POST) (/\S*) -> calling handler\(\)")

# Pebble 2.4's routes, named by the ACME resource they serve (RFC 8555 §7.1).
ROUTE_STEPS = {
    "/dir": "directory",
    "/nonce-plz": "newNonce",
    "/sign-me-up": "newAccount",
    "/my-account/": "account",
    "/order-plz": "newOrder",
    "/authZ/": "authz",
    "/chalZ/": "challenge",
    "/finalize-order/": "finalize",
    "/my-order/": "order",
    "/certZ/": "certificate",
    "/revoke-cert": "revokeCert",
    "/rollover-account-key": "keyChange",
}


def step_of(method: str, route: str) -> str:
    """`METHOD step` for a logged route; unknown routes keep their path."""
    return f"{method} {ROUTE_STEPS.get(route, route)}"


def count_requests(text: str) -> Counter[str]:
    """Requests by `METHOD step` in a stretch of Pebble's log."""
    return Counter(step_of(m.group(1), m.group(2)) for m in _REQUEST.finditer(text))


class LogCursor:
    """Counts the requests logged since the last `mark()` (runs must not overlap)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.mark()

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def since_mark(self) -> Counter[str]:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode("utf-8", "replace")
        return count_requests(text)
