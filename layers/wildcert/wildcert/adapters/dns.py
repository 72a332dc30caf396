"""DNS checks around an order: the CAA pre-flight and the TXT propagation wait.

Queries are sent with `dns.query` rather than through `dns.resolver`, so that a REFUSED answer
can be told apart from a SERVFAIL and CNAME chains an authoritative server leaves unfinished can
be followed here.
"""

from __future__ import annotations

import functools
import logging
import socket
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from wildcert import retry
from wildcert.deadline import Deadline
from wildcert.errors import WildcertError
from wildcert.logic import caa
from wildcert.logic.zones import canonical_name

log = logging.getLogger(__name__)

DNS_PORT = 53
EDNS_PAYLOAD = 1232
MAX_CNAME_HOPS = 8
CAA_BUDGET_SECONDS = 30.0
CAA_QUERY_TIMEOUT = 2.0
LOOKUP_ATTEMPTS = 4
RETRY_BASE = 0.2
RETRY_CAP = 2.0
TXT_QUERY_TIMEOUT = 1.0
ADDRESS_QUERY_TIMEOUT = 2.0
MIN_QUERY_TIMEOUT = 0.1
FIRST_POLL_INTERVAL = 0.2
POLL_GROWTH = 1.5
MAX_POLL_INTERVAL = 3.0
RESOLV_CONF = "/etc/resolv.conf"


class LookupFailed(WildcertError):
    """A query got no usable answer; `transient` ones (SERVFAIL, time-outs) are retried."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Server:
    """A DNS server to ask; `label` is what messages call it."""

    address: str
    port: int = DNS_PORT
    host: str | None = None

    @property
    def label(self) -> str:
        where = self.address if self.port == DNS_PORT else f"{self.address}:{self.port}"
        return f"{self.host} ({where})" if self.host else where


# --- names -------------------------------------------------------------------------------



def split_wildcard(domain: str) -> tuple[str, bool]:
    name = canonical_name(domain)
    if name.startswith("*."):
        return name[2:], True
    return name, False


def tree_walk(name: str) -> list[str]:
    """`name` and its ancestors up to the TLD (the root is never asked), closest first."""
    labels = canonical_name(name).split(".")
    return [".".join(labels[i:]) for i in range(len(labels)) if labels[i]]


def parse_address(text: str) -> Server:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return Server(host, int(rest.lstrip(":") or DNS_PORT))
    if text.count(":") == 1:
        host, port = text.split(":")
        return Server(host, int(port))
    return Server(text)


def system_resolvers(path: str = RESOLV_CONF) -> list[Server]:
    """The recursive resolvers from resolv.conf; glibc's default when none are listed."""
    try:
        with open(path, encoding="utf-8") as conf:
            lines = conf.read().splitlines()
    except OSError:
        lines = []
    servers = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            servers.append(Server(fields[1].split("%", 1)[0]))
    return servers or [Server("127.0.0.1")]


# --- one query ---------------------------------------------------------------------------


def _query(
    server: Server, qname: str, rdtype: str, *, recursive: bool, timeout: float
) -> dns.message.Message:
    query = dns.message.make_query(
        qname, rdtype, use_edns=0, payload=EDNS_PAYLOAD,
        flags=dns.flags.RD if recursive else 0,
    )
    try:
        response, _ = dns.query.udp_with_fallback(
            query, server.address, timeout=max(MIN_QUERY_TIMEOUT, timeout), port=server.port
        )
    except dns.exception.Timeout as error:
        raise LookupFailed(f"{server.label} did not answer in time") from error
    except (OSError, dns.exception.DNSException) as error:
        raise LookupFailed(f"{server.label}: {error or type(error).__name__}") from error
    return response


def _rcode(response: dns.message.Message) -> str:
    return dns.rcode.to_text(response.rcode())


# --- CAA pre-flight ----------------------------------------------------------------------


