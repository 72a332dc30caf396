"""The ACME front: an HTTPS reverse proxy before Pebble that adds what Pebble 2.4.0 lacks.

Pebble 2.4.0 has no renewalInfo (RFC 9773) and ignores `replaces` and `profile`, so tests
against it alone prove nothing about them; a fault suite also needs a CA that fails on demand.
Every ACME request of the stack goes through here, so counts and faults are complete.

Pebble builds every URL it hands out (directory, Location, Link, order, authorization,
challenge, finalize and certificate URLs, the account `kid` it expects) from the request's
Host header, and checks each JWS `url` against Host + path. Forwarding the client's Host
unchanged therefore makes Pebble speak in the front's address with no rewriting at all.

Served besides Pebble's own paths:
  GET  /renewal-info/<certID>  RFC 9773 window: 2/3 into the certificate's life unless set
  GET  /_front/stats           {"total", "by_kind": {"newOrder": n}, "by_request":
                               {"POST newOrder": n}, "faults_fired": {"newOrder serverError": n}}
  GET  /_front/requests        decoded JWS of every POST (?kind=newOrder to filter)
  GET  /_front/faults          fault rules still active
  POST /_front/faults          {"kind", "action", "count"?, "probability"?, ...} adds a rule
  POST /_front/windows         {"cert_id", "start", "end", "retry_after"?, "explanation_url"?}
  GET  /_front/certificates    certificates relayed so far, by certID (names, serial, dates)
  POST /_front/profiles        {"profiles": {"classic": "..."} | null} for the directory meta
  GET  /_front/limits          Let's Encrypt's limits if on: policy, allowed, exempt, refused
  POST /_front/limits          {"enabled": true, "scale": 360, ...} (local_stack.ca_limits)
  POST /_front/reset           drop faults, invalidations, windows, profiles and limits
                               ({"recorded": true, "stats": true} also forget requests, counts)

Faults, per endpoint kind or "*" (see KIND_PREFIXES): serverError (5xx problem), reset (RST,
no answer), delay (seconds, then on to Pebble), rateLimited (429 + Retry-After), badNonce (400
+ a fresh Replay-Nonce), invalid (challenge/authz: the authorization fails; order/finalize: the
order goes invalid; the front keeps showing those objects invalid until a reset).

Limits (off until set): newOrder is checked against Let's Encrypt's orders-per-account,
certificates-per-registered-domain and per-exact-set limits, with its ARI and renewal
exemptions, read from the JWS payload (`identifiers`, `replaces`) since Pebble 2.4 ignores
`replaces`; a refusal is a 429 `rateLimited` problem with Retry-After, as Let's Encrypt sends.
See local_stack/ca_limits.py for the model.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import ssl
import threading
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import urllib3
from cryptography import x509

from local_stack import ca_limits, control, fault_rules, http_plumbing
from local_stack.ca_limits import CaLimits, Issuances, Verdict
from local_stack.control import ControlApi, ControlClient, Query, Route
from local_stack.http_plumbing import Answer, AnswerHandler, Serving, serve_in_thread
from wildcert.logic import ari

log = logging.getLogger("local_stack.acme_front")

ERROR_PREFIX = "urn:ietf:params:acme:error:"
PROBLEM_TYPE = "application/problem+json"
RENEWAL_INFO_PATH = "/renewal-info"
CONTROL_PREFIX = "/_front/"
# Pebble 2.4.0's fixed paths (wfe.go); its directory names only some of them.
PEBBLE_NONCE_PATH = "/nonce-plz"
KIND_PREFIXES = (
    ("/dir", "directory"),
    (PEBBLE_NONCE_PATH, "newNonce"),
    ("/sign-me-up", "newAccount"),
    ("/my-account/", "account"),
    ("/list-orderz/", "account"),
    ("/order-plz", "newOrder"),
    ("/my-order/", "order"),
    ("/authZ/", "authz"),
    ("/chalZ/", "challenge"),
    ("/finalize-order/", "finalize"),
    ("/certZ/", "certificate"),
    ("/rollover-account-key", "keyChange"),
    ("/revoke-cert", "revokeCert"),
    (RENEWAL_INFO_PATH + "/", "renewalInfo"),
)
KINDS = frozenset(kind for _, kind in KIND_PREFIXES) | {"other"}
INVALID_KINDS = frozenset({"challenge", "authz", "order", "finalize"})
# Identity bodies only: certificates are parsed and JSON is patched on the way.
HOP_BY_HOP = http_plumbing.HOP_BY_HOP | {"accept-encoding"}
JSON_INDENT = 2
# Let's Encrypt asks for a check every 6 hours; its windows last about two days.
DEFAULT_RETRY_AFTER = 21600
WINDOW_LENGTH = dt.timedelta(days=2)
RECORDED_LIMIT = 10000
IDLE_TIMEOUT = 120.0
HANDSHAKE_TIMEOUT = 10.0


# ---- what the front knows --------------------------------------------------------------


@dataclass(kw_only=True)
class FaultRule(fault_rules.FaultRule):
    """Answer requests of endpoint `kind` (or "*") with the fault `action`."""

    ACTIONS = frozenset({"serverError", "reset", "delay", "rateLimited", "badNonce", "invalid"})

    kind: str
    status: int = 500
    seconds: float = 1.0
    retry_after: int = 1
    error_type: str | None = None
    detail: str | None = None

    def matches(self, kind: str) -> bool:
        return self.kind in (kind, "*")


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    retry_after: int = DEFAULT_RETRY_AFTER
    explanation_url: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "suggestedWindow": {"start": _iso(self.start), "end": _iso(self.end)}
        }
        if self.explanation_url:
            body["explanationURL"] = self.explanation_url
        return body


@dataclass(frozen=True)
class CertSeen:
    not_before: dt.datetime
    not_after: dt.datetime
    serial: str
    names: tuple[str, ...] = ()
    seen_at: dt.datetime | None = None  # when the front first relayed it: its issuance here

    def window(self) -> Window:
        """Like Let's Encrypt: start with a third of the lifetime left."""
        start = self.not_before + (self.not_after - self.not_before) * 2 / 3
        return Window(start, start + min(WINDOW_LENGTH, (self.not_after - start) / 2))

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "serial": self.serial,
            "names": list(self.names),
        }
        if self.seen_at is not None:
            body["seen_at"] = _iso(self.seen_at)
        return body


