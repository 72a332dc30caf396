"""Where the watch may connect: the one reading of an `endpoints` entry, and which addresses
a resolved name may have.

Pure. The request validator and the watch both read entries with ``parse_endpoint``, so an
entry is refused by both or by neither, in the same words. An entry is a DNS host name and a
port from the deployment's ENDPOINT_PORTS, never an IP literal: the watch resolves the name
itself and refuses any address that is not public (``refused_address``), so that `endpoints`
cannot point the watch at the Lambda runtime API, a metadata service or a private network.
(The validator also wants the host inside an allowed zone; the watch has no zone names.)
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from wildcert.logic.request.domains import normalise_domain

DEFAULT_PORTS: tuple[int, ...] = (443,)
MAX_PORTS = 10
# A 253-character name, ':' and a port, with room for a trailing dot and leading zeros.
MAX_ENDPOINT_CHARS = 264

EXAMPLE = "e.g. 'www.example.com:443'"
IP_LITERAL = (
    "is an IP address, not a host name; endpoints must be DNS host names (no brackets or "
    f"zone ids), {EXAMPLE}"
)
NOT_HOST_PORT = f"is not host:port, {EXAMPLE}"

_PORT = re.compile(r"[0-9]{1,5}")
_V6_SHAPE = re.compile(r"[0-9a-f:.]*:[0-9a-f:.]*")
# inet_aton (what getaddrinfo falls back on) reads '127.1', '2130706433' and '0x7f.1' as IPv4.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Endpoint:
    host: str  # a normalised A-label host name, never an address
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class EndpointCheck:
    """One entry read: the endpoint, or what is wrong with it (a phrase after the entry)."""

    endpoint: Endpoint | None = None
    problem: str | None = None


def _bad(problem: str) -> EndpointCheck:
    return EndpointCheck(problem=problem)


def parse_endpoint(text: str, ports: Collection[int] = DEFAULT_PORTS) -> EndpointCheck:
    """Read ``host:port``: a host name (IDNA-normalised) and one of ``ports``."""
    text = text.strip().lower()
    if not text:
        return _bad(f"is empty; give host:port, {EXAMPLE}")
    if len(text) > MAX_ENDPOINT_CHARS:
        return _bad(f"is {len(text)} characters long; a host name is at most 253")
    host, colon, port = text.rpartition(":")
    if _is_ip_literal(text, host):
        return _bad(IP_LITERAL)
    if not colon or not host or not _PORT.fullmatch(port):
        return _bad(NOT_HOST_PORT)
    if int(port) not in ports:
        return _bad(f"uses port {int(port)}; this deployment connects only to "
                    f"{port_list(ports)} (ENDPOINT_PORTS)")
    if host.startswith("*."):
        return _bad(f"is a wildcard; give the host name a server answers on, {EXAMPLE}")
    checked = normalise_domain(host)
    if checked.name is None:
        return _bad(f"has a host name that {checked.problem}")
    return EndpointCheck(Endpoint(checked.name, int(port)))


def _is_ip_literal(text: str, host: str) -> bool:
    if "[" in text or "]" in text:  # brackets only ever hold an IPv6 address
        return True
    if _is_address(text) or _is_address(host):  # the latter with a zone id: 'fe80::1%eth0'
        return True
    if _V6_SHAPE.fullmatch(host.partition("%")[0]):
        return True
    last = host.removesuffix(".").rpartition(".")[2]
    return bool(_NUMERIC_LABEL.fullmatch(last))


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def port_list(ports: Collection[int]) -> str:
    """``port 443``, ``ports 443 and 8443``, ``ports 443, 8443 and 9443``."""
    ordered = [str(p) for p in sorted(set(ports))]
    if len(ordered) == 1:
        return f"port {ordered[0]}"
    return f"ports {', '.join(ordered[:-1])} and {ordered[-1]}"


# -- addresses ---------------------------------------------------------------------------------

_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")

# In this order, so an address gets its most telling name (169.254.0.0/16 is also private).
_REFUSED: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("an unspecified", lambda a: a.is_unspecified),
    ("a link-local", lambda a: a.is_link_local),
    ("a multicast", lambda a: a.is_multicast),
    ("a unique-local", lambda a: a in _UNIQUE_LOCAL),
    ("a site-local", lambda a: isinstance(a, ipaddress.IPv6Address) and a.is_site_local),
    ("a reserved", lambda a: a.is_reserved),
    ("a private", lambda a: a.is_private),
    ("a non-public", lambda a: not a.is_global),
)


def refused_address(address: str | IPAddress, *, allow_loopback: bool) -> str | None:
    """Why the watch may not connect to ``address`` (``"a private address"``…), or None.

    Loopback is refused unless ``allow_loopback`` (the local stack's tests). An IPv6 address
    that carries an IPv4 one (mapped, 6to4) is judged by both.
    """
    try:
        parsed = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return "an unreadable address"
    for candidate in _with_embedded(parsed):
        if candidate.is_loopback:
            if allow_loopback:
                continue
            return "a loopback address"
        for name, applies in _REFUSED:
            if applies(candidate):
                return f"{name} address"
    return None


def _with_embedded(address: IPAddress) -> list[IPAddress]:
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).partition("%")[0])
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return [embedded, address] if address.ipv4_mapped is None else [embedded]
    return [address]
