"""dns_checks without the local stack: pure parts, then a scripted server on 127.0.0.1."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from wildcert.adapters import dns as dns_checks
from wildcert.adapters.dns import (
    PropagationTimeout,
    Server,
    Sighting,
    Unseen,
    caa_report,
    parse_address,
    split_wildcard,
    system_resolvers,
    tree_walk,
    wait_for_txt,
)
from wildcert.deadline import Deadline

# --- pure ------------------------------------------------------------------------------


def test_tree_walk_goes_from_the_name_up_to_the_tld() -> None:
    assert tree_walk("a.b.Example.com.") == ["a.b.example.com", "b.example.com", "example.com",
                                             "com"]
    assert tree_walk("com") == ["com"]


@pytest.mark.parametrize(
    ("domain", "name", "wildcard"),
    [("*.Example.com", "example.com", True), ("example.com.", "example.com", False)],
)
def test_split_wildcard(domain: str, name: str, wildcard: bool) -> None:
    assert split_wildcard(domain) == (name, wildcard)


@pytest.mark.parametrize(
    ("text", "server"),
    [
        ("127.0.0.1:14053", Server("127.0.0.1", 14053)),
        ("10.0.0.2", Server("10.0.0.2", 53)),
        ("[::1]:5353", Server("::1", 5353)),
        ("[::1]", Server("::1", 53)),
        ("fd00::2", Server("fd00::2", 53)),
    ],
)
def test_parse_address(text: str, server: Server) -> None:
    assert parse_address(text) == server


def test_system_resolvers_reads_resolv_conf(tmp_path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch corp\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n")
    assert system_resolvers(str(conf)) == [Server("10.0.0.2"), Server("fe80::1")]
    assert system_resolvers(str(tmp_path / "absent")) == [Server("127.0.0.1")]


def test_server_label() -> None:
    assert Server("205.251.192.1", 53, "ns-1.awsdns-01.org").label == (
        "ns-1.awsdns-01.org (205.251.192.1)"
    )
    assert Server("127.0.0.1", 14053).label == "127.0.0.1:14053"


def test_timeout_message_names_server_record_missing_and_seen_values() -> None:
    error = PropagationTimeout(
        [
            Unseen("ns-1.awsdns-01.org (205.251.192.1)", "_acme-challenge.example.com",
                   frozenset({"new"}), frozenset({"old"})),
            Unseen("ns-2.awsdns-02.net (205.251.193.2)", "_acme-challenge.example.com",
                   frozenset({"new", "other"}), frozenset(), "it answered SERVFAIL"),
            Unseen("ns-3.awsdns-03.com (205.251.194.3)", "_acme-challenge.example.com",
                   frozenset({"new"}), frozenset()),
        ],
        180.2,
        override=False,
    )
    assert isinstance(error, TimeoutError)
    lines = str(error).splitlines()
    assert lines[0] == (
        "TXT challenge values were not visible on every authoritative name server after 180 s:"
    )
    assert lines[1] == ('- ns-1.awsdns-01.org (205.251.192.1): _acme-challenge.example.com '
                        'lacks "new"; it shows "old"')
    assert lines[2] == ('- ns-2.awsdns-02.net (205.251.193.2): _acme-challenge.example.com '
                        'lacks "new", "other": it answered SERVFAIL')
    assert lines[3].endswith('lacks "new"; it shows no TXT values there')
    assert "DNS_PROPAGATION_TIMEOUT" in lines[4]
    assert "registrar" in lines[4]


def test_timeout_message_with_an_override_points_at_it() -> None:
    error = PropagationTimeout(
        [Unseen("127.0.0.1:14053", "_acme-challenge.example.com", frozenset({"v"}),
                frozenset())], 2.0, override=True)
    assert "DNS_SERVER_OVERRIDE" in str(error)


def _response(qname: str, rdtype: str, *rrsets: dns.rrset.RRset,
              rcode: int = dns.rcode.NOERROR) -> dns.message.Message:
    response = dns.message.make_response(dns.message.make_query(qname, rdtype))
    response.set_rcode(rcode)
    response.answer.extend(rrsets)
    # Through the wire, as a real answer comes: the lookup index is built while parsing.
    return dns.message.from_wire(response.to_wire())


def test_txt_sighting_joins_strings_and_ignores_other_names() -> None:
    response = _response(
        "_acme-challenge.example.com", "TXT",
        dns.rrset.from_text("_acme-challenge.example.com.", 60, "IN", "TXT", '"ab" "cd"', '"x"'),
        dns.rrset.from_text("other.example.com.", 60, "IN", "TXT", '"y"'),
    )
    sighting = dns_checks._txt_sighting("_acme-challenge.example.com", response)
    assert sighting == Sighting(frozenset({"abcd", "x"}))


def test_txt_sighting_notes_nxdomain_errors_and_cnames() -> None:
    name = "_acme-challenge.example.com"
    nx = dns_checks._txt_sighting(name, _response(name, "TXT", rcode=dns.rcode.NXDOMAIN))
    assert nx.values == frozenset() and "NXDOMAIN" in (nx.note or "")
    refused = dns_checks._txt_sighting(name, _response(name, "TXT", rcode=dns.rcode.REFUSED))
    assert refused.note == "it answered REFUSED"
    cname = dns.rrset.from_text(name + ".", 60, "IN", "CNAME", "x.validation.example.net.")
    delegated = dns_checks._txt_sighting(name, _response(name, "TXT", cname))
    assert "CNAME to x.validation.example.net" in (delegated.note or "")


def test_caa_answer_at_a_cname_target_names_the_target() -> None:
    response = _response(
        "www.example.com", "CAA",
        dns.rrset.from_text("www.example.com.", 60, "IN", "CNAME", "cdn.example.net."),
        dns.rrset.from_text("cdn.example.net.", 60, "IN", "CAA", '0 issue "sectigo.com"'),
    )
    found, target = dns_checks._caa_answer("www.example.com", response)
    assert target is None
    assert found == dns_checks.CaaLookup(
        "www.example.com", "cdn.example.net", (dns_checks.caa.CaaRecord(0, "issue", "sectigo.com"),)
    )


def test_caa_answer_reports_an_unfinished_cname_chain() -> None:
    response = _response(
        "www.example.com", "CAA",
        dns.rrset.from_text("www.example.com.", 60, "IN", "CNAME", "cdn.example.net."),
    )
    assert dns_checks._caa_answer("www.example.com", response) == (None, "cdn.example.net")


# --- a scripted server on loopback -------------------------------------------------------

Handler = Callable[[dns.message.Message, str], dns.message.Message | None]


@dataclass
class ScriptedServer:
    """Answers UDP and TCP on 127.0.0.1 with `handler(query, transport)`; logs the questions."""

    handler: Handler
    asked: list[tuple[str, str, str]] = field(default_factory=list)
    port: int = 0

    def start(self) -> None:
        for _ in range(50):  # the free UDP port may be taken for TCP: pick again
            self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp.bind(("127.0.0.1", 0))
            self.port = self._udp.getsockname()[1]
            self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                self._tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self._udp.close()
                self._tcp.close()
        self._tcp.listen(8)
        for target in (self._serve_udp, self._serve_tcp):
            threading.Thread(target=target, daemon=True).start()

    def stop(self) -> None:
        self._udp.close()
        self._tcp.close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _answer(self, wire: bytes, transport: str) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        self.asked.append((question.name.to_text(omit_final_dot=True),
                           dns.rdatatype.to_text(question.rdtype), transport))
        response = self.handler(query, transport)
        return None if response is None else response.to_wire()

    def _serve_udp(self) -> None:
        while True:
            try:
                wire, peer = self._udp.recvfrom(65535)
            except OSError:
                return
            reply = self._answer(wire, "udp")
            if reply is not None:
                self._udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        while True:
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                return
            with conn:
                size = struct.unpack("!H", conn.recv(2))[0]
                reply = self._answer(conn.recv(size), "tcp")
                if reply is not None:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(handler: Handler) -> ScriptedServer:
        server = ScriptedServer(handler)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def zone(records: dict[tuple[str, str], list[str]], *, refuse_outside: str = "example.com"
         ) -> Handler:
    """An authoritative server for one zone, like Route 53's (REFUSED outside it)."""
    apex = dns.name.from_text(refuse_outside)

    def handler(query: dns.message.Message, transport: str) -> dns.message.Message:
        question = query.question[0]
        response = dns.message.make_response(query)
        if not question.name.is_subdomain(apex):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        name = question.name.to_text(omit_final_dot=True)
        rdtype = dns.rdatatype.to_text(question.rdtype)
        values = records.get((name, rdtype))
        if values:
            response.answer.append(dns.rrset.from_text(name + ".", 60, "IN", rdtype, *values))
        elif not any(key[0] == name for key in records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    return handler


def deadline(seconds: float = 10.0) -> Deadline:
    return Deadline.after(seconds)


@pytest.fixture(autouse=True)
def _quick(monkeypatch) -> None:
    monkeypatch.setattr(dns_checks, "RETRY_BASE", 0.01)
    monkeypatch.setattr(dns_checks, "FIRST_POLL_INTERVAL", 0.02)


def test_caa_walks_up_and_caches_shared_parents(serve) -> None:
    server = serve(zone({("example.com", "CAA"): ['0 issue "letsencrypt.org"']}))
    report = caa_report(["*.a.example.com", "a.example.com", "b.example.com"],
                        resolver_address=server.address, deadline=deadline())
    assert report.problems == ()
    asked = [name for name, _, _ in server.asked]
    assert asked == ["a.example.com", "example.com", "b.example.com"]


def test_caa_refused_above_the_zone_means_no_caa_with_an_override(serve) -> None:
    server = serve(zone({}))
    assert caa_report(["example.com"], resolver_address=server.address,
                      deadline=deadline()).problems == ()
    assert [name for name, _, _ in server.asked] == ["example.com", "com"]


def test_caa_problem_names_the_owner(serve) -> None:
    server = serve(zone({("example.com", "CAA"): ['0 issue "sectigo.com"']}))
    report = caa_report(["www.example.com"], resolver_address=server.address,
                        deadline=deadline())
    assert len(report.problems) == 1
    assert report.problems[0].startswith(
        "CAA at example.com does not allow letsencrypt.org to issue for www.example.com"
    )


def test_caa_servfail_is_retried(serve) -> None:
    failures = iter([True, True])
    good = zone({})

    def flaky(query: dns.message.Message, transport: str) -> dns.message.Message:
        if next(failures, False):
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        return good(query, transport)

    server = serve(flaky)
    assert caa_report(["example.com"], resolver_address=server.address,
                      deadline=deadline()).problems == ()
    assert [name for name, _, _ in server.asked] == ["example.com"] * 3 + ["com"]


def test_caa_persistent_servfail_is_a_problem(serve) -> None:
    def broken(query: dns.message.Message, transport: str) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.SERVFAIL)
        return response

    server = serve(broken)
    report = caa_report(["*.example.com", "example.com"], resolver_address=server.address,
                        deadline=deadline())
    assert report.problems == tuple(
        f"could not look up CAA for {name}: 127.0.0.1:{server.port} answered SERVFAIL — "
        "Let's Encrypt will refuse too, fix the DNS"
        for name in ("*.example.com", "example.com")
    )
    assert len(server.asked) == dns_checks.LOOKUP_ATTEMPTS