@dataclass(frozen=True)
class Invalidation:
    """An object the front has declared invalid, whatever Pebble says about it."""

    error: dict[str, Any]
    challenge_path: str | None = None


@dataclass
class FrontState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    rules: fault_rules.RuleBook[FaultRule] = field(
        default_factory=lambda: fault_rules.RuleBook(drop_spent=True)
    )
    windows: dict[str, Window] = field(default_factory=dict)
    certificates: dict[str, CertSeen] = field(default_factory=dict)
    profiles: dict[str, str] | None = None
    recorded: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECORDED_LIMIT))
    next_seq: int = 1
    by_kind: Counter[str] = field(default_factory=Counter)
    by_request: Counter[str] = field(default_factory=Counter)
    faults_fired: Counter[str] = field(default_factory=Counter)
    # challenge path -> (authorization path, challenge object), learnt from relayed authzs
    challenges: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    invalid_authzs: dict[str, Invalidation] = field(default_factory=dict)
    invalid_orders: dict[str, Invalidation] = field(default_factory=dict)
    limits: CaLimits | None = None
    issuances: Issuances = field(default_factory=Issuances)

    def count(self, method: str, kind: str) -> int:
        with self.lock:
            self.by_kind[kind] += 1
            self.by_request[f"{method} {kind}"] += 1
            seq = self.next_seq
            self.next_seq += 1
            return seq

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.recorded.append(entry)

    def pick(self, kind: str) -> tuple[float, FaultRule | None]:
        """Seconds to stall, then the first other rule that fires for this request."""
        delays = self.rules.take_all(lambda r: r.matches(kind) and r.action == "delay")
        chosen = self.rules.take(lambda r: r.matches(kind) and r.action != "delay")
        with self.lock:
            for rule in ([delays[0]] if delays else []) + ([chosen] if chosen else []):
                self.faults_fired[f"{kind} {rule.action}"] += 1
        return sum(rule.seconds for rule in delays), chosen

    def reset(self, *, recorded: bool, stats: bool) -> None:
        self.rules.clear()
        with self.lock:
            self.windows.clear()
            self.invalid_authzs.clear()
            self.invalid_orders.clear()
            self.profiles = None
            self.limits = None
            if recorded:
                self.recorded.clear()
            if stats:
                self.by_kind.clear()
                self.by_request.clear()
                self.faults_fired.clear()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": sum(self.by_kind.values()),
                "by_kind": dict(self.by_kind),
                "by_request": dict(self.by_request),
                "faults_fired": dict(self.faults_fired),
            }

    def renewal_window(self, cert_id: str) -> Window | None:
        with self.lock:
            if cert_id in self.windows:
                return self.windows[cert_id]
            seen = self.certificates.get(cert_id)
        return seen.window() if seen is not None else None

    def replaces_in_window(self, cert_id: object) -> bool:
        """Whether `replaces` names a certificate this CA issued whose window holds now."""
        if not isinstance(cert_id, str):
            return False
        with self.lock:
            known = cert_id in self.certificates
        window = self.renewal_window(cert_id) if known else None
        return window is not None and window.start <= dt.datetime.now(dt.UTC) < window.end

    def set_limits(self, wanted: Mapping[str, Any]) -> dict[str, Any]:
        settings = dict(wanted)
        enabled = settings.pop("enabled", True)
        if not isinstance(enabled, bool):
            raise ValueError("enabled must be true or false")
        limits = CaLimits(ca_limits.policy_from(settings)) if enabled else None
        with self.lock:
            self.limits = limits
        return self.limits_json()

    def limits_json(self) -> dict[str, Any]:
        with self.lock:
            if self.limits is None:
                return {"enabled": False}
            return {"enabled": True, **self.limits.as_json()}


