"""The ACME protocol (RFC 8555) against Let's Encrypt or any compatible CA, on `acme` + `josepy`.

`acme` does the JWS signing, the nonces and the message types, through its public API only
(`ClientNetwork.post`/`get`, `ClientV2.get_directory`/`new_account`/`answer_challenge`).
wildcert drives the order itself because the library's polling sleeps a fixed second, ignores
Retry-After on authorizations, cannot send `replaces`, and drops the Retry-After of error
responses (needed for `rateLimited`): the HTTP session `acme` sends through is wildcert's own
(`DeadlineHttp`), which keeps the last response and caps every timeout by the deadline.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import josepy as jose
import requests
from acme import challenges, client, errors, messages
from cryptography import x509

from wildcert import retry
from wildcert.adapters.acme_types import AcmeError, OrderStatus
from wildcert.deadline import Deadline

USER_AGENT = "wildcert/0.1 (+acme-python)"
ERROR_PREFIX = "urn:ietf:params:acme:error:"
TRANSIENT_CODES = frozenset({"badNonce", "serverInternal"})
T = TypeVar("T")
# A warm container reuses the directory: CAs change it rarely and announce it long before.
DIRECTORY_TTL_SECONDS = 3600.0
_DIRECTORIES: dict[str, tuple[messages.Directory, float]] = {}


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


class DeadlineHttp(requests.Session):
    """The HTTP session `acme` sends through (its public `ClientNetwork.session`).

    Keeps the last response, whose Retry-After `acme` drops when it raises the CA's problem
    document, and caps every request's timeout by the invocation's deadline: a slow CA must
    not hold the invocation past it. TLS is checked against `verify` (a CA bundle or True),
    which stands in for the plain "verify" `acme` asks for on each request.
    """

    def __init__(self, deadline: Deadline, timeout: float, *, verify: str | bool = True):
        super().__init__()
        self.deadline = deadline
        self.timeout = timeout
        self.verify = verify
        self.last_response: requests.Response | None = None

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = max(1.0, min(self.timeout, self.deadline.remaining()))
        if kwargs.get("verify", True) is True:
            kwargs["verify"] = self.verify
        self.last_response = None
        response = super().request(method, url, *args, **kwargs)
        self.last_response = response
        return response


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
    if isinstance(error, messages.Error) and error.typ:
        return str(error.typ).rsplit(":", maxsplit=1)[-1]
    return None


def _describe(error: BaseException) -> str:
    if isinstance(error, messages.Error):
        parts = [error.detail or error.description or str(error)]
        for sub in error.subproblems or ():
            who = sub.identifier.value if sub.identifier else "?"
            parts.append(f"{who}: {sub.detail}")
        return f"{error_code(error) or 'error'}: " + "; ".join(p for p in parts if p)
    if isinstance(error, errors.ClientError) and error.args and isinstance(
        error.args[0], requests.Response
    ):
        response = error.args[0]
        return f"HTTP {response.status_code} from {response.url}"
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
    if isinstance(error, messages.Error):
        return error.code in TRANSIENT_CODES
    if isinstance(error, errors.ClientError) and error.args:
        response = error.args[0]
        return isinstance(response, requests.Response) and response.status_code >= 500
    return isinstance(error, errors.BadNonce | errors.MissingNonce)


def _is_unavailable(error: BaseException, response: requests.Response | None) -> bool:
    """The CA could not serve the request (as opposed to refusing it)."""
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return True
    if isinstance(error, messages.Error) and error.code == "serverInternal":
        return True
    if isinstance(error, errors.BadNonce | errors.MissingNonce):
        return False
    return response is not None and response.status_code >= 500


@dataclass(frozen=True)
class ExternalAccount:
    """An External Account Binding credential (RFC 8555 §7.3.4): the CA's key id and the
    base64url HMAC key it issued with it."""

    kid: str
    hmac_key: str


def account_jwk(key_pem: bytes) -> jose.JWK:
    return jose.JWK.load(key_pem)


class AcmeSession:
    """One account's conversation with one CA, bounded by a deadline."""

    def __init__(
        self,
        directory_url: str,
        account_key_pem: bytes,
        *,
        deadline: Deadline,
        ca_bundle: str | None = None,
        timeout: float = 30.0,
    ):
        self.directory_url = directory_url
        self.deadline = deadline
        key = self.key = account_jwk(account_key_pem)
        alg = jose.ES256 if isinstance(key, jose.JWKEC) else jose.RS256
        self.net = client.ClientNetwork(key, alg=alg, user_agent=USER_AGENT, timeout=int(timeout))
        # acme sends every request through its public `session`: ours, not its default.
        self.http = DeadlineHttp(deadline, timeout, verify=ca_bundle or True)
        self.net.session.close()
        self.net.session = self.http
        self._client: client.ClientV2 | None = None

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        if self.deadline.expired():
            raise AcmeError(f"no time left for {what}: the invocation's deadline passed; "
                            "the request is retried")
        try:
            return retry.call(fn, is_transient=_is_transient, deadline=self.deadline, what=what)
        except AcmeError:
            raise
        except (messages.Error, errors.Error, requests.RequestException) as exc:
            raise self._error(what, exc) from exc

    def _error(self, what: str, exc: BaseException) -> AcmeError:
        code = error_code(exc)
        retry_after = None
        if self.http.last_response is not None:
            retry_after = parse_retry_after(self.http.last_response.headers.get("Retry-After"))
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
            detail=exc.detail if isinstance(exc, messages.Error) else None,
            unavailable=_is_unavailable(exc, self.http.last_response),
        )

    def _signed(self, what: str, url: str,
                payload: jose.JSONDeSerializable | None) -> requests.Response:
        """A signed POST (POST-as-GET when `payload` is None), retried when transient."""
        directory = self.directory
        return self._call(
            what, lambda: self.net.post(url, payload, new_nonce_url=directory["newNonce"])
        )

    @property
    def client(self) -> client.ClientV2:
        if self._client is None:
            cached = _DIRECTORIES.get(self.directory_url)
            if cached is None or cached[1] < time.monotonic():
                fetched = self._call(
                    "fetching the ACME directory",
                    lambda: client.ClientV2.get_directory(self.directory_url, self.net),
                )
                cached = (fetched, time.monotonic() + DIRECTORY_TTL_SECONDS)
                _DIRECTORIES[self.directory_url] = cached
            self._client = client.ClientV2(cached[0], self.net)
        return self._client

    @property
    def directory(self) -> messages.Directory:
        return self.client.directory

    def profiles(self) -> dict[str, str]:
        meta = getattr(self.directory, "meta", None)
        return dict(getattr(meta, "profiles", None) or {})

    def check_profile(self, profile: str | None) -> None:
        if not profile:
            return
        offered = self.profiles()
        if profile not in offered and self.directory_url in _DIRECTORIES:
            del _DIRECTORIES[self.directory_url]
            self._client = None  # the cached directory may predate the profile: look again
            offered = self.profiles()
        if profile not in offered:
            names = ", ".join(sorted(offered)) or "none"
            raise AcmeError(
                f"ACME_PROFILE={profile!r} is not offered by {self.directory_url} "
                f"(it offers: {names}); change the AcmeProfile parameter."
            )

    @property
    def renewal_info_url(self) -> str | None:
        try:
            return str(self.directory["renewalInfo"])
        except KeyError:
            return None

    def renewal_info(self, cert_id: str) -> tuple[dict[str, Any], float | None]:
        """The CA's renewalInfo for a certificate and its Retry-After (seconds)."""
        base = self.renewal_info_url
        if base is None:
            raise AcmeError(f"{self.directory_url} does not offer ACME Renewal Information")
        response = self._call(
            "fetching renewal information",
            lambda: self.net.get(f"{base.rstrip('/')}/{cert_id}"),
        )
        return dict(response.json()), parse_retry_after(response.headers.get("Retry-After"))

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

        def create() -> str:
            try:
                return self.client.new_account(registration).uri
            except errors.ConflictError as existing:
                return str(existing.location)

        url = self._call("registering the ACME account", create)
        self.use_account(url)
        return url

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
                    value=challb.chall.validation(self.key),
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
        response = item.challenge.chall.response(self.key)
        self._call(
            f"answering the dns-01 challenge for {item.identifier}",
            lambda: self.client.answer_challenge(item.challenge, response),
        )

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


