"""A scripted ACME server on loopback, for unit tests of wildcert's ACME adapter.

It answers each path from a script and records what it was sent (the JWS payloads decoded),
so a test sees the requests `acme` really signs and sends, and can make the CA do on cue what
Pebble will not: a Retry-After on a poll, a rateLimited refusal, a slow answer.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.unit.fakes import FakeTime
from wildcert.adapters.acme import AcmeSession, new_account_key_pem

NONCE = base64.urlsafe_b64encode(b"n" * 16).rstrip(b"=").decode()
TOKEN = base64.urlsafe_b64encode(b"t" * 32).rstrip(b"=").decode()
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    payload: Any


class ScriptedCa(ThreadingHTTPServer):
    """Answers each (method, path) with the next scripted Answer; the last one repeats."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.base = f"http://127.0.0.1:{self.server_address[1]}"
        self.script: dict[tuple[str, str], list[Answer]] = {}
        self.seen: list[Seen] = []
        self.released = threading.Event()
        self.on("GET", "/dir", Answer(body={
            "newNonce": f"{self.base}/nonce", "newAccount": f"{self.base}/account",
            "newOrder": f"{self.base}/new-order", "renewalInfo": f"{self.base}/ari/",
            "meta": {"profiles": {"classic": "the usual"}},
        }))
        self.on("HEAD", "/nonce", Answer())

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.script[(method, path)] = list(answers)

    def answer(self, method: str, path: str, payload: Any) -> Answer:
        self.seen.append(Seen(method, path, payload))
        answers = self.script.get((method, path)) or [Answer(404, {"detail": "no such path"})]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def posts(self, path: str) -> list[Any]:
        return [s.payload for s in self.seen if s.method == "POST" and s.path == path]


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedCa

    def do_GET(self) -> None:
        self._reply(self.server.answer("GET", self.path, None))

    def do_HEAD(self) -> None:
        self._reply(self.server.answer("HEAD", self.path, None))

    def do_POST(self) -> None:
        jws = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        raw = base64.urlsafe_b64decode(jws["payload"] + "=" * (-len(jws["payload"]) % 4))
        self._reply(self.server.answer("POST", self.path, json.loads(raw) if raw else None))

    def _reply(self, answer: Answer) -> None:
        if answer.delay:
            self.server.released.wait(answer.delay)
        if isinstance(answer.body, str):
            data, kind = answer.body.encode(), "application/pem-certificate-chain"
        elif answer.status >= 400:
            data, kind = json.dumps(answer.body).encode(), "application/problem+json"
        else:
            data, kind = json.dumps(answer.body).encode() if answer.body is not None else b"", \
                "application/json"
        self.send_response(answer.status)
        self.send_header("Replay-Nonce", NONCE)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            self.send_header(name, value.replace("{base}", self.server.base))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def running() -> Iterator[ScriptedCa]:
    server = ScriptedCa()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()


def session_for(ca: ScriptedCa, fake_time: FakeTime, seconds: float = 600) -> AcmeSession:
    session = AcmeSession(f"{ca.base}/dir", new_account_key_pem(),
                          deadline=fake_time.deadline(seconds))
    session.use_account(f"{ca.base}/account/1")
    return session


def order(ca: ScriptedCa, status: str, **fields: Any) -> dict[str, Any]:
    return {"status": status, "finalize": f"{ca.base}/finalize/1",
            "identifiers": [{"type": "dns", "value": "example.com"}],
            "authorizations": [f"{ca.base}/authz/1", f"{ca.base}/authz/2"], **fields}


def authz(ca: ScriptedCa, status: str, number: int, *, error: Any = None) -> dict[str, Any]:
    challenge = {"type": "dns-01", "url": f"{ca.base}/chall/{number}", "token": TOKEN,
                 "status": "invalid" if error else status,
                 **({"error": error} if error else {})}
    return {"identifier": {"type": "dns", "value": "example.com"}, "status": status,
            "wildcard": number == 1, "challenges": [challenge]}


def script_order(ca: ScriptedCa) -> None:
    ca.on("POST", "/new-order", Answer(201, order(ca, "pending"),
                                       {"Location": "{base}/order/1"}))
    ca.on("POST", "/authz/1", Answer(body=authz(ca, "pending", 1)))
    ca.on("POST", "/authz/2", Answer(body=authz(ca, "valid", 2)))