def test_caa_follows_a_cname_the_server_left_unfinished(serve) -> None:
    records = {("www.example.com", "CNAME"): ["cdn.example.com."],
               ("cdn.example.com", "CAA"): ['0 issue ";"']}
    handler = zone(records)

    def no_chasing(query: dns.message.Message, transport: str) -> dns.message.Message:
        question = query.question[0]
        if question.name.to_text() == "www.example.com.":
            response = dns.message.make_response(query)
            response.answer.append(dns.rrset.from_text("www.example.com.", 60, "IN", "CNAME",
                                                       "cdn.example.com."))
            return response
        return handler(query, transport)

    server = serve(no_chasing)
    report = caa_report(["www.example.com"], resolver_address=server.address,
                        deadline=deadline())
    assert len(report.problems) == 1
    assert "CAA at cdn.example.com (the CNAME target of www.example.com)" in report.problems[0]


def test_caa_accounturi_warning_is_reported(serve) -> None:
    value = '0 issue "letsencrypt.org; accounturi=https://ca.example/acct/1"'
    server = serve(zone({("example.com", "CAA"): [value]}))
    report = caa_report(["example.com"], resolver_address=server.address, deadline=deadline())
    assert report.problems == ()
    assert len(report.warnings) == 1


def test_wait_for_txt_stops_asking_satisfied_pairs(serve) -> None:
    rounds = {"n": 0}
    name = "_acme-challenge.example.com"
    other = "_acme-challenge.www.example.com"

    def appears_late(query: dns.message.Message, transport: str) -> dns.message.Message:
        qname = query.question[0].name.to_text(omit_final_dot=True)
        assert not query.flags & dns.flags.RD
        records = {(other, "TXT"): ['"w"']}
        if qname == name:
            rounds["n"] += 1
            if rounds["n"] >= 3:
                records[(name, "TXT")] = ['"a"', '"b"', '"someone-else"']
        return zone(records)(query, transport)

    server = serve(appears_late)
    wait_for_txt({name: {"a", "b"}, other: {"w"}}, server.address, deadline=deadline(),
                 timeout=5)
    assert [q for q, _, _ in server.asked] == [name, other, name, name]