@dataclass(frozen=True)
class CaaLookup:
    """The CAA RRset at `name`, found at `owner` (differs when a CNAME led elsewhere)."""

    name: str
    owner: str
    records: tuple[caa.CaaRecord, ...] = ()


@dataclass(frozen=True)
class CaaReport:
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass
class _CaaResolver:
    servers: Sequence[Server]
    deadline: Deadline
    # An override is an authoritative server for our zones only: it refuses the names above
    # them (the TLD), which a recursive resolver would answer with "no CAA".
    refused_means_empty: bool
    # Failures too: a broken parent shared by many domains is retried once, not per domain.
    cache: dict[str, CaaLookup | LookupFailed] = field(default_factory=dict)

    def lookup(self, name: str) -> CaaLookup:
        if name not in self.cache:
            try:
                self.cache[name] = retry.call(
                    lambda: self._follow(name),
                    is_transient=_is_transient,
                    deadline=self.deadline,
                    attempts=LOOKUP_ATTEMPTS,
                    base=RETRY_BASE,
                    cap=RETRY_CAP,
                    what=f"CAA lookup for {name}",
                )
            except LookupFailed as error:
                self.cache[name] = error
        found = self.cache[name]
        if isinstance(found, LookupFailed):
            raise found
        return found

    def _follow(self, name: str) -> CaaLookup:
        qname, seen = name, {name}
        for _ in range(MAX_CNAME_HOPS):
            found, target = self._ask(qname)
            if found is not None:
                return CaaLookup(name, found.owner, found.records)
            if target is None:
                return CaaLookup(name, qname)
            if target in seen:
                raise LookupFailed(f"CNAME loop at {target}", transient=False)
            qname = target
            seen.add(qname)
        raise LookupFailed(f"the CNAME chain from {name} is longer than {MAX_CNAME_HOPS}",
                           transient=False)

    def _ask(self, qname: str) -> tuple[CaaLookup | None, str | None]:
        """The CAA RRset for `qname`, or the end of a CNAME chain the server left unfinished."""
        failures = []
        for server in self.servers:
            timeout = min(CAA_QUERY_TIMEOUT, self.deadline.remaining())
            try:
                response = _query(server, qname, "CAA", recursive=True, timeout=timeout)
            except LookupFailed as error:
                failures.append(str(error))
                continue
            rcode = _rcode(response)
            if rcode == "NXDOMAIN" or (rcode == "REFUSED" and self.refused_means_empty):
                return None, None
            if rcode != "NOERROR":
                failures.append(f"{server.label} answered {rcode}")
                continue
            return _caa_answer(qname, response)
        raise LookupFailed("; ".join(failures))


def _caa_answer(
    qname: str, response: dns.message.Message
) -> tuple[CaaLookup | None, str | None]:
    assert isinstance(response, dns.message.QueryMessage)
    try:
        chain = response.resolve_chaining()
    except dns.exception.DNSException as error:
        raise LookupFailed(f"bad answer for {qname}: {error}") from error
    canonical = canonical_name(chain.canonical_name.to_text())
    if chain.answer is None:
        return None, (canonical if canonical != qname else None)
    records = tuple(
        caa.CaaRecord(
            rdata.flags,
            rdata.tag.decode("ascii", "backslashreplace"),
            rdata.value.decode("utf-8", "backslashreplace"),
        )
        for rdata in chain.answer
    )
    return CaaLookup(qname, canonical, records), None


def _is_transient(error: BaseException) -> bool:
    return isinstance(error, LookupFailed) and error.transient


