"""Parse and validate a certificate issuance request.

Pure: no AWS, no network. A request is a JSON object, which ``envelope`` takes out of a Lambda
event (that module is not imported here: the sweep and the watch import this package and have
no use for Powertools' event classes, which cost about 0.1 s to load)::

    {"domains": ["example.com", "*.example.com"],   # required, 1 to 100 names
     "name": "example.com",                        # optional, see default_name()
     "key_type": "ec256",                          # optional, one of KEY_TYPES
     "force": false,                               # optional, issue even if not due
     "endpoints": ["www.example.com:443"],         # optional, where the watch checks it
                                                   #   (host names in the zones, see endpoints)
     "renews": "03ab…",                            # optional, the serial it replaces
     "ca": "production",                           # optional, or "staging"
     "acm": ["eu-west-1", "cloudfront"]}           # optional, import into ACM (acm.py)

``null`` for an optional field means "use the default". Every problem found is reported at once
in a ``RequestRejected``; no input makes ``parse_request`` raise anything else. Messages quote
offending values escaped and cut short (``echo``), so they can go to logs and Slack.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass
from typing import Any, TypeGuard

from wildcert.errors import WildcertError
from wildcert.logic.request.acm import check_acm
from wildcert.logic.request.domains import DomainCheck, normalise_domain
from wildcert.logic.request.echo import described
from wildcert.logic.request.endpoints import DEFAULT_PORTS as DEFAULT_ENDPOINT_PORTS
from wildcert.logic.request.fields import (
    CAS,
    DEFAULT_CA,
    DEFAULT_KEY_TYPE,
    FIELDS,
    KEY_TYPES,
    check_ca,
    check_domains,
    check_endpoints,
    check_field_names,
    check_force,
    check_key_type,
    check_name,
    check_renews,
    default_name,
    is_valid_cert_name,
    normalise_serial,
)

__all__ = [  # what the jobs and the tests import from here
    "CAS", "DEFAULT_CA", "DEFAULT_KEY_TYPE", "DIRECT", "FIELDS", "KEY_TYPES",
    "CertificateRequest", "DomainCheck", "RequestRejected", "Requester", "UnreadableEvent",
    "default_name", "is_eventbridge", "is_valid_cert_name", "normalise_domain",
    "normalise_serial", "parse_request",
]


@dataclass(frozen=True)
class CertificateRequest:
    """A validated request. ``domains`` are normalised A-label names, first one primary."""

    domains: tuple[str, ...]
    name: str
    key_type: str = DEFAULT_KEY_TYPE
    force: bool = False
    endpoints: tuple[str, ...] = ()  # host:port the expiry monitor checks serve this certificate
    # The serial this request means to replace (set by the sweep and the watch): if the stored
    # certificate has another serial, someone already renewed it and the request is stale.
    renews: str | None = None
    ca: str = DEFAULT_CA  # "production" or "staging"
    acm: tuple[str, ...] = ()  # ACM regions (and "cloudfront") to import the certificate into


@dataclass(frozen=True)
class Requester:
    """Who sent a request, as its envelope says: never what the request itself claims.

    kind: "eventbridge" (a team's event: `account` and `source` as EventBridge set them, the
    event's id), "queue" (the renewal queue, which only the sweep and the watch write to: it
    acts for the certificate's owner), "other-queue" (an SQS record of any other queue, its
    ARN in `source`: refused, whoever sent it) or "direct" (an Invoke: the operators).
    """

    kind: str
    account: str | None = None
    source: str | None = None
    event_id: str | None = None

    def as_json(self) -> dict[str, str]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    def __str__(self) -> str:
        said = [self.kind]
        if self.source:
            said.append(f"source {self.source}")
        if self.account:
            said.append(f"account {self.account}")
        if self.event_id:
            said.append(f"id {self.event_id}")
        return " ".join(said)


DIRECT = Requester("direct")


@dataclass(frozen=True)
class UnreadableEvent:
    """Stands in for a request that could not be taken out of its envelope (``envelope``)."""

    problem: str
    # What the envelope held where the request would be, to name it in messages only.
    held: object = None


def is_eventbridge(event: object) -> TypeGuard[dict[Any, Any]]:
    """Is ``event`` an EventBridge event rather than a job's own fields?

    EventBridge always sets ``detail-type`` and ``source`` (PutEvents requires both), and no
    wildcert request or job event has either field.
    """
    return isinstance(event, dict) and "detail-type" in event and "source" in event


class RequestRejected(WildcertError):
    """The request cannot be served. ``problems`` lists each one as a full sentence."""

    def __init__(self, problems: Iterable[str]) -> None:
        listed = tuple(problems) or ("The request was rejected for an unknown reason.",)
        # Passing the tuple as the only arg keeps the exception picklable.
        super().__init__(listed)
        self.problems: tuple[str, ...] = listed

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"The certificate request was rejected: {self.problems[0]}"
        lines = "\n".join(f"- {p}" for p in self.problems)
        return f"The certificate request was rejected ({len(self.problems)} problems):\n{lines}"


def parse_request(raw: object, zone_names: Collection[str], *,
                  endpoint_ports: Collection[int] = DEFAULT_ENDPOINT_PORTS,
                  namespace: str = "",
                  private_zone_names: Collection[str] = ()) -> CertificateRequest:
    """Validate a decoded request against the hosted zones it may use.

    ``zone_names`` are the names of the allowed public hosted zones (case and a trailing dot
    do not matter); every domain, and every endpoint's host, must lie in one of them.
    ``private_zone_names`` only explain a refusal: a name only they cover is refused as such.
    ``endpoint_ports`` are the ports endpoints may use (ENDPOINT_PORTS). ``namespace`` starts
    a name the request leaves out (a team's ``<team>.``). Raises ``RequestRejected`` listing
    every problem found.
    """
    if isinstance(raw, UnreadableEvent):
        raise RequestRejected((raw.problem,))
    if not isinstance(raw, dict):
        raise RequestRejected(
            (
                'The request must be a JSON object such as {"domains": ["example.com"]}; '
                f"got {described(raw)}.",
            )
        )
    findings: list[str] = []
    check_field_names(raw, findings)
    domains = check_domains(raw.get("domains"), tuple(zone_names), findings,
                            private=tuple(private_zone_names))
    name = check_name(raw.get("name"), findings)
    key_type = check_key_type(raw.get("key_type"), findings)
    force = check_force(raw.get("force"), findings)
    endpoints = check_endpoints(raw.get("endpoints"), tuple(zone_names), findings, endpoint_ports)
    renews = check_renews(raw.get("renews"), findings)
    ca = check_ca(raw.get("ca"), findings)
    acm = check_acm(raw.get("acm"), key_type, findings)
    if findings:
        raise RequestRejected(findings)
    return CertificateRequest(
        domains=tuple(domains),
        name=name if name is not None else default_name(domains, namespace),
        key_type=key_type,
        force=force,
        endpoints=endpoints,
        renews=renews,
        ca=ca,
        acm=acm,
    )