class RenewalInfoReader:
    """Unauthenticated renewalInfo GETs (RFC 9773 §4.1): no account key, safe across threads.

    The sweep and the watch ask about many certificates at once; they need neither an account
    nor nonces, so this skips `acme`'s signed-request machinery altogether.
    """

    def __init__(self, directory_url: str, *, deadline: Deadline, ca_bundle: str | None = None,
                 timeout: float = 10.0):
        self.directory_url = directory_url
        self.deadline = deadline
        self._verify: str | bool = ca_bundle or True
        self._timeout = timeout
        self._base: str | None = None
        self._looked_up = False

    def _get(self, what: str, url: str, kind: str) -> requests.Response:
        def once() -> requests.Response:
            response = requests.get(url, timeout=self._timeout, verify=self._verify,
                                    headers={"User-Agent": USER_AGENT})
            if response.status_code >= 500:
                raise errors.ClientError(response)
            return response

        try:
            response = retry.call(once, is_transient=_is_transient, deadline=self.deadline,
                                  what=what, attempts=3)
        except (errors.Error, requests.RequestException) as exc:
            raise AcmeError(f"{what} failed at {url}: {_describe(exc)}.") from exc
        if response.status_code != 200:
            code = "notFound" if response.status_code == 404 else None
            raise AcmeError(f"{what} failed: HTTP {response.status_code} from {url} "
                            f"({kind}).", code=code,
                            retry_after=parse_retry_after(response.headers.get("Retry-After")))
        return response

    @property
    def url(self) -> str | None:
        """The directory's renewalInfo URL, or None when the CA does not offer ARI."""
        if not self._looked_up:
            response = self._get("fetching the ACME directory", self.directory_url, "directory")
            try:
                value = response.json().get("renewalInfo")
            except (ValueError, AttributeError) as exc:
                raise AcmeError(f"{self.directory_url} did not return a JSON directory") from exc
            self._base = value if isinstance(value, str) and value else None
            self._looked_up = True
        return self._base

    def fetch(self, cert_id: str) -> tuple[dict[str, Any], float | None]:
        """The CA's renewalInfo for a certificate and its Retry-After (seconds)."""
        base = self.url
        if base is None:
            raise AcmeError(f"{self.directory_url} does not offer ACME Renewal Information")
        response = self._get("fetching renewal information", f"{base.rstrip('/')}/{cert_id}",
                             "renewalInfo")
        try:
            body = response.json()
        except ValueError as exc:
            raise AcmeError(f"renewal information for {cert_id} is not JSON") from exc
        if not isinstance(body, dict):
            raise AcmeError(f"renewal information for {cert_id} is not a JSON object")
        return body, parse_retry_after(response.headers.get("Retry-After"))