def caa_report(
    domains: Sequence[str],
    *,
    resolver_address: str | None = None,
    identities: Sequence[str] = caa.DEFAULT_IDENTITIES,
    account_uri: str | None = None,
    deadline: Deadline,
) -> CaaReport:
    """Problems that would make the CA refuse `domains` because of CAA, and warnings.

    A lookup that still fails after retries is a problem: Let's Encrypt treats a CAA SERVFAIL
    as a refusal, and a refused authorization counts against its failed-validation limit.
    """
    resolver = _CaaResolver(
        servers=[parse_address(resolver_address)] if resolver_address else system_resolvers(),
        deadline=deadline.child(CAA_BUDGET_SECONDS),
        refused_means_empty=resolver_address is not None,
    )
    problems: list[str] = []
    warnings: list[str] = []
    for domain in dict.fromkeys(domains):
        name, wildcard = split_wildcard(domain)
        requested = f"*.{name}" if wildcard else name
        try:
            found = _closest_caa(resolver, name)
        except LookupFailed as error:
            problems.append(
                f"could not look up CAA for {requested}: {error} — Let's Encrypt will refuse "
                "too, fix the DNS"
            )
            continue
        if found is None:
            continue
        verdict = caa.evaluate(
            requested, found.records, owner=found.owner, alias=found.name,
            identities=identities, account_uri=account_uri,
        )
        if not verdict.allowed:
            problems.append(verdict.reason)
        warnings.extend(verdict.warnings)
    return CaaReport(tuple(problems), tuple(dict.fromkeys(warnings)))


def _closest_caa(resolver: _CaaResolver, name: str) -> CaaLookup | None:
    for candidate in tree_walk(name):
        found = resolver.lookup(candidate)
        if found.records:
            return found
    return None


def caa_preflight(
    domains: Sequence[str],
    *,
    resolver_address: str | None = None,
    identities: Sequence[str] = caa.DEFAULT_IDENTITIES,
    account_uri: str | None = None,
    deadline: Deadline,
) -> list[str]:
    """`caa_report`'s problems (empty: CAA lets the CA issue); its warnings are logged."""
    report = caa_report(
        domains, resolver_address=resolver_address, identities=identities,
        account_uri=account_uri, deadline=deadline,
    )
    for warning in report.warnings:
        log.warning("%s", warning)
    return list(report.problems)


# --- TXT propagation ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sighting:
    """What one server showed for one record name in the latest round."""

    values: frozenset[str] = frozenset()
    note: str | None = None


@dataclass(frozen=True)
class Unseen:
    server: str
    record: str
    missing: frozenset[str]
    seen: frozenset[str]
    note: str | None = None

    def describe(self) -> str:
        text = f"{self.server}: {self.record} lacks {_quoted(self.missing)}"
        if self.note:
            return f"{text}: {self.note}"
        if self.seen:
            return f"{text}; it shows {_quoted(self.seen)}"
        return f"{text}; it shows no TXT values there"


class PropagationTimeout(WildcertError, TimeoutError):
    """The name servers did not all show the challenge values in time."""

    def __init__(self, unseen: Sequence[Unseen], waited: float, *, override: bool) -> None:
        self.unseen = tuple(unseen)
        self.waited = waited
        super().__init__(_timeout_message(self.unseen, waited, override=override))


def _quoted(values: Collection[str]) -> str:
    return ", ".join(f'"{v}"' for v in sorted(values))


def _timeout_message(unseen: Sequence[Unseen], waited: float, *, override: bool) -> str:
    lines = "\n".join(f"- {u.describe()}" for u in unseen)
    if override:
        advice = (
            "The DNS server override (DNS_SERVER_OVERRIDE) does not serve these values: check "
            "that it answers from the hosted zones the records were written to."
        )
    else:
        advice = (
            "Route 53 usually shows a change on all its name servers within 60-120 s. Check "
            "that the domain's delegation at the registrar lists the hosted zone's name "
            "servers, and that nothing else removed the values; if the name servers are just "
            "slow, raise DNS_PROPAGATION_TIMEOUT and retry."
        )
    return (
        f"TXT challenge values were not visible on every authoritative name server after "
        f"{waited:.0f} s:\n{lines}\n{advice}"
    )


