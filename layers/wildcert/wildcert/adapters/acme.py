"""The ACME protocol (RFC 8555) against Let's Encrypt or any compatible CA, on `acme` + `josepy`.

`acme` does the JWS signing, the nonces and the message types, through its public API only:
`ClientNetwork` (constructor, `post`, `get`, `account`) and the `messages` types. wildcert drives
the order itself because the library's polling sleeps a fixed second, ignores Retry-After on
authorizations and cannot send `replaces`.

Two things `acme`'s exceptions do not carry come from requests' own public API instead:
- the CA's answer to a refused request (its Retry-After says when a `rateLimited` limit lifts,
  its status whether a failure without a problem document is worth retrying): a response hook
  on the client's requests session (requests' `hooks`) shows each call the responses it got;
- the deadline and the CA bundle: a transport adapter (`DeadlineTransport`) mounted on the
  client's requests session caps every request's timeout (the nonce requests too) by the
  invocation's deadline and checks TLS against the bundle.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import email.utils
import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import josepy as jose
import requests
from acme import challenges, client, errors, messages
from acme import jws as acme_jws
from cryptography import x509
from requests.adapters import HTTPAdapter

from wildcert import container, retry
from wildcert.deadline import Deadline
from wildcert.errors import WildcertError
from wildcert.logic.certificates import generate_key, key_pem

USER_AGENT = "wildcert/0.1 (+acme-python)"
ERROR_PREFIX = "urn:ietf:params:acme:error:"
TRANSIENT_CODES = frozenset({"badNonce", "serverInternal"})
T = TypeVar("T")
# A warm container reuses the directory: CAs change it rarely and announce it long before.
DIRECTORY_TTL_SECONDS = 3600.0


class AcmeError(WildcertError):
    """The CA refused or failed; the message carries the CA's own words and what to do."""

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None,
                 detail: str | None = None, unavailable: bool = False):
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
        self.detail = detail  # the CA's problem detail alone: it says what a rate limit counts
        # The CA did not answer, or failed on its side (5xx, serverInternal), past the retries:
        # another CA may be asked instead.
        self.unavailable = unavailable


class OrderStatus(enum.Enum):
    """An order's status (RFC 8555 §7.1.6)."""

    PENDING = "pending"
    READY = "ready"
    PROCESSING = "processing"
    VALID = "valid"
    INVALID = "invalid"


def new_account_key_pem() -> bytes:
    return key_pem(generate_key("ec256"))


class NewOrderWithReplaces(messages.NewOrder):
    """newOrder with the ARI `replaces` field (RFC 9773 §5), which `acme` does not have."""

    replaces: str | None = jose.field("replaces", omitempty=True)


@dataclass(frozen=True)
class DnsChallenge:
    """One DNS-01 challenge still to answer: put `value` in TXT `record_name`."""

    identifier: str
    wildcard: bool
    record_name: str
    value: str
    authorization_url: str
    challenge: messages.ChallengeBody


@dataclass(frozen=True)
class Order:
    """A new order: where it lives, where to finalize it and what is left to prove."""

    url: str
    finalize_url: str
    challenges: tuple[DnsChallenge, ...]


@dataclass(frozen=True)
class OrderState:
    """An order as the CA last described it (RFC 8555 §7.1.3).

    `problem` is the CA's error document in words, when it gave one (an invalid order).
    """

    url: str
    status: OrderStatus
    finalize_url: str
    certificate_url: str | None
    problem: str | None

    @classmethod
    def from_json(cls, url: str, body: object) -> OrderState:
        if not isinstance(body, dict):
            raise AcmeError(f"the CA described the order at {url} with something other than "
                            "a JSON object")
        try:
            status = OrderStatus(body.get("status"))
        except ValueError:
            raise AcmeError(f"the order at {url} has an unknown status "
                            f"{body.get('status')!r}") from None
        finalize = body.get("finalize")
        if not isinstance(finalize, str) or not finalize:
            raise AcmeError(f"the order at {url} names no finalize URL")
        certificate = body.get("certificate")
        return cls(
            url=url,
            status=status,
            finalize_url=finalize,
            certificate_url=certificate if isinstance(certificate, str) and certificate else None,
            problem=_problem(body.get("error")),
        )

    @property
    def issued(self) -> bool:
        return self.status is OrderStatus.VALID and self.certificate_url is not None


