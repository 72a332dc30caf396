"""What an endpoint serves: the TLS probe the watch sends to the hosts a certificate names.

An endpoint's name is resolved once and refused unless every address is public (or loopback,
where the settings allow it); the certificate is fetched from the addresses checked, so a name
that changes its answer between the check and the connection (DNS rebinding) is never asked
again. What is served is read, not trusted: no verification, the point is to see it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509

from wildcert.adapters.dns import LookupFailed
from wildcert.errors import WildcertError
from wildcert.logic.request.endpoints import Endpoint, refused_address

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 5.0
# One endpoint, resolution and every address tried included.
ENDPOINT_SECONDS = 12.0
MAX_ADDRESSES = 4  # tried in turn when one fails, like socket.create_connection


class NotProbed(WildcertError):
    """The watch did not connect to an endpoint; the message is the finding's text."""

    def __init__(self, text: str, kind: str):
        super().__init__(text)
        self.text = text
        self.kind = kind


Resolve = Callable[[str], Sequence[str]]
Fetch = Callable[[str, int, str, float], x509.Certificate]


def system_addresses(host: str) -> list[str]:
    """The addresses the system resolver gives for `host`: what a deployed watch uses."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def fetch_certificate(address: str, port: int, sni: str,
                      timeout: float = PROBE_TIMEOUT_SECONDS) -> x509.Certificate:
    """The leaf served at `address` (a literal: nothing is resolved here) for `sni`, unverified:
    the point is to see what is served."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    parsed = ipaddress.ip_address(address)
    family = socket.AF_INET6 if parsed.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as raw:
        raw.settimeout(timeout)
        raw.connect((address, port))
        with context.wrap_socket(raw, server_hostname=sni) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("the server presented no certificate")
    return x509.load_der_x509_certificate(der)


@dataclass(frozen=True)
class Prober:
    """Resolve an endpoint's name once, refuse it unless every address is public, and fetch the
    certificate from the addresses checked: a name that changes its answer between the check
    and the connection (DNS rebinding) is never asked again."""

    resolve: Resolve = system_addresses
    allow_loopback: bool = False
    fetch: Fetch = fetch_certificate
    timeout: float = PROBE_TIMEOUT_SECONDS
    budget: float = ENDPOINT_SECONDS  # for the whole endpoint, every address included
    clock: Callable[[], float] = time.monotonic

    def __call__(self, endpoint: Endpoint, sni: str) -> x509.Certificate:
        ends = self.clock() + self.budget
        addresses = self._checked(endpoint)
        failure: OSError | ValueError | None = None
        for address in addresses[:MAX_ADDRESSES]:
            left = ends - self.clock()
            if left <= 0:
                failure = failure or TimeoutError(f"no time left for {endpoint}")
                break
            try:
                return self.fetch(address, endpoint.port, sni, min(self.timeout, left))
            except (OSError, ValueError) as exc:  # ssl.SSLError and socket errors are OSErrors
                logger.debug("%s at %s (SNI %s): %s: %s", endpoint, address, sni,
                             type(exc).__name__, exc)
                failure = exc
        raise failure or OSError("no address to connect to")

    def _checked(self, endpoint: Endpoint) -> list[str]:
        try:
            found = list(self.resolve(endpoint.host))
        except (OSError, LookupFailed) as exc:
            logger.debug("%s does not resolve: %s: %s", endpoint.host, type(exc).__name__, exc)
            found = []
        if not found:
            raise NotProbed(f"could not resolve {endpoint}", "unreachable")
        for address in found:
            reason = refused_address(address, allow_loopback=self.allow_loopback)
            if reason:
                logger.debug("%s resolves to %s, %s", endpoint.host, address, reason)
                raise NotProbed(f"{endpoint} resolves to {reason}; the watch connects only to "
                                "public addresses", "refused")
        # A Lambda function outside a VPC has no IPv6 egress: IPv4 first.
        return sorted(found, key=lambda a: ":" in a)
