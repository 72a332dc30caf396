"""Where each local-stack service listens: fixed offsets from one base port, all on loopback."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_PORT_BASE = 14000


class PortInUse(RuntimeError):
    """Another process already listens on a port the stack needs."""


EXIT_PORT_IN_USE = 98  # errno EADDRINUSE: tells `start` to say so (or a test to move on)


@dataclass(frozen=True)
class Ports:
    base: int = DEFAULT_PORT_BASE

    @property
    def acme(self) -> int:
        return self.base

    @property
    def pebble_management(self) -> int:
        return self.base + 1

    @property
    def http01(self) -> int:
        return self.base + 2

    @property
    def tlsalpn01(self) -> int:
        return self.base + 3

    @property
    def acme_front(self) -> int:
        """The ACME front before Pebble: what wildcert's ACME_DIRECTORY_URL names."""
        return self.base + 4

    # The second CA: another Pebble (its own root, External Account Binding required) and a
    # front of its own, so faults and counts at one CA never touch the other.
    @property
    def second_acme(self) -> int:
        return self.base + 5

    @property
    def second_pebble_management(self) -> int:
        return self.base + 6

    @property
    def second_http01(self) -> int:
        return self.base + 7

    @property
    def second_tlsalpn01(self) -> int:
        return self.base + 8

    @property
    def second_acme_front(self) -> int:
        """The second CA's front: what the stack's second entry of ACME_CAS names."""
        return self.base + 9

    @property
    def moto(self) -> int:
        return self.base + 10

    @property
    def aws_faults(self) -> int:
        """The AWS fault proxy before moto: what the stack's AWS_ENDPOINT_URL names."""
        return self.base + 11

    @property
    def dns(self) -> int:
        return self.base + 53

    @property
    def slack(self) -> int:
        return self.base + 80

    def listened(self) -> list[tuple[str, int, int]]:
        """(service, port, socket type) for every socket the serve process binds."""
        return [
            ("Pebble ACME", self.acme, socket.SOCK_STREAM),
            ("Pebble management", self.pebble_management, socket.SOCK_STREAM),
            ("ACME front", self.acme_front, socket.SOCK_STREAM),
            ("second Pebble ACME", self.second_acme, socket.SOCK_STREAM),
            ("second Pebble management", self.second_pebble_management, socket.SOCK_STREAM),
            ("second ACME front", self.second_acme_front, socket.SOCK_STREAM),
            ("moto", self.moto, socket.SOCK_STREAM),
            ("AWS fault proxy", self.aws_faults, socket.SOCK_STREAM),
            ("DNS (TCP)", self.dns, socket.SOCK_STREAM),
            ("DNS (UDP)", self.dns, socket.SOCK_DGRAM),
            ("Slack sink", self.slack, socket.SOCK_STREAM),
        ]


def ensure_free(ports: Ports) -> None:
    """Fail early and clearly: moto's server thread would otherwise hang on a bind error."""
    busy = [f"{name} port {port}" for name, port, kind in ports.listened() if _in_use(port, kind)]
    if busy:
        hint = "another local stack? pick another --port-base"
        low, high = ephemeral_range()
        if ports.base <= high and ports.slack >= low:
            # Outgoing connections borrow these ports; their TIME_WAITs block a bind for 60 s.
            hint = f"ports {low}-{high} are the ephemeral range: pick a base below {low - 80}"
        raise PortInUse(f"already in use on {HOST}: {', '.join(busy)} ({hint})")


def free_port_base(first: int, stride: int = 100, tries: int = 40) -> int:
    """The first base from `first` up whose ports are all free (other stacks run alongside)."""
    for base in range(first, first + stride * tries, stride):
        try:
            ensure_free(Ports(base))
        except PortInUse:
            continue
        return base
    raise PortInUse(f"no free port base among {first}..{first + stride * (tries - 1)}")


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _in_use(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        if kind == socket.SOCK_STREAM:
            # TIME_WAIT leftovers of a previous run must not count as busy.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False
