"""A counting reverse proxy on loopback in front of moto: AWS API calls by service and operation.

A client pointed at it with `AWS_ENDPOINT_URL` sends every AWS request through it, so calls are
counted from outside the client (certbot is not touched). Requests are forwarded unchanged,
Host header included (SigV4 signs it; moto does not check signatures).
"""

from __future__ import annotations

import http.client
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
     "upgrade", "proxy-authorization", "proxy-authenticate"}
)
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_ROUTE53 = [
    ("GET", re.compile(r"/2013-04-01/hostedzone/?$"), "ListHostedZones"),
    ("POST", re.compile(r"/2013-04-01/hostedzone/?$"), "CreateHostedZone"),
    ("GET", re.compile(r"/2013-04-01/hostedzone/[^/]+/rrset/?$"), "ListResourceRecordSets"),
    ("POST", re.compile(r"/2013-04-01/hostedzone/[^/]+/rrset/?$"), "ChangeResourceRecordSets"),
    ("GET", re.compile(r"/2013-04-01/hostedzone/[^/]+/?$"), "GetHostedZone"),
    ("GET", re.compile(r"/2013-04-01/change/[^/]+/?$"), "GetChange"),
]
_S3_BUCKET_OPS = {"GET": "ListObjects", "HEAD": "HeadBucket", "PUT": "CreateBucket",
                  "DELETE": "DeleteBucket", "POST": "PostBucket"}
_S3_OBJECT_OPS = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject",
                  "DELETE": "DeleteObject", "POST": "PostObject"}


def service_of(headers: dict[str, str]) -> str:
    """The signing service in the SigV4 credential scope ("route53", "s3", ...)."""
    found = _SCOPE.search(headers.get("authorization", ""))
    return found.group(1) if found else "unsigned"


def route53_operation(method: str, path: str) -> str:
    for verb, pattern, name in _ROUTE53:
        if verb == method and pattern.match(path):
            return name
    return f"{method} {path}"


def s3_operation(method: str, path: str, query: str, headers: dict[str, str]) -> str:
    """Path-style S3 (boto3 uses it for an IP endpoint): /bucket or /bucket/key."""
    params = parse_qs(query, keep_blank_values=True)
    has_key = len(path.lstrip("/").split("/", 1)) == 2 and not path.endswith("/")
    if not has_key:
        if method == "GET" and params.get("list-type") == ["2"]:
            return "ListObjectsV2"
        if method == "POST" and "delete" in params:
            return "DeleteObjects"
        return _S3_BUCKET_OPS.get(method, method)
    if method == "PUT" and "x-amz-copy-source" in headers:
        return "CopyObject"
    return _S3_OBJECT_OPS.get(method, method)


def classify(method: str, target: str, headers: dict[str, str]) -> str:
    """`service Operation` for one AWS request; headers are keyed in lower case."""
    service = service_of(headers)
    if "x-amz-target" in headers:  # JSON protocols (KMS, Secrets Manager, ...)
        return f"{service} {headers['x-amz-target'].rsplit('.', 1)[-1]}"
    parts = urlsplit(target)
    if service == "route53":
        return f"route53 {route53_operation(method, parts.path)}"
    if service == "s3":
        return f"s3 {s3_operation(method, parts.path, parts.query, headers)}"
    action = parse_qs(parts.query).get("Action")
    return f"{service} {action[0] if action else method}"


class CallCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()

    def add(self, label: str) -> None:
        with self._lock:
            self._calls[label] += 1

    def take(self) -> Counter[str]:
        """The calls counted since the last take, and start again from zero."""
        with self._lock:
            calls, self._calls = self._calls, Counter()
        return calls


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    length = handler.headers.get("Content-Length")
    if length is not None:
        return handler.rfile.read(int(length))
    if "chunked" not in handler.headers.get("Transfer-Encoding", "").lower():
        return b""
    chunks = []
    while True:
        size = int(handler.rfile.readline().split(b";", 1)[0].strip(), 16)
        if size == 0:
            while handler.rfile.readline().strip():  # trailers end with an empty line
                pass
            return b"".join(chunks)
        chunks.append(handler.rfile.read(size))
        handler.rfile.readline()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CountingProxy

    def _forward(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.counter.add(classify(self.command, self.path, headers))
        body = _read_body(self)
        upstream = http.client.HTTPConnection(HOST, self.server.upstream_port, timeout=60)
        try:
            out = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if body or self.command in {"PUT", "POST"}:
                out["Content-Length"] = str(len(body))
            upstream.request(self.command, self.path, body=body or None, headers=out)
            response = upstream.getresponse()
            payload = response.read()
            self.send_response_only(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            length = response.getheader("Content-Length")
            head_only = self.command == "HEAD"
            self.send_header("Content-Length", length if head_only and length else str(
                len(payload)))
            self.end_headers()
            if not head_only:
                self.wfile.write(payload)
        finally:
            upstream.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, format: str, *args: object) -> None:
        return


class CountingProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_port: int, port: int = 0):
        super().__init__((HOST, port), _Handler)
        self.upstream_port = upstream_port
        self.counter = CallCounter()
        self._thread = threading.Thread(target=self.serve_forever, name="aws-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    def start(self) -> CountingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
