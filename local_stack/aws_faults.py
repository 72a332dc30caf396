"""The AWS fault proxy: plain HTTP before moto that fails chosen AWS calls on demand.

moto answers every call at once and never fails, so nothing proves on it alone that wildcert
survives Route 53 throttling, a change that never gets INSYNC, or S3/KMS refusing the final
writes. The stack's `AWS_ENDPOINT_URL` names this proxy; it forwards every request unchanged
unless a fault rule matches, and counts every call by service and operation. Tests that must
see moto's state without faults use `WILDCERT_MOTO_URL`.

A call is named as AWS names it: the service from the SigV4 credential scope, the operation
from botocore's own service model (REST: method + request URI, e.g. POST
`/2013-04-01/hostedzone/{Id}/rrset/` is ChangeResourceRecordSets; JSON protocol:
`X-Amz-Target`; query protocol: `Action`), and for S3 the object key.

Control API (JSON):
  GET    /_faults/rules    active rules
  POST   /_faults/rules    add a rule (fields below); answers the rule with its id
  POST   /_faults/clear    drop every rule, account limit and held change ({"stats": true}
                           also the counts)
  GET    /_faults/stats    {"total", "by_operation": {"route53 GetChange": n}, "faults_fired"}
  GET    /_faults/calls    recent calls, oldest first (?service=&operation=&key=<glob>)
  GET    /_faults/limits   account-wide limits in force, with what each let through and refused
  POST   /_faults/limits   {"route53": {"rate": 5, "burst": 5}} puts a limit on a service,
                           {"route53": null} lifts it (see "account limits" below)

Rule fields: what to match (all optional, all must hold) `service`, `operation` (a name or a
list), `method`, `path` (glob on the URL path), `key` (glob on the S3 key; `*` stays within
one path segment, `**` crosses them); when to fire: `skip`, `count`, `probability`, `seed`
(local_stack/fault_rules.py); the action:
  error    answer an AWS-shaped error: `error` (code), `status`, `message` (defaults per code)
  reset    reset the connection `when` "before" forwarding (default) or "after" moto acted
  delay    wait `seconds`, then forward
  pending  forward, but report the Route 53 change PENDING, then and in every later GetChange
           (for `seconds` after the change when given, as real Route 53 does for 60-120 s)

Account limits: AWS throttles per account, whoever calls. Route 53 allows 10 requests per
second per account with a burst of 50 (since 2026-07-30; 5/s before), so with a limit on
`route53` every client of the proxy (every issuer run, the sweep, the tests) draws on one token
bucket of `burst` requests (default: `rate`) refilled at `rate` per second; a call finding it
empty is answered as AWS answers it (`error`, default
Throttling: HTTP 400 and the service's XML error body) and never reaches moto. The limit is
checked before any rule, and a throttled call does not count toward a rule's `skip`/`count`.
Off until set: the stack starts without limits.
"""

from __future__ import annotations

import functools
import http.client
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import botocore.session
from botocore.exceptions import UnknownServiceError
from botocore.model import OperationModel

from local_stack import control, fault_rules, http_plumbing
from local_stack.control import ControlApi, ControlClient, Query, Route
from local_stack.http_plumbing import (
    Answer,
    AnswerHandler,
    Serving,
    json_answer,
    serve_in_thread,
)
from wildcert.adapters.route53 import ROUTE53_QUOTA

CONTROL_PREFIX = "/_faults/"
RESET_WHEN = frozenset({"before", "after"})
CALLS_KEPT = 5000
# Per account, across every client: wildcert's own assumption of Route 53's quota.
ROUTE53_REQUESTS_PER_SECOND = ROUTE53_QUOTA.rate
ROUTE53_BURST = float(ROUTE53_QUOTA.burst)
THROTTLING = "Throttling"
ROUTE53_XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/"
DEFAULT_DELAY = 1.0
UPSTREAM_TIMEOUT = 60.0
IDLE_TIMEOUT = 120.0
# The proxy already said 100 Continue and holds the whole body.
HOP_BY_HOP = http_plumbing.HOP_BY_HOP | {"expect"}
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_CHANGE_ID = re.compile(rb"<ChangeInfo>.*?<Id>([^<]+)</Id>", re.DOTALL)
_INSYNC = re.compile(rb"<Status>\s*INSYNC\s*</Status>")
_GET_CHANGE_PATH = re.compile(r"^/\d{4}-\d{2}-\d{2}/change/([^/]+)$")