class DeadlineTransport(HTTPAdapter):
    """requests' transport for the CA: each request's timeout capped by the invocation's
    deadline (a slow CA must not hold the invocation past it), and TLS checked against
    `verify` when it names a CA bundle (True: whatever requests was asked for)."""

    def __init__(self, deadline: Deadline, verify: str | bool = True):
        super().__init__()
        self.deadline = deadline
        self.verify = verify

    def send(self, request: requests.PreparedRequest, stream: bool = False,  # noqa: PLR0917
             timeout: Any = None, verify: bool | str = True, cert: Any = None,
             proxies: Any = None) -> requests.Response:
        cap = max(1.0, self.deadline.remaining())
        if isinstance(timeout, tuple):
            timeout = tuple(cap if t is None else min(t, cap) for t in timeout)
        else:
            timeout = cap if timeout is None else min(timeout, cap)
        if verify is not False and self.verify is not True:
            verify = self.verify  # also over REQUESTS_CA_BUNDLE, which requests put in its place
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                            proxies=proxies)


class Refused(WildcertError):
    """`acme`'s exception for one request, with the CA's answer to it (None if none came)."""

    def __init__(self, error: Exception, response: requests.Response | None):
        super().__init__(str(error))
        self.error = error
        self.response = response

    @property
    def retry_after(self) -> float | None:
        """The CA's Retry-After, in seconds (retry.call waits at least that long)."""
        if self.response is None:
            return None
        return parse_retry_after(self.response.headers.get("Retry-After"))


# The responses the current call got (its thread's or task's own: calls never mix).
_SEEN: contextvars.ContextVar[list[requests.Response] | None] = contextvars.ContextVar(
    "wildcert_acme_responses", default=None)