# ---- answers ---------------------------------------------------------------------------


class Reset(Exception):
    """Close the connection without an answer."""


def json_answer(status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> Answer:
    return http_plumbing.json_answer(status, body, headers, indent=JSON_INDENT)


def problem(
    status: int, error_type: str, detail: str, headers: Iterable[tuple[str, str]] = ()
) -> Answer:
    body = {"type": _urn(error_type), "detail": detail, "status": status}
    return Answer(status, [("Content-Type", PROBLEM_TYPE), *headers], json.dumps(body).encode())


def _urn(error_type: str) -> str:
    return error_type if ":" in error_type else ERROR_PREFIX + error_type


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _parse_time(text: object) -> dt.datetime:
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def endpoint_kind(path: str) -> str:
    for prefix, kind in KIND_PREFIXES:
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return kind
    return "other"


def _object_id(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def decode_jws(body: bytes) -> dict[str, Any]:
    """The protected header and payload of a flattened JWS; payload None for POST-as-GET."""
    try:
        jws = json.loads(body)
        protected = json.loads(_b64decode(jws["protected"]))
        raw = _b64decode(jws.get("payload", ""))
    except (ValueError, KeyError, TypeError):
        return {"protected": None, "payload": None, "undecodable": True}
    try:
        payload: Any = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode(errors="replace")
    return {"protected": protected, "payload": payload}


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _account(entry: Mapping[str, Any]) -> str:
    """The account a JWS speaks for: its `kid` (newOrder always carries one)."""
    protected = entry.get("protected")
    return str(protected.get("kid", "")) if isinstance(protected, dict) else ""


def _dns_names(leaf: x509.Certificate) -> list[str]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(name) for name in san.get_values_for_type(x509.DNSName)]


# ---- the proxy -------------------------------------------------------------------------


@dataclass
class Upstream:
    """Pebble, over a verified keep-alive pool."""

    port: int
    ca: Path
    host: str = "127.0.0.1"
    pool: urllib3.HTTPSConnectionPool = field(init=False)

    def __post_init__(self) -> None:
        self.pool = urllib3.HTTPSConnectionPool(
            self.host,
            self.port,
            maxsize=32,
            block=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=str(self.ca),
            # A POST must reach Pebble at most once: only a failed connect is retried.
            retries=urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0),
            timeout=urllib3.Timeout(connect=5.0, read=90.0),
        )

    def send(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        response = self.pool.urlopen(
            method,
            target,
            body=body if method not in ("GET", "HEAD") else None,
            headers=dict(headers),
            redirect=False,
            assert_same_host=False,
            preload_content=True,
            decode_content=False,
        )
        kept = http_plumbing.end_to_end(response.headers.items(), HOP_BY_HOP)
        return Answer(response.status, kept, response.data or b"")

    def nonce(self, host: str) -> str | None:
        try:
            answer = self.send("HEAD", PEBBLE_NONCE_PATH, {"Host": host}, b"")
        except urllib3.exceptions.HTTPError:
            return None
        return answer.header("Replay-Nonce")

    def close(self) -> None:
        self.pool.close()


@dataclass
class Incoming:
    method: str
    target: str
    path: str
    host: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def kind(self) -> str:
        return endpoint_kind(self.path)


@dataclass
class AcmeFront:
    """The proxy's behaviour, apart from sockets: one Incoming in, one Answer out."""

    state: FrontState
    upstream: Upstream

    def handle(self, request: Incoming) -> Answer:
        kind = request.kind
        seq = self.state.count(request.method, kind)
        entry = self._entry(seq, request, kind)
        entry["status"] = "reset"
        try:
            answer = self._answer(request, kind, entry)
            entry["status"] = answer.status
            return answer
        finally:
            if request.method == "POST":
                self.state.record(entry)

    @staticmethod
    def _entry(seq: int, request: Incoming, kind: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"seq": seq, "method": request.method, "kind": kind}
        entry["url"] = f"https://{request.host}{request.target}"
        entry["time"] = _iso(dt.datetime.now(dt.UTC))
        if request.method == "POST":
            entry.update(decode_jws(request.body))
        return entry

    def _answer(self, request: Incoming, kind: str, entry: dict[str, Any]) -> Answer:
        stall, rule = self.state.pick(kind)
        if stall:
            time.sleep(stall)
        if rule is not None:
            entry["fault"] = rule.action
            injected = self._inject(rule, request, kind)
            if injected is not None:
                return injected
        if kind == "renewalInfo":
            return self._renewal_info(request)
        verdict: Verdict | None = None
        if kind == "newOrder" and request.method == "POST":
            refused = self._refuse_profile(request, entry.get("payload"))
            if refused is not None:
                return refused
            verdict = self._limit(entry)
            if verdict is not None and not verdict.allowed:
                headers = [("Retry-After", str(verdict.retry_after)),
                           *self._nonce_header(request)]
                return problem(429, "rateLimited", verdict.detail, headers)
        if rule is not None and rule.action == "invalid":
            self._invalidate(rule, request, kind)
        answer = self._forward(request)
        if verdict is not None and answer.status >= 300:
            self._refund(entry, verdict)
        return self._after(request, kind, answer)

    # -- Let's Encrypt's limits --------------------------------------------------------

    def _limit(self, entry: dict[str, Any]) -> Verdict | None:
        """The limits' word on a newOrder (None when they are off), noted in its record."""
        raw = entry.get("payload")
        payload: dict[str, Any] = raw if isinstance(raw, dict) else {}
        identifiers = [str(i.get("value", "")) for i in payload.get("identifiers") or []
                       if isinstance(i, dict)]
        in_window = self.state.replaces_in_window(payload.get("replaces"))
        with self.state.lock:
            if self.state.limits is None:
                return None
            verdict = self.state.limits.new_order(
                _account(entry), identifiers, ari_window_open=in_window,
                history=self.state.issuances)
        entry["limits"] = verdict.as_json()
        return verdict

    def _refund(self, entry: dict[str, Any], verdict: Verdict) -> None:
        with self.state.lock:
            if self.state.limits is not None:
                self.state.limits.refund_order(_account(entry), verdict)

    # -- forwarding ----------------------------------------------------------------------

    def _forward(self, request: Incoming) -> Answer:
        headers = dict(http_plumbing.end_to_end(request.headers, HOP_BY_HOP))
        headers["Host"] = request.host  # Pebble builds every URL from it: see the docstring
        try:
            return self.upstream.send(request.method, request.target, headers, request.body)
        except urllib3.exceptions.HTTPError as error:
            log.warning("Pebble did not answer %s %s: %s", request.method, request.path, error)
            return problem(502, "serverInternal", f"the ACME front could not reach Pebble: {error}")

    def _after(self, request: Incoming, kind: str, answer: Answer) -> Answer:
        """Learn from Pebble's answer and show it as the front's world has it."""
        if answer.status >= 300:
            return answer
        if kind == "directory":
            return self._directory(request, answer)
        if kind == "certificate":
            self._learn_certificate(answer.body)
            return answer
        body = answer.json()
        if not isinstance(body, dict):
            return answer
        if kind == "authz":
            self._learn_challenges(request.path, body)
            return answer.with_json(self._patch_authz(request.path, body), indent=JSON_INDENT)
        if kind in ("newOrder", "order", "finalize"):
            order_path = answer.header("Location") if kind == "newOrder" else request.path
            order_id = _object_id(urllib.parse.urlsplit(order_path or "").path)
            return answer.with_json(self._patch_order(order_id, body), indent=JSON_INDENT)
        return answer

    def _directory(self, request: Incoming, answer: Answer) -> Answer:
        body = answer.json()
        if not isinstance(body, dict):
            return answer
        body["renewalInfo"] = f"https://{request.host}{RENEWAL_INFO_PATH}"
        with self.state.lock:
            profiles = dict(self.state.profiles) if self.state.profiles is not None else None
        if profiles is not None:
            body.setdefault("meta", {})["profiles"] = profiles
        return answer.with_json(body, indent=JSON_INDENT)

    def _refuse_profile(self, request: Incoming, payload: Any) -> Answer | None:
        """Like Let's Encrypt once profiles are on offer: an unknown one is an error."""
        with self.state.lock:
            profiles = self.state.profiles
        wanted = payload.get("profile") if isinstance(payload, dict) else None
        if profiles is None or wanted is None or wanted in profiles:
            return None
        return problem(
            400,
            "invalidProfile",
            f"profile {wanted!r} is not offered",
            self._nonce_header(request),
        )

    # -- renewal information -----------------------------------------------------------

    def _renewal_info(self, request: Incoming) -> Answer:
        if request.method not in ("GET", "HEAD"):
            return problem(405, "malformed", "renewalInfo takes GET")
        cert_id = request.path[len(RENEWAL_INFO_PATH) + 1 :]
        if cert_id.count(".") != 1 or not all(cert_id.split(".")):
            return problem(400, "malformed", f"{cert_id!r} is not an ARI CertID")
        window = self.state.renewal_window(cert_id)
        if window is None:
            return problem(404, "malformed", f"no certificate with CertID {cert_id}")
        return json_answer(200, window.as_json(), [("Retry-After", str(window.retry_after))])

    def _learn_certificate(self, pem: bytes) -> None:
        try:
            leaf = x509.load_pem_x509_certificates(pem)[0]
            cert_id = ari.cert_id(leaf)
        except (ValueError, IndexError, x509.ExtensionNotFound, ari.InvalidRenewalInfo) as error:
            log.warning("could not read a relayed certificate: %s", error)
            return
        serial = f"{leaf.serial_number:x}"
        names = ca_limits.identifier_set(_dns_names(leaf))
        seen = CertSeen(leaf.not_valid_before_utc, leaf.not_valid_after_utc, serial, names,
                        dt.datetime.now(dt.UTC))
        with self.state.lock:
            if cert_id in self.state.certificates:
                return  # downloaded again: issued once
            self.state.certificates[cert_id] = seen
            if self.state.limits is not None:
                self.state.limits.certificate_issued(names, self.state.issuances)
            self.state.issuances.add(names)

    # -- faults --------------------------------------------------------------------------

    def _inject(self, rule: FaultRule, request: Incoming, kind: str) -> Answer | None:
        """The faulty answer, or None when the request goes on to Pebble."""
        if rule.action == "reset":
            raise Reset
        if rule.action == "serverError":
            detail = rule.detail or "the ACME front injected a server error"
            return problem(
                rule.status, rule.error_type or "serverInternal", detail,
                self._nonce_header(request),
            )
        if rule.action == "rateLimited":
            headers = [("Retry-After", str(rule.retry_after)), *self._nonce_header(request)]
            detail = rule.detail or "the ACME front injected a rate limit"
            return problem(429, "rateLimited", detail, headers)
        if rule.action == "badNonce":
            nonce = self.upstream.nonce(request.host)
            headers = [("Replay-Nonce", nonce)] if nonce else []
            detail = rule.detail or "JWS has an invalid anti-replay nonce (injected by the front)"
            return problem(400, "badNonce", detail, headers)
        if rule.action == "invalid" and kind == "challenge":
            return self._fail_challenge(rule, request)
        return None

    def _nonce_header(self, request: Incoming) -> list[tuple[str, str]]:
        """A CA sends a fresh nonce with every answer to a POST, errors included."""
        if request.method != "POST":
            return []
        nonce = self.upstream.nonce(request.host)
        return [("Replay-Nonce", nonce)] if nonce else []

    def _fail_challenge(self, rule: FaultRule, request: Incoming) -> Answer:
        """Not forwarded: Pebble would validate it, and then reuse the valid authorization."""
        error = self._error(rule, "unauthorized", "incorrect TXT record (injected by the front)")
        with self.state.lock:
            authz_path, challenge = self.state.challenges.get(request.path, ("", {}))
            if authz_path:
                self.state.invalid_authzs[authz_path] = Invalidation(error, request.path)
        failed = {
            **challenge,
            "url": f"https://{request.host}{request.path}",
            "status": "invalid",
            "error": error,
        }
        headers = [*self._nonce_header(request), ("Link", self._link("/dir", "index", request))]
        if authz_path:
            headers.append(("Link", self._link(authz_path, "up", request)))
        return json_answer(200, failed, headers)

    @staticmethod
    def _link(path: str, rel: str, request: Incoming) -> str:
        return f'<https://{request.host}{path}>;rel="{rel}"'

    @staticmethod
    def _error(rule: FaultRule, default_type: str, default_detail: str) -> dict[str, Any]:
        return {
            "type": _urn(rule.error_type or default_type),
            "detail": rule.detail or default_detail,
            "status": 403 if (rule.error_type or default_type) == "unauthorized" else 500,
        }

    def _invalidate(self, rule: FaultRule, request: Incoming, kind: str) -> None:
        """Marked whatever Pebble answers: after one of its 5% badNonces the client's retry
        must still find the object invalid, or a count of one would be spent on nothing."""
        with self.state.lock:
            if kind == "authz":
                error = self._error(rule, "unauthorized", "validation failed (injected)")
                self.state.invalid_authzs[request.path] = Invalidation(error)
            elif kind in ("order", "finalize"):
                error = self._error(rule, "serverInternal", "the order failed (injected)")
                self.state.invalid_orders[_object_id(request.path)] = Invalidation(error)

    # -- the front's world: objects it has declared invalid ------------------------------

    def _learn_challenges(self, authz_path: str, body: dict[str, Any]) -> None:
        with self.state.lock:
            for challenge in body.get("challenges") or []:
                if isinstance(challenge, dict) and isinstance(challenge.get("url"), str):
                    path = urllib.parse.urlsplit(challenge["url"]).path
                    self.state.challenges[path] = (authz_path, dict(challenge))

    def _patch_authz(self, authz_path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            mark = self.state.invalid_authzs.get(authz_path)
        if mark is None:
            return body
        challenges = []
        for challenge in body.get("challenges") or []:
            path = urllib.parse.urlsplit(str(challenge.get("url", ""))).path
            hit = path == mark.challenge_path or (
                mark.challenge_path is None and challenge.get("type") == "dns-01"
            )
            challenges.append({**challenge, "status": "invalid", "error": mark.error} if hit
                              else challenge)
        return {**body, "status": "invalid", "challenges": challenges}

    def _patch_order(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            mark = self.state.invalid_orders.get(order_id)
            if mark is None:
                authz_paths = [
                    urllib.parse.urlsplit(str(url)).path for url in body.get("authorizations", [])
                ]
                mark = next(
                    (self.state.invalid_authzs[p] for p in authz_paths
                     if p in self.state.invalid_authzs),
                    None,
                )
        if mark is None:
            return body
        patched = {**body, "status": "invalid", "error": mark.error}
        patched.pop("certificate", None)
        return patched


# ---- control API -----------------------------------------------------------------------


def _requests(state: FrontState, query: Query, wanted: dict[str, Any]) -> Any:
    kinds = set(query.get("kind", []))
    with state.lock:
        found = [dict(e) for e in state.recorded if not kinds or e["kind"] in kinds]
    return {"requests": sorted(found, key=lambda e: e["seq"])}


def _faults(state: FrontState, query: Query, wanted: dict[str, Any]) -> Any:
    return {"faults": state.rules.as_json()}


def _add_fault(state: FrontState, query: Query, wanted: dict[str, Any]) -> Any:
    fields = fault_fields(wanted)
    return state.rules.add(lambda rule_id: FaultRule(id=rule_id, **fields)).as_json()


def _set_window(state: FrontState, query: Query, wanted: dict[str, Any]) -> Any:
    cert_id, window = window_from(wanted)
    with state.lock:
        state.windows[cert_id] = window
    return {"cert_id": cert_id, **window.as_json()}


def _certificates(state: FrontState, query: Query, wanted: dict[str, Any]) -> Any:
    with state.lock:
        return {"certificates": {cid: c.as_json() for cid, c in state.certificates.items()}}


def _set_profiles(state: FrontState, query: Query, wanted: dict[str, Any]) -> Any:
    profiles = wanted.get("profiles")
    if profiles is not None and not isinstance(profiles, dict):
        raise ValueError("profiles must be an object of name -> description, or null")
    with state.lock:
        state.profiles = None if profiles is None else {str(k): str(v) for k, v in
                                                        profiles.items()}
    return {"profiles": profiles}


def _reset(state: FrontState, query: Query, wanted: dict[str, Any]) -> Any:
    state.reset(recorded=bool(wanted.get("recorded")), stats=bool(wanted.get("stats")))
    return {"reset": True}


# The routes below CONTROL_PREFIX, as the module docstring lists them.
ROUTES: dict[tuple[str, str], Route[FrontState]] = {
    **control.COUNTED,
    ("GET", "requests"): _requests,
    ("GET", "faults"): _faults,
    ("POST", "faults"): _add_fault,
    ("POST", "windows"): _set_window,
    ("GET", "certificates"): _certificates,
    ("POST", "profiles"): _set_profiles,
    ("POST", "reset"): _reset,
}


def fault_fields(wanted: Mapping[str, Any]) -> dict[str, Any]:
    """A fault rule's fields from a control request, checked so a typo fails loudly."""
    kind, fault = str(wanted["kind"]), str(wanted["action"])
    if kind != "*" and kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {sorted(KINDS)} or '*'")
    if fault == "invalid" and kind not in INVALID_KINDS:
        raise ValueError(f"fault 'invalid' applies to {sorted(INVALID_KINDS)}, not {kind!r}")
    fields = FaultRule.checked(wanted)
    if fault == "serverError" and not 500 <= int(fields.get("status", 500)) <= 599:
        raise ValueError("a serverError status must be 5xx")
    return fields


def window_from(wanted: Mapping[str, Any]) -> tuple[str, Window]:
    start, end = _parse_time(wanted["start"]), _parse_time(wanted["end"])
    retry_after = int(wanted.get("retry_after") or DEFAULT_RETRY_AFTER)
    return str(wanted["cert_id"]), Window(start, end, retry_after, wanted.get("explanation_url"))


# ---- sockets ---------------------------------------------------------------------------


class _Handler(AnswerHandler):
    server: _FrontServer
    timeout = IDLE_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def _handle(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            self.send_answer(problem(411, "malformed", "send a Content-Length"))
            self.close_connection = True
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urllib.parse.urlsplit(self.path).path
        if self.server.control.handles(self.path):
            self.send_answer(self.server.control.answer(self.command, self.path, body))
            return
        request = Incoming(
            method=self.command,
            target=self.path,
            path=path,
            host=self.headers.get("Host") or f"{self.server.host}:{self.server.port}",
            headers=list(self.headers.items()),
            body=body,
        )
        try:
            answer = self.server.front.handle(request)
        except Reset:
            self.reset_connection()
            return
        self.send_answer(answer)

    do_GET = do_HEAD = do_POST = _handle


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, front: AcmeFront, context: ssl.SSLContext) -> None:
        self.front = front
        self.control = ControlApi(CONTROL_PREFIX, ROUTES, front.state, indent=JSON_INDENT)
        self.context = context
        self.host, self.port = host, port
        super().__init__((host, port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, on the request's own thread, not in the accept loop.
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            log.debug("TLS handshake with %s failed: %s", client_address, error)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, TimeoutError) as error:
            log.debug("connection from %s ended: %s", client_address, error)
        finally:
            tls.close()


@dataclass
class FrontServer:
    """The front on host:port, TLS with Pebble's certificate, Pebble on `pebble_port`."""

    host: str
    port: int
    pebble_port: int
    tls_dir: Path
    state: FrontState = field(default_factory=FrontState)
    _serving: Serving | None = None
    _upstream: Upstream | None = None

    def start(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls_dir / "cert.pem", self.tls_dir / "key.pem")
        self._upstream = Upstream(self.pebble_port, self.tls_dir / "ca.pem", self.host)
        front = AcmeFront(self.state, self._upstream)
        server = _FrontServer(self.host, self.port, front, context)
        self._serving = serve_in_thread(server, "acme-front")

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
        if self._upstream is not None:
            self._upstream.close()


# ---- for tests, the demo and the benchmark ---------------------------------------------


@dataclass(frozen=True)
class FrontClient(ControlClient):
    """The control API from outside: `stack.acme_front`."""

    ca: Path

    PREFIX = CONTROL_PREFIX
    NAME = "ACME front"
    SCHEME = "https"

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def directory_url(self) -> str:
        return f"{self.base_url}/dir"

    def requests(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every POST so far, oldest first: seq, kind, url, protected, payload, status."""
        query = f"?kind={urllib.parse.quote(kind)}" if kind else ""
        return list(self._call("GET", f"requests{query}")["requests"])

    def new_orders(self) -> list[dict[str, Any]]:
        return self.requests("newOrder")

    def inject(self, kind: str, fault: str, **options: Any) -> dict[str, Any]:
        """Add a fault rule; options: the timing of local_stack/fault_rules.py (count,
        probability, skip, seed; none: until reset()) and status, seconds, retry_after,
        error_type, detail."""
        return dict(self._call("POST", "faults", {"kind": kind, "action": fault, **options}))

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "faults")["faults"])

    def set_window(
        self,
        cert_id: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        retry_after: int | None = None,
        explanation_url: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "cert_id": cert_id,
            "start": _iso(start),
            "end": _iso(end),
            "retry_after": retry_after,
            "explanation_url": explanation_url,
        }
        return dict(self._call("POST", "windows", body))

    def set_profiles(self, profiles: Mapping[str, str] | None) -> None:
        self._call("POST", "profiles", {"profiles": dict(profiles) if profiles else None})

    def certificates(self) -> dict[str, dict[str, Any]]:
        """{certID: {"not_before", "not_after", "serial", "names", "seen_at"}}"""
        return dict(self._call("GET", "certificates")["certificates"])

    def set_limits(self, **policy: Any) -> dict[str, Any]:
        """Switch Let's Encrypt's limits on (fields of ca_limits.Policy; `scale` shortens
        every period); `reset()` switches them off."""
        return dict(self._call("POST", "limits", {"enabled": True, **policy}))

    def limits(self) -> dict[str, Any]:
        """{"enabled": bool, "policy", "allowed", "exempt": {"ari", "renewal"},
        "refused": {limit: n}, "issued"}"""
        return dict(self._call("GET", "limits"))

    def reset(self, *, recorded: bool = False, stats: bool = False) -> None:
        self._call("POST", "reset", {"recorded": recorded, "stats": stats})

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))
