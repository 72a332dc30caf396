"""What the stack's loopback HTTP servers share: serving on a thread, forwarding, answers
and fault-rule firing (their control routes: local_stack/control.py).

The ACME front (before Pebble) and the AWS fault proxy (before moto) are the same kind of
thing: a threaded HTTP/1.1 server that forwards whole bodies, answers control requests in
JSON and fails chosen requests by rules; the Slack sink and the DNS server share the thread.
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

# Connection-specific fields (RFC 9110 7.6.1) never cross a proxy. content-length is here
# too: the proxies hold whole bodies and state the length of what they send themselves.
# Each proxy adds what its own way of relaying needs.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
JOIN_TIMEOUT = 5.0


def end_to_end(
    headers: Iterable[tuple[str, str]], hop_by_hop: frozenset[str]
) -> list[tuple[str, str]]:
    """The headers that may be relayed, in order, names as sent."""
    return [(name, value) for name, value in headers if name.lower() not in hop_by_hop]


# ---- answers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def with_json(self, body: Any, *, indent: int | None = None) -> Answer:
        return Answer(self.status, self.headers, json.dumps(body, indent=indent).encode())


def json_answer(
    status: int,
    body: Any,
    headers: Iterable[tuple[str, str]] = (),
    *,
    indent: int | None = None,
) -> Answer:
    return Answer(
        status,
        [("Content-Type", "application/json"), *headers],
        json.dumps(body, indent=indent).encode(),
    )


class AnswerHandler(BaseHTTPRequestHandler):
    """Sends whole `Answer`s over HTTP/1.1 keep-alive, or resets the connection."""

    protocol_version = "HTTP/1.1"

    def content_length(self, answer: Answer) -> str | None:
        """The Content-Length to add to the answer's own headers; None adds none."""
        return str(len(answer.body))

    def send_answer(self, answer: Answer) -> None:
        self.send_response_only(answer.status)
        for name, value in answer.headers:
            self.send_header(name, value)
        length = self.content_length(answer)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def reset_connection(self) -> None:
        # Linger 0 makes close send RST: the client sees a reset, not a polite end.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


# ---- fault rules ---------------------------------------------------------------------


def fire(
    count: int | None, probability: float | None, chance: Callable[[], float]
) -> tuple[bool, int | None]:
    """Whether a matching rule fires, and its `count` after: a count of None never runs out,
    a probability of None always holds; `chance` is asked only while the count lasts."""
    if count is not None and count <= 0:
        return False, count
    if probability is not None and chance() >= probability:
        return False, count
    return True, None if count is None else count - 1


# ---- rate limits ---------------------------------------------------------------------


@dataclass
class TokenBucket:
    """`capacity` requests at once, refilled evenly over `period` seconds: the shape of both
    Route 53's per-account limit and Let's Encrypt's (which are token buckets, not windows).
    Not thread-safe: the owner holds its lock. Times are `time.monotonic()` seconds."""

    capacity: float
    period: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, capacity: float, period: float, now: float) -> TokenBucket:
        if capacity <= 0 or period <= 0:
            raise ValueError("a token bucket needs a positive capacity and period")
        return cls(capacity, period, capacity, now)

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return self.capacity / self.period

    def available(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = max(self.stamp, now)
        return self.tokens

    def take(self, now: float, amount: float = 1.0) -> bool:
        if self.available(now) < amount:
            return False
        self.tokens -= amount
        return True

    def refund(self, now: float, amount: float = 1.0) -> None:
        self.tokens = min(self.capacity, self.available(now) + amount)

    def wait(self, now: float, amount: float = 1.0) -> float:
        """Seconds until `amount` tokens are there (0 if they already are)."""
        return max(0.0, amount - self.available(now)) / self.rate


# ---- serving -------------------------------------------------------------------------


@dataclass(frozen=True)
class Serving:
    """A socketserver answering on a daemon thread of the serve process."""

    server: socketserver.BaseServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=JOIN_TIMEOUT)


def serve_in_thread(server: socketserver.BaseServer, name: str) -> Serving:
    """Serve `server` on a new thread. No wait for readiness is needed: the server was bound
    (and a TCP one listens) when it was made, so clients queue until the loop takes them."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return Serving(server, thread)