# What AWS says for the codes the fault suite uses; anything else is a 400 with its own code.
ERROR_DEFAULTS: dict[str, tuple[int, str]] = {
    "Throttling": (400, "Rate exceeded"),
    "ThrottlingException": (400, "Rate exceeded"),
    "PriorRequestNotComplete": (
        400,
        "The request was rejected because Route 53 was still processing a prior request.",
    ),
    "SlowDown": (503, "Please reduce your request rate."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InternalFailure": (500, "The request processing has failed because of an unknown error."),
    "ServiceUnavailable": (503, "Service is unable to handle request."),
    "AccessDenied": (403, "Access Denied"),
    "KMSInternalException": (500, "An internal error occurred in KMS."),
    "KMS.KMSInternalException": (500, "An internal error occurred in KMS."),
    "KMS.DisabledException": (400, "The KMS key is disabled."),
    "KMS.ThrottlingException": (400, "Rate exceeded for KMS requests."),
}


# ---- naming a call -----------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """An HTTP request as the proxy received it; header names as sent."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def parts(self) -> urllib.parse.SplitResult:
        return urllib.parse.urlsplit(self.target)

    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.parts.query, keep_blank_values=True)

    def lower_headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers}


@dataclass(frozen=True)
class Call:
    """One AWS request as rules see it."""

    service: str
    operation: str
    method: str
    path: str
    key: str | None = None  # S3 object key, decoded

    @property
    def name(self) -> str:
        return f"{self.service} {self.operation}"


@dataclass(frozen=True)
class _Route:
    """One REST operation of a botocore model, compiled for matching."""

    name: str
    method: str
    path: re.Pattern[str]
    query: frozenset[str]  # literal query keys in the request URI, e.g. list-type
    required_query: frozenset[str]
    required_headers: frozenset[str]
    literal: int  # literal characters: more means more specific

    def specificity(self) -> int:
        return self.literal + 100 * (
            len(self.query) + len(self.required_query) + len(self.required_headers)
        )

    def matches(self, method: str, path: str, query: Mapping[str, Any],
                headers: Mapping[str, str]) -> bool:
        return (
            method == self.method
            and self.path.fullmatch(path) is not None
            and all(q in query for q in self.query | self.required_query)
            and all(h in headers for h in self.required_headers)
        )


def _uri_pattern(uri_path: str) -> tuple[re.Pattern[str], int]:
    parts, literal, last = [], 0, 0
    for label in re.finditer(r"\{([^}]+)\}", uri_path):
        text = uri_path[last : label.start()]
        parts.append(re.escape(text))
        literal += len(text)
        parts.append(".+" if label.group(1).endswith("+") else "[^/]+")
        last = label.end()
    parts.append(re.escape(uri_path[last:]))
    literal += len(uri_path) - last
    return re.compile("".join(parts)), literal


def _route(operation: OperationModel) -> _Route:
    uri_path, _, uri_query = operation.http["requestUri"].partition("?")
    pattern, literal = _uri_pattern(uri_path)
    members = operation.input_shape.members if operation.input_shape else {}
    required = set(operation.input_shape.required_members) if operation.input_shape else set()
    wanted_query, wanted_headers = set(), set()
    for member in required:
        shape = members[member].serialization
        if shape.get("location") == "querystring":
            wanted_query.add(shape.get("name", member))
        elif shape.get("location") == "header":
            wanted_headers.add(shape.get("name", member).lower())
    literal_query = frozenset(p.split("=", 1)[0] for p in uri_query.split("&") if p)
    return _Route(
        operation.name, operation.http["method"], pattern, literal_query,
        frozenset(wanted_query), frozenset(wanted_headers), literal,
    )


