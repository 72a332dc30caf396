"""The control API of the stack's fault proxies (the ACME front, the AWS fault proxy).

Both answer JSON routes below a prefix that add and clear fault rules, set limits and read
their counts; tests, the demo and the bench call them from outside. Each proxy names its
routes in a table of `Route`s over its state; answering them (404 for a route it lacks, 400
for a request it cannot take) and calling them are here, once, as are the routes every proxy
has: its counts and its limits.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

from local_stack.http_plumbing import Answer, json_answer

CONTROL_TIMEOUT = 10.0

Query = Mapping[str, list[str]]
S = TypeVar("S")
# (the proxy's state, the query, the JSON body) -> the JSON answer. ValueError, TypeError or
# KeyError: the request was wrong (400, with the error's text).
Route = Callable[[S, Query, dict[str, Any]], Any]


class Counted(Protocol):
    """What every fault proxy's state answers: its counts and its limits."""

    def stats(self) -> dict[str, Any]: ...

    def limits_json(self) -> dict[str, Any]: ...

    def set_limits(self, wanted: Mapping[str, Any]) -> dict[str, Any]: ...


def _stats(state: Counted, query: Query, wanted: dict[str, Any]) -> Any:
    return state.stats()


def _limits(state: Counted, query: Query, wanted: dict[str, Any]) -> Any:
    return state.limits_json()


def _set_limits(state: Counted, query: Query, wanted: dict[str, Any]) -> Any:
    return state.set_limits(wanted)


COUNTED: dict[tuple[str, str], Route[Counted]] = {
    ("GET", "stats"): _stats,
    ("GET", "limits"): _limits,
    ("POST", "limits"): _set_limits,
}


@dataclass(frozen=True)
class ControlApi(Generic[S]):
    """One proxy's control routes, by (method, route below `prefix`), over its `state`."""

    prefix: str
    routes: Mapping[tuple[str, str], Route[S]]
    state: S
    indent: int | None = None

    def handles(self, target: str) -> bool:
        return urlsplit(target).path.startswith(self.prefix)

    def answer(self, method: str, target: str, body: bytes) -> Answer:
        parts = urlsplit(target)
        route = parts.path[len(self.prefix):].strip("/")
        try:
            wanted = json_object(body)
            handler = self.routes.get((method, route))
            if handler is None:
                return self._json(404, f"no control endpoint {method} {self.prefix}{route}")
            return json_answer(200, handler(self.state, parse_qs(parts.query), wanted),
                               indent=self.indent)
        except (ValueError, TypeError, KeyError) as error:
            return self._json(400, str(error))

    def _json(self, status: int, error: str) -> Answer:
        return json_answer(status, {"error": error}, indent=self.indent)


def json_object(body: bytes) -> dict[str, Any]:
    """A control request's body: a JSON object, or {} when empty."""
    wanted = json.loads(body) if body else {}
    if not isinstance(wanted, dict):
        raise ValueError("expected a JSON object")
    return wanted


@dataclass(frozen=True)
class ControlClient:
    """A proxy's control API from outside; an HTTP error is a ValueError that says which
    proxy refused what."""

    host: str
    port: int

    PREFIX: ClassVar[str] = "/"
    NAME: ClassVar[str] = "the control API"  # in "<NAME> refused <method> <route>"
    SCHEME: ClassVar[str] = "http"

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "stats"))

    def _context(self) -> ssl.SSLContext | None:
        """The TLS context of an https proxy; None: urllib's default."""
        return None

    def _call(self, method: str, route: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - an http(s)://host:port URL
            f"{self.SCHEME}://{self.host}:{self.port}{self.PREFIX}{route}", data=data,
            method=method, headers={"Content-Type": "application/json"})
        # The servers are on loopback: a proxy from the environment must not stand between.
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        context = self._context()
        if context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=CONTROL_TIMEOUT) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise ValueError(f"{self.NAME} refused {method} {route}: "
                             f"{error.read().decode()}") from error