def _txt_sighting(record: str, response: dns.message.Message) -> Sighting:
    rcode = _rcode(response)
    if rcode == "NXDOMAIN":
        return Sighting(note="the name does not exist there (NXDOMAIN)")
    if rcode != "NOERROR":
        return Sighting(note=f"it answered {rcode}")
    values: set[str] = set()
    cname = None
    for rrset in response.answer:
        if canonical_name(rrset.name.to_text()) != record or rrset.rdclass != dns.rdataclass.IN:
            continue
        if rrset.rdtype == dns.rdatatype.TXT:
            values.update(
                b"".join(rdata.strings).decode("utf-8", "backslashreplace") for rdata in rrset
            )
        elif rrset.rdtype == dns.rdatatype.CNAME:
            cname = canonical_name(rrset[0].target.to_text())
    if not values and cname:
        return Sighting(note=f"it is a CNAME to {cname}; write the values there")
    return Sighting(frozenset(values))


def _ask_txt(server: Server, record: str, timeout: float) -> Sighting:
    try:
        response = _query(server, record, "TXT", recursive=False, timeout=timeout)
    except LookupFailed as error:
        return Sighting(note=str(error))
    return _txt_sighting(record, response)


def resolve_name_servers(
    hosts: Collection[str],
    *,
    deadline: Deadline,
    getaddrinfo: Callable[..., list[tuple]] = socket.getaddrinfo,
) -> dict[str, Server]:
    """IPv4 addresses of the name servers, via the system resolver.

    IPv4 only: a Lambda function outside a VPC has no IPv6 egress. A host that does not
    resolve is left out with a warning: a validation server cannot reach it either.
    """
    servers: dict[str, Server] = {}
    for host in dict.fromkeys(canonical_name(h) for h in hosts):
        try:
            infos = retry.call(
                functools.partial(getaddrinfo, host, DNS_PORT, socket.AF_INET, socket.SOCK_DGRAM),
                is_transient=_resolver_busy,
                deadline=deadline,
                attempts=3,
                what=f"resolving name server {host}",
            )
        except OSError as error:
            log.warning("name server %s does not resolve (%s); not waiting for it", host, error)
            continue
        servers[host] = Server(str(infos[0][4][0]), DNS_PORT, host)
    return servers


def addresses_of(name: str, server: str, *, timeout: float = ADDRESS_QUERY_TIMEOUT) -> list[str]:
    """The A, then AAAA, addresses `server` ("host:port", DNS_SERVER_OVERRIDE) gives for `name`.

    Recursion is asked for, so a public resolver works as well as the local stack's
    authoritative server. No address (NXDOMAIN, no such record) is an empty list; a server
    that fails or does not answer raises LookupFailed.
    """
    target = parse_address(server)
    found: list[str] = []
    for rdtype in ("A", "AAAA"):
        response = _query(target, name, rdtype, recursive=True, timeout=timeout)
        rcode = _rcode(response)
        if rcode == "NXDOMAIN":
            return found
        if rcode != "NOERROR":
            raise LookupFailed(f"{target.label} answered {rcode} for {name} {rdtype}")
        wanted = dns.rdatatype.from_text(rdtype)
        found.extend(str(r.address) for rrset in response.answer if rrset.rdtype == wanted
                     for r in rrset)
    return found


def _resolver_busy(error: BaseException) -> bool:
    return isinstance(error, socket.gaierror) and error.errno == socket.EAI_AGAIN


def _servers_per_record(
    records: Collection[str],
    name_servers: Mapping[str, Sequence[str]] | str,
    deadline: Deadline,
) -> dict[str, list[Server]]:
    if isinstance(name_servers, str):
        override = parse_address(name_servers)
        return {record: [override] for record in records}
    hosts = {canonical_name(k): [canonical_name(h) for h in v] for k, v in name_servers.items()}
    missing = [r for r in records if not hosts.get(r)]
    if missing:
        raise ValueError(f"no name servers given for {', '.join(sorted(missing))}")
    addresses = resolve_name_servers(
        {h for r in records for h in hosts[r]}, deadline=deadline
    )
    per_record = {r: [addresses[h] for h in hosts[r] if h in addresses]
                  for r in records}
    unreachable = sorted(r for r, servers in per_record.items() if not servers)
    if unreachable:
        raise PropagationTimeout(
            [Unseen(", ".join(hosts[r]), r, frozenset(), frozenset(),
                    "none of its name servers resolves to an address") for r in unreachable],
            0.0, override=False,
        )
    return per_record