@functools.cache
def _service(name: str) -> tuple[str, list[_Route]] | None:
    """The service's protocol and, for REST protocols, its routes (most specific first)."""
    try:
        model = botocore.session.get_session().get_service_model(name)
    except UnknownServiceError:
        return None
    if model.protocol not in ("rest-xml", "rest-json"):
        return model.protocol, []
    routes = [_route(model.operation_model(op)) for op in model.operation_names]
    return model.protocol, sorted(routes, key=_Route.specificity, reverse=True)


def protocol_of(service: str) -> str:
    found = _service(service)
    return found[0] if found else "unknown"


def service_of(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> str:
    """The signing service in the SigV4 credential scope (header, or a presigned URL)."""
    scope = headers.get("authorization", "")
    if not scope and query.get("X-Amz-Credential"):
        scope = "Credential=" + query["X-Amz-Credential"][0]
    found = _SCOPE.search(scope)
    return found.group(1) if found else "unsigned"


def classify(request: Request) -> Call:
    """Name a request as AWS would."""
    headers, query = request.lower_headers(), request.query()
    service = service_of(headers, query)
    path = request.parts.path or "/"
    key = _s3_key(path) if service == "s3" else None
    return Call(service, _operation(service, request, headers, query), request.method, path, key)


def _operation(service: str, request: Request, headers: Mapping[str, str],
               query: Mapping[str, list[str]]) -> str:
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    found = _service(service)
    if found is not None and found[0] == "query":
        form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"))
        if form.get("Action"):
            return form["Action"][0]
    path = request.parts.path or "/"
    for route in found[1] if found else []:
        if route.matches(request.method, path, query, headers):
            return route.name
    return f"{request.method} {path}"


def _s3_key(path: str) -> str | None:
    """Path-style addressing (moto on an IP address): /bucket/key."""
    _, bucket, key = [*path.split("/", 2), "", ""][:3]
    return urllib.parse.unquote(key) if bucket and key else None


@functools.cache
def glob(pattern: str) -> re.Pattern[str]:
    """`*` and `?` stay within one path segment, `**` crosses segments."""
    out = []
    for token in re.split(r"(\*\*|\*|\?)", pattern):
        out.append({"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token)))
    return re.compile("".join(out))


# ---- rules -------------------------------------------------------------------------------


@dataclass(kw_only=True)
class FaultRule(fault_rules.FaultRule):
    service: str | None = None
    operation: tuple[str, ...] | None = None
    method: str | None = None
    path: str | None = None
    key: str | None = None
    error: str | None = None
    status: int | None = None
    message: str | None = None
    seconds: float | None = None
    when: str | None = None
    origin: str = "rule"  # or "limit": the answer of an account limit, not of a rule

    ACTIONS = frozenset({"error", "reset", "delay", "pending"})
    OWN = fault_rules.FaultRule.OWN | {"origin"}
    PRIVATE = fault_rules.FaultRule.PRIVATE | {"origin"}

    def matches(self, call: Call) -> bool:
        return (
            (self.service is None or self.service == call.service)
            and (self.operation is None or call.operation in self.operation)
            and (self.method is None or self.method.upper() == call.method)
            and (self.path is None or glob(self.path).fullmatch(call.path) is not None)
            and (self.key is None or (call.key is not None
                                      and glob(self.key).fullmatch(call.key) is not None))
        )

    def label(self, call: Call) -> str:
        if self.origin == "limit":
            return f"{call.name} throttled"
        return f"{call.name} {self.action}" + (f" {self.error}" if self.error else "")


def rule_from(rule_id: int, wanted: Mapping[str, Any]) -> FaultRule:
    """A rule from a control request, checked so that a typo fails loudly, not silently."""
    action = wanted.get("action") or ("error" if wanted.get("error") else None)
    fields = FaultRule.checked({**wanted, "action": action})
    if action == "error" and not fields.get("error"):
        raise ValueError("an error rule needs `error`, the AWS error code to answer")
    if fields.get("when", "before") not in RESET_WHEN:
        raise ValueError(f"when must be one of {sorted(RESET_WHEN)}")
    operation = fields.pop("operation", None)
    if isinstance(operation, str):
        operation = (operation,)
    return FaultRule(
        id=rule_id,
        operation=tuple(str(o) for o in operation) if operation is not None else None,
        **fields,
    )


@dataclass
class AccountLimit:
    """One service's account-wide request rate: a token bucket every client draws on."""

    service: str
    rate: float
    burst: float
    error: str
    bucket: http_plumbing.TokenBucket
    allowed: int = 0
    throttled: int = 0

    def admit(self, now: float) -> bool:
        """Whether the call may go on; counts it. Call under the state's lock."""
        if self.bucket.take(now):
            self.allowed += 1
            return True
        self.throttled += 1
        return False

    def answer(self) -> FaultRule:
        return FaultRule(id=0, action="error", service=self.service, error=self.error,
                         origin="limit")

    def as_json(self) -> dict[str, Any]:
        return {"rate": self.rate, "burst": self.burst, "error": self.error,
                "allowed": self.allowed, "throttled": self.throttled}


LIMIT_FIELDS = frozenset({"rate", "burst", "error"})


def limit_from(service: str, wanted: Mapping[str, Any], now: float) -> AccountLimit:
    """A limit from a control request, checked so that a typo fails loudly."""
    unknown = set(wanted) - LIMIT_FIELDS
    if unknown:
        raise ValueError(f"unknown limit fields {sorted(unknown)}; known: {sorted(LIMIT_FIELDS)}")
    if _service(service) is None:
        raise ValueError(f"{service!r} is not an AWS service botocore knows")
    rate = float(wanted.get("rate") or 0)
    burst = float(wanted.get("burst") or rate)
    if rate <= 0 or burst < 1:
        raise ValueError("a limit needs rate > 0 (requests per second) and burst >= 1")
    error = str(wanted.get("error") or THROTTLING)
    # `burst` calls at once, refilled at `rate` per second.
    bucket = http_plumbing.TokenBucket.full(burst, burst / rate, now)
    return AccountLimit(service, rate, burst, error, bucket)


@dataclass
class ProxyState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    rules: fault_rules.RuleBook[FaultRule] = field(default_factory=fault_rules.RuleBook)
    # Route 53 change ids reported PENDING, until when (time.monotonic(); None: for good)
    held: dict[str, float | None] = field(default_factory=dict)
    limits: dict[str, AccountLimit] = field(default_factory=dict)
    by_operation: Counter[str] = field(default_factory=Counter)
    faults_fired: Counter[str] = field(default_factory=Counter)
    calls: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=CALLS_KEPT))
    next_seq: int = 1

    def add(self, wanted: Mapping[str, Any]) -> FaultRule:
        return self.rules.add(lambda rule_id: rule_from(rule_id, wanted))

    def pick(self, call: Call) -> FaultRule | None:
        """Count the call; the account limit's refusal, or the first matching rule that fires."""
        with self.lock:
            self.by_operation[call.name] += 1
            limit = self.limits.get(call.service)
            chosen = None
            if limit is not None and not limit.admit(time.monotonic()):
                chosen = limit.answer()
        chosen = chosen or self.rules.take(lambda rule: rule.matches(call))
        if chosen is not None:
            with self.lock:
                self.faults_fired[chosen.label(call)] += 1
        return chosen

    def record(self, call: Call, status: int | None, rule: FaultRule | None) -> None:
        with self.lock:
            self.calls.append({
                "seq": self.next_seq, "service": call.service, "operation": call.operation,
                "method": call.method, "path": call.path, "key": call.key, "status": status,
                "fault": rule.label(call) if rule else None, "at": round(time.time(), 3),
            })
            self.next_seq += 1

    def hold(self, change_ids: Iterable[str], seconds: float | None = None) -> None:
        until = None if seconds is None else time.monotonic() + seconds
        with self.lock:
            self.held.update(dict.fromkeys(change_ids, until))

    def is_held(self, change_id: str) -> bool:
        with self.lock:
            if change_id not in self.held:
                return False
            until = self.held[change_id]
            return until is None or time.monotonic() < until

    def set_limits(self, wanted: Mapping[str, Any]) -> dict[str, Any]:
        """Put (an object) or lift (null) each named service's account limit; all or none."""
        now = time.monotonic()
        made: dict[str, AccountLimit | None] = {}
        for service, fields in wanted.items():
            if fields is not None and not isinstance(fields, dict):
                raise ValueError(f"the limit of {service} must be an object or null")
            made[str(service)] = None if fields is None else limit_from(str(service), fields, now)
        with self.lock:
            for service, limit in made.items():
                if limit is None:
                    self.limits.pop(service, None)
                else:
                    self.limits[service] = limit
        return self.limits_json()

    def limits_json(self) -> dict[str, Any]:
        with self.lock:
            return {service: limit.as_json() for service, limit in self.limits.items()}

    def clear(self, *, stats: bool) -> None:
        self.rules.clear()
        with self.lock:
            self.held.clear()
            self.limits.clear()
            if stats:
                self.by_operation.clear()
                self.faults_fired.clear()
                self.calls.clear()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": sum(self.by_operation.values()),
                "by_operation": dict(self.by_operation),
                "faults_fired": dict(self.faults_fired),
            }

    def recent(self, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        wanted = {k: v[0] for k, v in query.items() if k in ("service", "operation") and v}
        key = glob(query["key"][0]) if query.get("key") else None
        with self.lock:
            found = list(self.calls)
        return [
            c for c in found
            if all(c[k] == v for k, v in wanted.items())
            and (key is None or (c["key"] is not None and key.fullmatch(c["key"])))
        ]


# ---- answers -----------------------------------------------------------------------------


def error_answer(call: Call, rule: FaultRule) -> Answer:
    """The error as the service itself would word it, so botocore parses it as AWS's."""
    code = str(rule.error)
    default_status, default_message = ERROR_DEFAULTS.get(code, (400, f"{code} (injected)"))
    status = int(rule.status or default_status)
    message = _xml_text(rule.message or default_message)
    request_id = str(uuid.uuid4())
    protocol = protocol_of(call.service)
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": rule.message or default_message}).encode()
        return Answer(status, [("Content-Type", "application/x-amz-json-1.1"),
                               ("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)], body)
    if call.service == "s3":
        resource = _xml_text(call.path)
        text = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{_xml_text(code)}</Code>'
                f"<Message>{message}</Message><Resource>{resource}</Resource>"
                f"<RequestId>{request_id}</RequestId></Error>")
        return Answer(status, [("Content-Type", "application/xml"),
                               ("x-amz-request-id", request_id)], text.encode())
    kind = "Sender" if status < 500 else "Receiver"
    # Route 53 names its namespace in errors too; botocore reads them either way.
    xmlns = f' xmlns="{ROUTE53_XMLNS}"' if call.service == "route53" else ""
    text = (f'<?xml version="1.0"?>\n<ErrorResponse{xmlns}><Error><Type>{kind}</Type>'
            f"<Code>{_xml_text(code)}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>")
    return Answer(status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)],
                  text.encode())


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def held_pending(answer: Answer) -> tuple[Answer, list[str]]:
    """A Route 53 ChangeInfo answer reported PENDING, and the change ids it names."""
    ids = [m.group(1).decode().rsplit("/", 1)[-1] for m in _CHANGE_ID.finditer(answer.body)]
    body = _INSYNC.sub(b"<Status>PENDING</Status>", answer.body)
    return Answer(answer.status, answer.headers, body), ids


def get_change_id(call: Call) -> str | None:
    if call.service != "route53" or call.operation != "GetChange":
        return None
    found = _GET_CHANGE_PATH.match(call.path)
    return found.group(1) if found else None


# ---- forwarding --------------------------------------------------------------------------


class Upstream:
    """One keep-alive connection to moto per client connection."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._connection: http.client.HTTPConnection | None = None

    def send(self, request: Request) -> Answer:
        reused = self._connection is not None
        try:
            return self._send(request)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
            # moto closed the idle connection before reading this request: send it anew.
            return self._send(request)

    def _send(self, request: Request) -> Answer:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                self.host, self.port, timeout=UPSTREAM_TIMEOUT
            )
        connection = self._connection
        connection.putrequest(request.method, request.target, skip_host=True,
                              skip_accept_encoding=True)
        for name, value in http_plumbing.end_to_end(request.headers, HOP_BY_HOP):
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(request.body)))
        connection.endheaders(request.body if request.body else None)
        response = connection.getresponse()
        data = response.read()
        if response.will_close:
            self.close()
        kept = http_plumbing.end_to_end(response.getheaders(), HOP_BY_HOP)
        if request.method == "HEAD":
            # No body, but the length describes the object: botocore reads it.
            kept += [(k, v) for k, v in response.getheaders() if k.lower() == "content-length"]
        return Answer(response.status, kept, data)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _Reset(Exception):
    """End the client's connection with a TCP reset instead of an answer."""

    def __init__(self, upstream_status: int | None = None):
        super().__init__(upstream_status)
        self.upstream_status = upstream_status  # what moto answered, if it was asked


@dataclass
class FaultProxy:
    """Decides, per request, what the client gets: moto's answer or a fault."""

    state: ProxyState

    def handle(self, upstream: Upstream, request: Request) -> Answer:
        call = classify(request)
        rule = self.state.pick(call)
        status: int | None = None
        try:
            answer = self._answer(call, rule, upstream, request)
            status = answer.status
            return answer
        except _Reset as reset:
            status = reset.upstream_status
            raise
        finally:
            self.state.record(call, status, rule)

    def _answer(self, call: Call, rule: FaultRule | None, upstream: Upstream,
                request: Request) -> Answer:
        if rule is not None and rule.action == "error":
            return error_answer(call, rule)
        if rule is not None and rule.action == "reset" and rule.when != "after":
            raise _Reset
        if rule is not None and rule.action == "delay":
            time.sleep(DEFAULT_DELAY if rule.seconds is None else rule.seconds)
        answer = upstream.send(request)
        if rule is not None and rule.action == "reset":
            raise _Reset(answer.status)  # moto acted; the client never hears of it
        if rule is not None and rule.action == "pending":
            answer, ids = held_pending(answer)
            self.state.hold(ids, rule.seconds)
        held = get_change_id(call)
        if held is not None and self.state.is_held(held):
            answer = held_pending(answer)[0]
        return answer


# ---- control API -------------------------------------------------------------------------


def _rules(state: ProxyState, query: Query, wanted: dict[str, Any]) -> Any:
    return {"rules": state.rules.as_json()}


def _add_rule(state: ProxyState, query: Query, wanted: dict[str, Any]) -> Any:
    return state.add(wanted).as_json()


def _clear(state: ProxyState, query: Query, wanted: dict[str, Any]) -> Any:
    state.clear(stats=bool(wanted.get("stats")))
    return {"cleared": True}


def _calls(state: ProxyState, query: Query, wanted: dict[str, Any]) -> Any:
    return {"calls": state.recent(query)}


# The routes below CONTROL_PREFIX, as the module docstring lists them.
ROUTES: dict[tuple[str, str], Route[ProxyState]] = {
    **control.COUNTED,
    ("GET", "rules"): _rules,
    ("POST", "rules"): _add_rule,
    ("POST", "clear"): _clear,
    ("GET", "calls"): _calls,
}


# ---- sockets -----------------------------------------------------------------------------


class _Handler(AnswerHandler):
    server: _ProxyServer
    timeout = IDLE_TIMEOUT

    def setup(self) -> None:
        super().setup()
        self.upstream = Upstream(self.server.moto_host, self.server.moto_port)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.upstream.close()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the calls log and the counts are the record

    def _handle(self) -> None:
        body = self._body()
        if self.server.control.handles(self.path):
            self.send_answer(self.server.control.answer(self.command, self.path, body))
            return
        try:
            answer = self.server.proxy.handle(
                self.upstream, Request(self.command, self.path, list(self.headers.items()), body)
            )
        except _Reset:
            self.reset_connection()
            return
        except (OSError, http.client.HTTPException) as error:
            self.send_answer(json_answer(502, {"error": f"moto did not answer: {error}"}))
            return
        self.send_answer(answer)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = _handle

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunked_body()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _chunked_body(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers: moto needs none of them
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def content_length(self, answer: Answer) -> str | None:
        # A HEAD answer keeps moto's length of the object; 204 and 304 carry none.
        if answer.header("Content-Length") is not None or answer.status in (204, 304):
            return None
        return super().content_length(answer)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, moto_port: int, state: ProxyState) -> None:
        self.moto_host, self.moto_port = host, moto_port
        self.control = ControlApi(CONTROL_PREFIX, ROUTES, state)
        self.proxy = FaultProxy(state)
        super().__init__((host, port), _Handler)


@dataclass
class AwsFaultServer:
    """The proxy on host:port, a thread of the serve process, moto on `moto_port`."""

    host: str
    port: int
    moto_port: int
    state: ProxyState = field(default_factory=ProxyState)
    _serving: Serving | None = None

    def start(self) -> None:
        server = _ProxyServer(self.host, self.port, self.moto_port, self.state)
        self._serving = serve_in_thread(server, "aws-faults")

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()


# ---- for tests and the benchmark ---------------------------------------------------------


@dataclass(frozen=True)
class AwsFaults(ControlClient):
    """The control API from outside: `stack.aws_faults`."""

    PREFIX = CONTROL_PREFIX
    NAME = "AWS fault proxy"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add(self, *, operation: str | Iterable[str] | None = None, **fields: Any) -> dict[str, Any]:
        """Add a rule with the fields of the module docstring (a typo is refused as a
        ValueError); `error=` alone means action "error"."""
        if operation is not None and not isinstance(operation, str):
            operation = list(operation)
        return dict(self._call("POST", "rules", {"operation": operation, **fields}))

    def rules(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "rules")["rules"])

    def clear(self, *, stats: bool = False) -> None:
        """Drop every rule, account limit and held change; `stats=True` also forgets counts
        and calls."""
        self._call("POST", "clear", {"stats": stats})

    def limit(self, service: str = "route53", rate: float = ROUTE53_REQUESTS_PER_SECOND,
              burst: float | None = ROUTE53_BURST, error: str | None = None) -> dict[str, Any]:
        """Put an account-wide limit on `service`: every client shares `burst` requests,
        refilled at `rate` per second (Route 53's 10 per second with a burst of 50 by
        default; `burst=None`: `rate`)."""
        fields = {"rate": rate, "burst": burst or rate, "error": error}
        body = {service: {k: v for k, v in fields.items() if v is not None}}
        return dict(self._call("POST", "limits", body)[service])

    def unlimit(self, service: str = "route53") -> None:
        self._call("POST", "limits", {service: None})

    def limits(self) -> dict[str, dict[str, Any]]:
        """{"route53": {"rate", "burst", "error", "allowed", "throttled"}} for each limit."""
        return dict(self._call("GET", "limits"))

    def count(self, service: str, operation: str) -> int:
        return int(self.stats()["by_operation"].get(f"{service} {operation}", 0))

    def calls(self, *, service: str | None = None, operation: str | None = None,
              key: str | None = None) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode(
            {k: v for k, v in {"service": service, "operation": operation, "key": key}.items()
             if v is not None}
        )
        return list(self._call("GET", "calls" + (f"?{query}" if query else ""))["calls"])