def seen(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A requests response hook: note the response for the call that is waiting for it."""
    responses = _SEEN.get()
    if responses is not None:
        responses.append(response)


def answered(send: Callable[[], T]) -> T:
    """`send()`, with `acme`'s exception turned into Refused carrying the CA's answer.

    `acme` raises for a response that is not a success (RFC 7807 problem or not) or lacks a
    nonce; the call's responses are its request, the nonce it fetched and the one resend after
    `badNonce` at most, so the answer refused is the last that was not a success.
    """
    responses: list[requests.Response] = []
    token = _SEEN.set(responses)
    try:
        return send()
    except (messages.Error, errors.Error) as exc:
        failed = [r for r in responses if not r.ok]
        raise Refused(exc, failed[-1] if failed else None) from exc
    finally:
        _SEEN.reset(token)


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def error_code(error: BaseException) -> str | None:
    """The ACME error type without its URN prefix, also for types `acme` does not know."""
    if isinstance(error, Refused):
        error = error.error
    if isinstance(error, messages.Error) and error.typ:
        return str(error.typ).rsplit(":", maxsplit=1)[-1]
    return None


def _describe(error: BaseException) -> str:
    if isinstance(error, Refused):
        if _problem_document(error.error) or error.response is None:
            return _describe(error.error)
        return f"HTTP {error.response.status_code} from {error.response.url}"
    if isinstance(error, messages.Error):
        parts = [error.detail or error.description or str(error)]
        for sub in error.subproblems or ():
            who = sub.identifier.value if sub.identifier else "?"
            parts.append(f"{who}: {sub.detail}")
        return f"{error_code(error) or 'error'}: " + "; ".join(p for p in parts if p)
    return f"{type(error).__name__}: {error}"


def _problem(error: object) -> str | None:
    """A problem document (RFC 7807) in words, or None when there is none."""
    if not error:
        return None
    if not isinstance(error, dict):
        return f"error: {str(error)[:200]}"
    try:
        return _describe(messages.Error.from_json(error))
    except jose.DeserializationError:
        return f"error: {str(error)[:200]}"


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return True
    if not isinstance(error, Refused):
        return False
    if isinstance(error.error, messages.Error) and error.error.code in TRANSIENT_CODES:
        return True
    if isinstance(error.error, errors.BadNonce | errors.MissingNonce):
        return True
    # A server error without an ACME error type: a proxy's or load balancer's answer.
    return (error.response is not None and error.response.status_code >= 500
            and not _problem_document(error.error))


def _problem_document(error: Exception) -> bool:
    """Whether the CA answered with a problem document that says something (RFC 7807)."""
    return isinstance(error, messages.Error) and (
        str(error.typ).startswith(ERROR_PREFIX) or bool(error.detail))


def _is_unavailable(error: BaseException) -> bool:
    """The CA could not serve the request (as opposed to refusing it)."""
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return True
    if not isinstance(error, Refused):
        return False
    if isinstance(error.error, messages.Error) and error.error.code == "serverInternal":
        return True
    return error.response is not None and error.response.status_code >= 500


@dataclass(frozen=True)
class ExternalAccount:
    """An External Account Binding credential (RFC 8555 §7.3.4): the CA's key id and the
    base64url HMAC key it issued with it."""

    kid: str
    hmac_key: str


def account_jwk(key_pem: bytes) -> jose.JWK:
    return jose.JWK.load(key_pem)


def _alg(key: jose.JWK) -> jose.JWASignature:
    return jose.ES256 if isinstance(key, jose.JWKEC) else jose.RS256


class AcmeSession:
    """One account's conversation with one CA, bounded by a deadline."""

    def __init__(
        self,
        directory_url: str,
        account_key: bytes | jose.JWK,
        *,
        deadline: Deadline,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
    ):
        self.directory_url = directory_url
        self.deadline = deadline
        # A PEM (the key stored in the bucket) or a JWK (one whose private half is in KMS).
        key = self.key = (account_key if isinstance(account_key, jose.JWK)
                          else account_jwk(account_key))
        self.net = client.ClientNetwork(key, alg=_alg(key), user_agent=USER_AGENT,
                                        timeout=int(timeout))
        transport = DeadlineTransport(deadline, verify=ca_bundle or True)
        for scheme in ("https://", "http://"):
            self.net.session.mount(scheme, transport)
        self.net.session.hooks["response"].append(seen)
        self._directory: messages.Directory | None = None
        # Over this session's connection, retries and directory (the key signs nothing there).
        self.renewal = RenewalInfoReader(directory_url, deadline=deadline, get=self._get,
                                         lookup=self._renewal_info_url)

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        if self.deadline.expired():
            raise AcmeError(f"no time left for {what}: the invocation's deadline passed; "
                            "the request is retried")
        try:
            return retry.call(fn, is_transient=_is_transient, deadline=self.deadline, what=what)
        except AcmeError:
            raise
        except (Refused, messages.Error, errors.Error, requests.RequestException) as exc:
            raise self._error(what, exc) from exc

    def _error(self, what: str, exc: BaseException) -> AcmeError:
        code = error_code(exc)
        retry_after = exc.retry_after if isinstance(exc, Refused) else None
        problem = exc.error if isinstance(exc, Refused) else exc
        hint = ""
        if code == "rateLimited":
            hint = " The CA's rate limit was hit; retry after the time it gives."
            if retry_after is not None:
                hint = f" The CA's rate limit was hit; retry in {retry_after:.0f} s."
        elif code in {"unauthorized", "incorrectResponse", "dns"}:
            hint = " Check the _acme-challenge TXT records and the zone's delegation."
        elif code == "caa":
            hint = " A CAA record forbids this CA; allow it in the zone's CAA records."
        return AcmeError(
            f"{what} failed at {self.directory_url}: {_describe(exc)}.{hint}",
            code=code,
            retry_after=retry_after,
            detail=problem.detail if isinstance(problem, messages.Error) else None,
            unavailable=_is_unavailable(exc),
        )

    def _signed(self, what: str, url: str,
                payload: jose.JSONDeSerializable | None) -> requests.Response:
        """A signed POST (POST-as-GET when `payload` is None), retried when transient."""
        nonces = self.directory["newNonce"]
        return self._call(what, lambda: answered(
            lambda: self.net.post(url, payload, new_nonce_url=nonces)))

    def _get(self, what: str, url: str) -> requests.Response:
        return self._call(what, lambda: answered(lambda: self.net.get(url)))

    @property
    def directory(self) -> messages.Directory:
        if self._directory is None:
            directories = container.current().directories
            cached = directories.get(self.directory_url)
            if cached is None or cached[1] < time.monotonic():
                fetched = messages.Directory.from_json(
                    self._get("fetching the ACME directory", self.directory_url).json())
                cached = (fetched, time.monotonic() + DIRECTORY_TTL_SECONDS)
                directories[self.directory_url] = cached
            self._directory = cached[0]
        return self._directory

    def profiles(self) -> dict[str, str]:
        meta = getattr(self.directory, "meta", None)
        return dict(getattr(meta, "profiles", None) or {})

    def check_profile(self, profile: str | None) -> None:
        if not profile:
            return
        offered = self.profiles()
        directories = container.current().directories
        if profile not in offered and self.directory_url in directories:
            del directories[self.directory_url]
            self._directory = None  # the cached one may predate the profile: look again
            offered = self.profiles()
        if profile not in offered:
            names = ", ".join(sorted(offered)) or "none"
            raise AcmeError(
                f"ACME_PROFILE={profile!r} is not offered by {self.directory_url} "
                f"(it offers: {names}); change the AcmeProfile parameter."
            )

    def _renewal_info_url(self) -> str | None:
        try:
            return str(self.directory["renewalInfo"])
        except KeyError:
            return None

    # -- account ------------------------------------------------------------------------------
    def use_account(self, account_url: str) -> None:
        self.net.account = messages.RegistrationResource(
            uri=account_url, body=messages.Registration()
        )

    @property
    def requires_external_account(self) -> bool:
        meta = getattr(self.directory, "meta", None)
        return bool(getattr(meta, "external_account_required", False))

    def register(self, email: str | None, external: ExternalAccount | None = None) -> str:
        """Create the account (or find the existing one for this key); return its URL.

        `external` binds it to the CA's account (EAB), which CAs other than Let's Encrypt
        require; the HMAC key signs the binding and goes nowhere else.
        """
        binding = None
        if external is not None:
            binding = messages.ExternalAccountBinding.from_data(
                self.key.public_key(), external.kid, external.hmac_key, self.directory)
        registration = messages.NewRegistration.from_data(
            email=email, terms_of_service_agreed=True, external_account_binding=binding
        )

        # RFC 8555 §7.3: 201 and a new account, or 200 and the one this key already has;
        # either way its URL is the Location.
        self.net.account = None  # newAccount is signed with the key itself, not an account
        response = self._signed("registering the ACME account", self.directory["newAccount"],
                                registration)
        url = response.headers.get("Location")
        if not url:
            raise AcmeError(f"registering the ACME account at {self.directory_url} returned no "
                            "account URL (no Location header); retry the request.")
        self.use_account(url)
        return url

    def change_key(self, new_key: jose.JWK) -> None:
        """Roll the account over to `new_key` (RFC 8555 §7.3.5): the account, its URL and its
        history stay; from then on only `new_key` speaks for it."""
        if self.net.account is None:
            raise AcmeError("no account to roll over: register or use one first")
        url = str(self.directory["keyChange"])
        inner = acme_jws.JWS.sign(
            json.dumps({"account": self.net.account.uri,
                        "oldKey": self.key.public_key().to_partial_json()}).encode(),
            key=new_key, alg=_alg(new_key), nonce=None, url=url)
        self._signed("rolling the account key over", url, inner)
        self.key = self.net.key = new_key
        self.net.alg = _alg(new_key)

    def revoke(self, certificate_pem: bytes, reason: int) -> bool:
        """Revoke a certificate of this account (RFC 8555 §7.6) with an RFC 5280 reason code;
        False when the CA says it was revoked already."""
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        try:
            self._signed("revoking the certificate", str(self.directory["revokeCert"]),
                         messages.Revocation(certificate=certificate, reason=reason))
        except AcmeError as exc:
            if exc.code == "alreadyRevoked":
                return False
            raise
        return True

    # -- order --------------------------------------------------------------------------------
    def new_order(
        self, domains: tuple[str, ...], *, profile: str | None = None, replaces: str | None = None
    ) -> Order:
        identifiers = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=d) for d in domains]
        fields: dict[str, Any] = {"identifiers": identifiers}
        if profile:
            fields["profile"] = profile
        if replaces:
            fields["replaces"] = replaces
        response = self._signed("creating the ACME order", self.directory["newOrder"],
                                NewOrderWithReplaces(**fields))
        url = response.headers.get("Location", "")
        body = response.json()
        state = OrderState.from_json(url, body)
        pending = []
        for authz_url in _authorization_urls(url, body):
            authz = self._authorization(authz_url)
            if authz.body.status == messages.STATUS_VALID:
                continue  # reused from an earlier order: nothing to prove
            if authz.body.status != messages.STATUS_PENDING:
                raise AcmeError(
                    f"authorization for {authz.body.identifier.value} is "
                    f"{authz.body.status.name} at {authz_url}; start a new order."
                )
            pending.append(self._dns_challenge(authz, authz_url))
        return Order(url, state.finalize_url, tuple(pending))

    def _authorization(self, url: str) -> messages.AuthorizationResource:
        response = self._signed("fetching an authorization", url, None)
        return messages.AuthorizationResource(
            body=messages.Authorization.from_json(response.json()), uri=url
        )

    def _dns_challenge(self, authz: messages.AuthorizationResource, url: str) -> DnsChallenge:
        identifier = authz.body.identifier.value
        for challb in authz.body.challenges:
            if isinstance(challb.chall, challenges.DNS01):
                return DnsChallenge(
                    identifier=identifier,
                    wildcard=bool(authz.body.wildcard),
                    record_name=challb.chall.validation_domain_name(identifier),
                    value=challb.chall.validation(self.key.public_key()),
                    authorization_url=url,
                    challenge=challb,
                )
        raise AcmeError(
            f"the CA offers no dns-01 challenge for {identifier}; wildcert only does DNS-01."
        )

    def answer(self, pending: tuple[DnsChallenge, ...]) -> None:
        for item in pending:
            self._answer(item)

    def _answer(self, item: DnsChallenge) -> None:
        response = item.challenge.chall.response(self.key.public_key())
        self._signed(f"answering the dns-01 challenge for {item.identifier}",
                     item.challenge.uri, response)

    def wait_until_ready(self, order_url: str, pending: tuple[DnsChallenge, ...]) -> None:
        """Poll the order (one request a round for every authorization) until validated.

        Only when the order went invalid are the authorizations fetched, to say which name
        failed and why.
        """
        names = ", ".join(f"{'*.' if p.wildcard else ''}{p.identifier}" for p in pending)
        state = self._poll(f"validation of {names}", order_url, _validated)
        if state.status is OrderStatus.INVALID:
            raise self._validation_failure(pending, state)

    def _validation_failure(self, pending: tuple[DnsChallenge, ...],
                            order: OrderState) -> AcmeError:
        reasons = []
        for item in pending:
            authz = self._authorization(item.authorization_url).body
            if authz.status == messages.STATUS_VALID:
                continue
            errors_seen = [_describe(c.error) for c in authz.challenges if c.error is not None]
            reasons.append(f"{item.record_name}: " + ("; ".join(errors_seen)
                                                      or f"authorization is {authz.status}"))
        if not reasons and order.problem:
            reasons.append(order.problem)
        return AcmeError(
            f"the CA could not validate the order: {' | '.join(reasons) or 'no reason given'}. "
            "Check the _acme-challenge TXT record is served by every name server of the zone.",
            code="unauthorized",
        )

    def _poll(self, what: str, url: str, done: Callable[[OrderState], bool]) -> OrderState:
        interval = 0.1
        while True:
            response = self._signed(f"polling {what}", url, None)
            state = OrderState.from_json(url, response.json())
            if done(state):
                return state
            wait = parse_retry_after(response.headers.get("Retry-After"))
            wait = interval if wait is None else min(max(wait, 0.05), 60.0)
            if self.deadline.remaining() <= wait:
                raise AcmeError(
                    f"timed out waiting for {what} at {url} (last status "
                    f"{state.status.value!r}); the Lambda's time ran out — retry the request."
                )
            self.deadline.sleep(wait)
            interval = min(interval * 1.6, 2.0)

    def fetch_order(self, url: str) -> OrderState:
        response = self._signed("fetching the order", url, None)
        return OrderState.from_json(url, response.json())

    def finalize(self, order_url: str, finalize_url: str, csr_pem: bytes) -> str:
        """Finalize with `csr_pem`, wait for issuance, return the PEM chain."""
        csr = x509.load_pem_x509_csr(csr_pem)
        response = self._signed("finalizing the order", finalize_url,
                                messages.CertificateRequest(csr=csr))
        state = OrderState.from_json(order_url, response.json())
        if not state.issued:
            state = self._poll("issuance", order_url, _issued)
        assert state.certificate_url is not None  # what `_issued` waited for
        return self.download(state.certificate_url)

    def download(self, certificate_url: str) -> str:
        return self._signed("downloading the certificate", certificate_url, None).text