def test_wait_for_txt_falls_back_to_tcp_when_truncated(serve) -> None:
    name = "_acme-challenge.example.com"
    handler = zone({(name, "TXT"): ['"v"']})

    def truncating(query: dns.message.Message, transport: str) -> dns.message.Message:
        response = handler(query, transport)
        if transport == "udp":
            response.answer.clear()
            response.flags |= dns.flags.TC
        return response

    server = serve(truncating)
    wait_for_txt({name: {"v"}}, server.address, deadline=deadline(), timeout=5)
    assert [t for _, _, t in server.asked] == ["udp", "tcp"]


def test_wait_for_txt_times_out_naming_server_and_values(serve) -> None:
    name = "_acme-challenge.example.com"
    server = serve(zone({(name, "TXT"): ['"old"']}))
    with pytest.raises(PropagationTimeout) as raised:
        wait_for_txt({name: {"new"}}, server.address, deadline=deadline(), timeout=0.2)
    assert raised.value.unseen == (
        Unseen(server.address, name, frozenset({"new"}), frozenset({"old"})),
    )
    assert f'{server.address}: {name} lacks "new"; it shows "old"' in str(raised.value)


def test_wait_for_txt_respects_the_outer_deadline(serve) -> None:
    name = "_acme-challenge.example.com"
    server = serve(zone({}))
    with pytest.raises(PropagationTimeout):
        wait_for_txt({name: {"new"}}, server.address, deadline=deadline(0.2), timeout=60)


