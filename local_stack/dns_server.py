"""The authoritative DNS server on UDP and TCP, answering from `authority.respond`."""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from local_stack.authority import ZoneSource, respond
from local_stack.http_plumbing import Serving, serve_in_thread

log = logging.getLogger(__name__)

PLAIN_UDP_LIMIT = 512
TCP_IDLE_SECONDS = 10.0


@dataclass
class DnsStats:
    """Counts for benchmarks: how many queries were answered, by type, rcode and transport."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    total: int = 0
    by_qtype: Counter[str] = field(default_factory=Counter)
    by_rcode: Counter[str] = field(default_factory=Counter)
    by_transport: Counter[str] = field(default_factory=Counter)
    truncated: int = 0

    def record(
        self, query: dns.message.Message, response: dns.message.Message, transport: str
    ) -> None:
        qtype = dns.rdatatype.to_text(query.question[0].rdtype) if query.question else "NONE"
        with self.lock:
            self.total += 1
            self.by_qtype[qtype] += 1
            self.by_rcode[dns.rcode.to_text(response.rcode())] += 1
            self.by_transport[transport] += 1

    def count_truncated(self) -> None:
        with self.lock:
            self.truncated += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": self.total,
                "by_qtype": dict(self.by_qtype),
                "by_rcode": dict(self.by_rcode),
                "by_transport": dict(self.by_transport),
                "truncated": self.truncated,
            }


@dataclass
class Answerer:
    source: ZoneSource
    stats: DnsStats

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _formerr(wire)
        try:
            response = respond(query, self.source)
        except Exception:
            log.exception("answering %s failed", query.question)
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
        self.stats.record(query, response, transport)
        if transport == "tcp":
            return response.to_wire(max_size=65535)
        wire_out = response.to_wire(max_size=udp_limit(query), prefer_truncation=True)
        if response.flags & dns.flags.TC or _tc_bit(wire_out):
            self.stats.count_truncated()
        return wire_out


def udp_limit(query: dns.message.Message) -> int:
    """512 bytes without EDNS; the client's advertised payload (at least 512) with it."""
    if query.edns < 0:
        return PLAIN_UDP_LIMIT
    return max(PLAIN_UDP_LIMIT, min(query.payload, 65535))


def _tc_bit(wire: bytes) -> bool:
    return len(wire) >= 4 and bool(struct.unpack("!H", wire[2:4])[0] & dns.flags.TC)


def _formerr(wire: bytes) -> bytes | None:
    """FORMERR for a message whose header parses at all; silence otherwise, like BIND."""
    if len(wire) < 12:
        return None
    (ident, flags) = struct.unpack("!HH", wire[:4])
    if flags & dns.flags.QR:
        return None  # never answer a response
    reply_flags = dns.flags.QR | (flags & (dns.flags.RD | 0x7800)) | dns.rcode.FORMERR
    return struct.pack("!HHHHHH", ident, reply_flags, 0, 0, 0, 0)


class _UdpHandler(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        wire, sock = self.request
        reply = self.server.answerer.answer(wire, "udp")
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TcpHandler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(TCP_IDLE_SECONDS)
        try:
            while True:
                header = _read_exactly(conn, 2)
                if header is None:
                    return
                wire = _read_exactly(conn, struct.unpack("!H", header)[0])
                if wire is None:
                    return
                reply = self.server.answerer.answer(wire, "tcp")
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except (TimeoutError, ConnectionError):
            return


def _read_exactly(conn: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        if not chunk:
            return None
        chunks.extend(chunk)
    return bytes(chunks)


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    # No SO_REUSEADDR: on Linux it would let a second server share the UDP port silently.
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], answerer: Answerer) -> None:
        self.answerer = answerer
        super().__init__(address, _UdpHandler)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], answerer: Answerer) -> None:
        self.answerer = answerer
        super().__init__(address, _TcpHandler)


@dataclass
class DnsServer:
    host: str
    port: int
    source: ZoneSource
    stats: DnsStats = field(default_factory=DnsStats)
    _serving: list[Serving] = field(default_factory=list)

    def start(self) -> None:
        answerer = Answerer(self.source, self.stats)
        servers: list[socketserver.BaseServer] = [
            _UdpServer((self.host, self.port), answerer),
            _TcpServer((self.host, self.port), answerer),
        ]
        self._serving = [
            serve_in_thread(server, f"dns-{type(server).__name__}") for server in servers
        ]

    def stop(self) -> None:
        for serving in self._serving:
            serving.stop()
