"""A stand-in for Slack's incoming webhooks that records what it is sent.

POST <any path>      record the JSON payload in slack.jsonl, answer `ok` like Slack
POST /_control       {"status": 500} makes later webhook posts fail with that status
                     (optionally "retry_after": seconds, sent as Retry-After); 200 restores
GET  /_stats         counters of this sink and of the DNS server, as JSON
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from local_stack.http_plumbing import Serving, serve_in_thread

SLACK_ERROR_BODIES = {
    400: "invalid_payload",
    403: "invalid_token",
    404: "no_service",
    410: "channel_is_archived",
    429: "rate_limited",
}


@dataclass
class SinkState:
    log_path: Path
    extra_stats: Callable[[], dict[str, Any]] = dict
    lock: threading.Lock = field(default_factory=threading.Lock)
    status: int = 200
    retry_after: int | None = None
    recorded: int = 0
    refused: int = 0

    def record(self, path: str, payload: Any) -> None:
        line = json.dumps({"path": path, "payload": payload}, sort_keys=True)
        with self.lock:
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(line + "\n")
            self.recorded += 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            slack = {"recorded": self.recorded, "refused": self.refused, "status": self.status}
        return {"slack": slack, **self.extra_stats()}


class _Handler(BaseHTTPRequestHandler):
    server: _SinkServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the payload log is the record; access lines would only bloat serve.log

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/_stats":
            self._reply(200, json.dumps(self.server.state.stats()), "application/json")
        else:
            self._reply(404, "no_service")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0] == "/_control":
            self._control(body)
            return
        state = self.server.state
        if state.status != 200:
            with state.lock:
                state.refused += 1
            headers = {"Retry-After": str(state.retry_after)} if state.retry_after else {}
            self._reply(
                state.status,
                SLACK_ERROR_BODIES.get(state.status, "internal_error"),
                headers=headers,
            )
            return
        payload = _payload(body, self.headers.get("Content-Type", ""))
        if payload is None:
            self._reply(400, "invalid_payload")
            return
        state.record(self.path, payload)
        self._reply(200, "ok")

    def _control(self, body: bytes) -> None:
        try:
            wanted = json.loads(body or b"{}")
            status = int(wanted["status"])
            retry_after = wanted.get("retry_after")
        except (ValueError, KeyError, TypeError):
            self._reply(400, 'expected {"status": <http status>}')
            return
        with self.server.state.lock:
            self.server.state.status = status
            self.server.state.retry_after = None if retry_after is None else int(retry_after)
        self._reply(200, "ok")

    def _reply(
        self,
        status: int,
        body: str,
        content_type: str = "text/html",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _payload(body: bytes, content_type: str) -> Any | None:
    """Slack takes a JSON body, or a form with the JSON in its `payload` field."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            return json.loads(parse_qs(body.decode())["payload"][0])
        return json.loads(body)
    except (ValueError, KeyError, UnicodeDecodeError):
        return None


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: SinkState) -> None:
        self.state = state
        super().__init__(address, _Handler)


@dataclass
class SlackSink:
    host: str
    port: int
    state: SinkState
    _serving: Serving | None = None

    def start(self) -> None:
        server = _SinkServer((self.host, self.port), self.state)
        self._serving = serve_in_thread(server, "slack-sink")

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
