"""The bench's counters: Pebble log lines to ACME steps, AWS requests to operations, the proxy,
and wildcert's ACME requests by step as its HTTP session sees them."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.aws_proxy import CountingProxy, classify
from bench.pebble_log import LogCursor, count_requests
from bench.wildcert_runner import AcmeSteps
from tests.unit.fakes import FakeTime
from tests.unit.scripted_ca import PEM, Answer, ScriptedCa, order, running, script_order
from tests.unit.scripted_ca import session_for as scripted_session
from wildcert.adapters.acme import AcmeSession
from wildcert.logic.certificates import generate_key, make_csr

SIGNED = "AWS4-HMAC-SHA256 Credential=testing/20261125/us-east-1/{service}/aws4_request, X"

PEBBLE_LINES = """\
Pebble 2026/11/25 08:13:27 GET /dir -> calling handler()
Pebble 2026/11/25 08:13:27 HEAD /nonce-plz -> calling handler()
Pebble 2026/11/25 08:13:27 POST /order-plz -> calling handler()
Pebble 2026/11/25 08:13:27 There are now 2 authorizations in the db
Pebble 2026/11/25 08:13:27 POST /authZ/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /authZ/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /chalZ/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /finalize-order/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /my-order/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /certZ/ -> calling handler()
Pebble 2026/11/25 08:13:27 POST /something-new/ -> calling handler()
"""


def test_pebble_lines_become_acme_steps() -> None:
    assert count_requests(PEBBLE_LINES) == {
        "GET directory": 1, "HEAD newNonce": 1, "POST newOrder": 1, "POST authz": 2,
        "POST challenge": 1, "POST finalize": 1, "POST order": 1, "POST certificate": 1,
        "POST /something-new/": 1,
    }


def test_log_cursor_counts_only_what_came_after_the_mark(tmp_path: Path) -> None:
    log = tmp_path / "pebble.log"
    log.write_text(PEBBLE_LINES)
    cursor = LogCursor(log)
    with log.open("a") as more:
        more.write("Pebble 2026/11/25 08:13:28 POST /order-plz -> calling handler()\n")
    assert cursor.since_mark() == {"POST newOrder": 1}
    cursor.mark()
    assert cursor.since_mark() == {}


@pytest.mark.parametrize(
    ("method", "target", "service", "expected"),
    [
        ("GET", "/2013-04-01/hostedzone", "route53", "route53 ListHostedZones"),
        ("GET", "/2013-04-01/hostedzone?maxitems=100", "route53", "route53 ListHostedZones"),
        ("GET", "/2013-04-01/hostedzone/Z1", "route53", "route53 GetHostedZone"),
        ("POST", "/2013-04-01/hostedzone/Z1/rrset/", "route53",
         "route53 ChangeResourceRecordSets"),
        ("GET", "/2013-04-01/hostedzone/Z1/rrset?name=a", "route53",
         "route53 ListResourceRecordSets"),
        ("GET", "/2013-04-01/change/C1", "route53", "route53 GetChange"),
        ("PUT", "/bucket/a/b.pem", "s3", "s3 PutObject"),
        ("GET", "/bucket/a/b.pem", "s3", "s3 GetObject"),
        ("HEAD", "/bucket/a", "s3", "s3 HeadObject"),
        ("DELETE", "/bucket/a", "s3", "s3 DeleteObject"),
        ("GET", "/bucket?list-type=2&prefix=a", "s3", "s3 ListObjectsV2"),
        ("HEAD", "/bucket", "s3", "s3 HeadBucket"),
        ("POST", "/", "sqs", "sqs POST"),
    ],
)
def test_rest_requests_are_named_by_operation(
    method: str, target: str, service: str, expected: str
) -> None:
    headers = {"authorization": SIGNED.format(service=service)}
    assert classify(method, target, headers) == expected


def test_json_protocols_are_named_by_their_target_header() -> None:
    headers = {"authorization": SIGNED.format(service="secretsmanager"),
               "x-amz-target": "secretsmanager.GetSecretValue"}
    assert classify("POST", "/", headers) == "secretsmanager GetSecretValue"


def test_copy_and_unsigned_requests() -> None:
    copy = {"authorization": SIGNED.format(service="s3"), "x-amz-copy-source": "/b/k"}
    assert classify("PUT", "/b/k2", copy) == "s3 CopyObject"
    assert classify("GET", "/anything", {}) == "unsigned GET"


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = b"got " + body + b" for " + self.headers["Host"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_proxy_forwards_unchanged_and_counts(upstream: int) -> None:
    proxy = CountingProxy(upstream).start()
    try:
        port = proxy.server_address[1]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        headers = {"Authorization": SIGNED.format(service="s3"), "Host": "signed.example:1"}
        for _ in range(2):  # one kept-alive connection, two requests
            connection.request("PUT", "/bucket/key", body=b"abc", headers=headers)
            response = connection.getresponse()
            assert response.read() == b"got abc for signed.example:1"
        chunked = {**headers, "Transfer-Encoding": "chunked"}
        connection.request("PUT", "/bucket/key", body=iter([b"ab", b"cd"]), headers=chunked,
                           encode_chunked=True)
        assert connection.getresponse().read() == b"got abcd for signed.example:1"
        connection.close()
        assert proxy.counter.take() == {"s3 PutObject": 3}
        assert proxy.counter.take() == {}
    finally:
        proxy.stop()


@pytest.fixture
def ca() -> Iterator[ScriptedCa]:
    with running() as server:
        yield server


def counted_session(ca: ScriptedCa, counts: Counter[str]) -> AcmeSession:
    session = scripted_session(ca, FakeTime())
    session.net.session.hooks["response"].append(AcmeSteps(session, counts).hook)
    return session


def test_acme_requests_are_named_by_step_like_pebbles_log(ca: ScriptedCa) -> None:
    script_order(ca)
    ca.on("POST", "/chall/1", Answer(body={"type": "dns-01", "url": f"{ca.base}/chall/1",
                                           "status": "processing",
                                           "token": "dG9rZW4tdG9rZW4tdG9rZW4tdG9rZW4"},
                                     headers={"Link": '<{base}/authz/1>;rel="up"'}))
    ca.on("POST", "/finalize/1", Answer(body=order(ca, "processing")))
    ca.on("POST", "/order/1", Answer(body=order(ca, "pending")), Answer(body=order(ca, "ready")),
          Answer(body=order(ca, "valid", certificate=f"{ca.base}/cert/1")))
    ca.on("POST", "/cert/1", Answer(body=PEM))
    ca.on("GET", "/ari/abc.def", Answer(body={"suggestedWindow": {}}))
    counts: Counter[str] = Counter()
    session = counted_session(ca, counts)
    made = session.new_order(("example.com",))
    session.answer(made.challenges)
    session.wait_until_ready(made.url, made.challenges)
    session.finalize(made.url, made.finalize_url,
                     make_csr(generate_key("ec256"), ("example.com",)))
    session.renewal_info("abc.def")
    assert counts == {
        "GET directory": 1, "HEAD newNonce": 1, "POST newOrder": 1, "POST authz": 2,
        "POST challenge": 1, "POST order": 3, "POST finalize": 1, "POST certificate": 1,
        "GET renewalInfo": 1,
    }
    assert sum(counts.values()) == len(ca.seen)  # every request the CA saw, once


def test_an_order_never_handed_to_this_session_is_known_by_its_body(ca: ScriptedCa) -> None:
    """Recovering a dead attempt's order, with the directory from the container's cache."""
    script_order(ca)
    scripted_session(ca, FakeTime()).new_order(("example.com",))  # caches the directory
    ca.on("POST", "/order/9", Answer(body=order(ca, "ready")))
    counts: Counter[str] = Counter()
    state = counted_session(ca, counts).fetch_order(f"{ca.base}/order/9")
    assert state.finalize_url == f"{ca.base}/finalize/1"
    assert counts == {"HEAD newNonce": 1, "POST order": 1}