def _authorization_urls(order_url: str, body: dict[str, Any]) -> list[str]:
    urls = body.get("authorizations")
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise AcmeError(f"the order at {order_url} lists no authorizations")
    return urls


def _validated(state: OrderState) -> bool:
    return state.status is not OrderStatus.PENDING


def _issued(state: OrderState) -> bool:
    if state.issued:
        return True
    if state.status is not OrderStatus.INVALID:
        return False
    detail = state.problem or f"order is {state.status.value}"
    raise AcmeError(f"the CA did not issue the certificate ({state.url}): {detail}.")


Get = Callable[[str, str], requests.Response]
"""`(what, url)`: one GET, retried while the failure is transient; its answer, or AcmeError."""


class RenewalInfoReader:
    """ACME Renewal Information (RFC 9773 §4.1): the one place that finds the directory's
    renewalInfo URL, builds a certificate's, asks it and reads the answer.

    `get` carries the requests. The issuer's session hands over its own (its connection and
    retries) and its directory as `lookup`. The sweep and the watch ask about many
    certificates at once and need neither an account nor nonces: by default a reader sends
    plain, unauthenticated GETs (`PlainGet`), safe across threads.
    """

    def __init__(self, directory_url: str, *, deadline: Deadline, ca_bundle: str | None = None,
                 timeout: float = 10.0, get: Get | None = None,
                 lookup: Callable[[], str | None] | None = None):
        self.directory_url = directory_url
        self.deadline = deadline
        self._get = get or PlainGet(deadline, ca_bundle, timeout)
        self._lookup = lookup or self._from_directory
        self._base: str | None = None
        self._looked_up = False

    def _from_directory(self) -> str | None:
        response = self._get("fetching the ACME directory", self.directory_url)
        try:
            value = response.json().get("renewalInfo")
        except (ValueError, AttributeError) as exc:
            raise AcmeError(f"{self.directory_url} did not return a JSON directory") from exc
        return value if isinstance(value, str) and value else None

    @property
    def url(self) -> str | None:
        """The directory's renewalInfo URL, or None when the CA does not offer ARI."""
        if not self._looked_up:
            self._base = self._lookup()
            self._looked_up = True
        return self._base

    def fetch(self, cert_id: str) -> tuple[dict[str, Any], float | None]:
        """The CA's renewalInfo for a certificate and its Retry-After (seconds)."""
        base = self.url
        if base is None:
            raise AcmeError(f"{self.directory_url} does not offer ACME Renewal Information")
        response = self._get("fetching renewal information", f"{base.rstrip('/')}/{cert_id}")
        try:
            body = response.json()
        except ValueError as exc:
            raise AcmeError(f"renewal information for {cert_id} is not JSON") from exc
        if not isinstance(body, dict):
            raise AcmeError(f"renewal information for {cert_id} is not a JSON object")
        return body, parse_retry_after(response.headers.get("Retry-After"))


class PlainGet:
    """Unauthenticated GETs to a CA (a `Get`): no account key, no nonces, three attempts."""

    def __init__(self, deadline: Deadline, ca_bundle: str | None = None, timeout: float = 10.0):
        self.deadline = deadline
        self._verify: str | bool = ca_bundle or True
        self._timeout = timeout

    def __call__(self, what: str, url: str) -> requests.Response:
        def once() -> requests.Response:
            response = requests.get(url, timeout=self._timeout, verify=self._verify,
                                    headers={"User-Agent": USER_AGENT})
            if response.status_code >= 500:
                raise Refused(errors.ClientError(f"HTTP {response.status_code}"), response)
            return response

        try:
            response = retry.call(once, is_transient=_is_transient, deadline=self.deadline,
                                  what=what, attempts=3)
        except (Refused, requests.RequestException) as exc:
            raise AcmeError(f"{what} failed at {url}: {_describe(exc)}.") from exc
        if response.status_code != 200:
            code = "notFound" if response.status_code == 404 else None
            raise AcmeError(f"{what} failed: HTTP {response.status_code} from {url}.", code=code,
                            retry_after=parse_retry_after(response.headers.get("Retry-After")))
        return response