def test_wait_for_txt_silent_server_is_reported(serve) -> None:
    name = "_acme-challenge.example.com"
    server = serve(lambda query, transport: None)
    with pytest.raises(PropagationTimeout) as raised:
        wait_for_txt({name: {"v"}}, server.address, deadline=deadline(), timeout=0.2,
                     query_timeout=0.1)
    assert "did not answer in time" in str(raised.value)


def test_wait_for_txt_asks_each_name_server_of_the_zone(serve, monkeypatch) -> None:
    name = "_acme-challenge.example.com"
    first = serve(zone({(name, "TXT"): ['"v"']}))
    second = serve(zone({(name, "TXT"): ['"v"']}))
    ports = {"ns-1.test": first.port, "ns-2.test": second.port}

    def resolve(hosts, *, deadline):
        return {h: Server("127.0.0.1", ports[h], h) for h in hosts}

    monkeypatch.setattr(dns_checks, "resolve_name_servers", resolve)
    wait_for_txt({name: {"v"}}, {name: ["ns-1.test", "NS-2.test."]}, deadline=deadline(),
                 timeout=5)
    assert len(first.asked) == len(second.asked) == 1


def test_resolve_name_servers_uses_ipv4_once_per_host_and_skips_failures() -> None:
    calls = []

    def getaddrinfo(host, port, family, kind):
        calls.append(host)
        assert family == socket.AF_INET
        if host == "broken.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(family, kind, 17, "", ("192.0.2.1", port))]

    servers = dns_checks.resolve_name_servers(
        ["ns-1.test", "NS-1.test.", "broken.test"], deadline=deadline(), getaddrinfo=getaddrinfo
    )
    assert servers == {"ns-1.test": Server("192.0.2.1", 53, "ns-1.test")}
    assert calls == ["ns-1.test", "broken.test"]


def test_wait_for_txt_without_any_resolvable_name_server_fails_at_once(monkeypatch) -> None:
    monkeypatch.setattr(dns_checks, "resolve_name_servers", lambda hosts, *, deadline: {})
    with pytest.raises(PropagationTimeout) as raised:
        wait_for_txt({"_acme-challenge.example.com": {"v"}},
                     {"_acme-challenge.example.com": ["ns-1.test"]}, deadline=deadline(),
                     timeout=60)
    assert "none of its name servers resolves" in str(raised.value)