def wait_for_txt(
    expected: Mapping[str, Collection[str]],
    name_servers: Mapping[str, Sequence[str]] | str,
    *,
    deadline: Deadline,
    timeout: float,
    query_timeout: float = TXT_QUERY_TIMEOUT,
) -> None:
    """Return once every authoritative server of each record shows all its expected values.

    `name_servers` maps each record name to its zone's name server host names, or is a
    "host:port" override asked for every record. Extra values (other orders in flight) are
    ignored. Each (server, record) pair is asked once per round and no more once it is
    satisfied. Raises `PropagationTimeout` after `timeout` seconds or at the deadline.
    """
    started = time.monotonic()
    budget = deadline.child(timeout)
    wanted = {canonical_name(k): frozenset(v) for k, v in expected.items()}
    per_record = _servers_per_record(wanted, name_servers, budget)
    pending = {(server, record): Sighting() for record in wanted for server in per_record[record]}
    interval = FIRST_POLL_INTERVAL
    while True:
        for server, record in list(pending):
            timeout_left = min(query_timeout, budget.remaining())
            sighting = _ask_txt(server, record, timeout_left)
            if wanted[record] <= sighting.values:
                del pending[(server, record)]
            else:
                pending[(server, record)] = sighting
        if not pending:
            return
        if budget.expired():
            raise PropagationTimeout(
                [_unseen(server, record, wanted[record], sighting)
                 for (server, record), sighting in pending.items()],
                time.monotonic() - started,
                override=isinstance(name_servers, str),
            )
        budget.sleep(interval)
        interval = min(interval * POLL_GROWTH, MAX_POLL_INTERVAL)


def _unseen(server: Server, record: str, wanted: frozenset[str], sighting: Sighting) -> Unseen:
    return Unseen(server.label, record, wanted - sighting.values, sighting.values, sighting.note)


# --- CNAME-delegated challenges ----------------------------------------------------------


def challenge_delegations(
    records: Collection[str],
    name_servers: Mapping[str, Sequence[str]] | str,
    *,
    deadline: Deadline,
    query_timeout: float = TXT_QUERY_TIMEOUT,
) -> dict[str, str]:
    """The records (`_acme-challenge.<name>`) that are CNAMEs on their zone's authoritative
    servers, each with the end of its chain as those servers give it: the name a validation
    server reads the TXT values at, and so where they are written.

    `name_servers` is as for `wait_for_txt`. The first server that answers is believed (they
    serve one zone); none answering raises LookupFailed.
    """
    wanted = [canonical_name(r) for r in dict.fromkeys(records)]
    per_record = _servers_per_record(wanted, name_servers, deadline)
    found: dict[str, str] = {}
    for record in wanted:
        target = _delegation(record, per_record[record], deadline, query_timeout)
        if target is not None:
            found[record] = target
    return found


def _delegation(record: str, servers: Sequence[Server], deadline: Deadline,
                query_timeout: float) -> str | None:
    failures = []
    for server in servers:
        try:
            response = _query(server, record, "TXT", recursive=False,
                              timeout=min(query_timeout, deadline.remaining()))
        except LookupFailed as error:
            failures.append(str(error))
            continue
        rcode = _rcode(response)
        if rcode not in ("NOERROR", "NXDOMAIN"):
            failures.append(f"{server.label} answered {rcode}")
            continue
        assert isinstance(response, dns.message.QueryMessage)
        try:
            chain = response.resolve_chaining()
        except dns.exception.DNSException as error:
            failures.append(f"{server.label}: bad answer for {record}: {error}")
            continue
        target = canonical_name(chain.canonical_name.to_text())
        return target if target != record else None
    raise LookupFailed(f"no authoritative server told whether {record} is a CNAME: "
                       + "; ".join(failures))
