"""`endpoints` cannot turn the watch into a port scanner.

One parser (logic.endpoints) reads an entry for the request validator and for the watch, so
both refuse the same entries with the same words; the validator also wants the host inside an
allowed zone; the watch resolves the name once, refuses non-public addresses, connects to the
address it checked, and says the same thing whether a port is closed, filtered or not TLS.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.unit.test_monitor import KEY, leaf
from tests.unit.test_sweep import NOW, entry
from wildcert.adapters.tls import Prober, fetch_certificate
from wildcert.jobs.watch.job import check_endpoint, check_endpoints
from wildcert.logic.request import RequestRejected, parse_request
from wildcert.logic.request.endpoints import (
    IP_LITERAL,
    Endpoint,
    parse_endpoint,
    port_list,
    refused_address,
)

WARN = dt.timedelta(days=14)
ZONES = ("example.com", "team.example.net")

# Each literal the security review reproduced, and the equivalent spellings a resolver accepts.
IP_LITERALS = [
    "169.254.169.254:80", "127.0.0.1:9001", "0.0.0.0:22", "10.0.0.1:5432",
    "[fe80::1%eth0]:443", "::1:443", "[::1]:443", "[::ffff:127.0.0.1]:443",
    "127.1:443", "2130706433:443", "0x7f.0.0.1:443", "0177.0.0.1:443", "fe80::1%eth0:443",
    "[www.example.com]:443", "1.0x7f:443", "127.0.0.1.:443",
]


def rejections(endpoints: list[object], zones: Sequence[str] = ZONES,
               ports: Sequence[int] = (443,)) -> tuple[str, ...]:
    with pytest.raises(RequestRejected) as rejected:
        parse_request({"domains": ["example.com"], "endpoints": endpoints}, zones,
                      endpoint_ports=ports)
    return rejected.value.problems


# -- the parser ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "host", "port"), [
    ("www.example.com:443", "www.example.com", 443),
    (" WWW.Example.COM:0443 ", "www.example.com", 443),
    ("www.example.com.:443", "www.example.com", 443),
    ("bücher.example.com:443", "xn--bcher-kva.example.com", 443),
    ("lb.team.example.net:8443", "lb.team.example.net", 8443),
])
def test_host_names_on_allowed_ports_parse(text: str, host: str, port: int) -> None:
    check = parse_endpoint(text, ports=(443, 8443))
    assert check.problem is None
    assert check.endpoint == Endpoint(host, port)
    assert str(check.endpoint) == f"{host}:{port}"


@pytest.mark.parametrize("text", IP_LITERALS)
def test_every_ip_literal_is_refused_as_such(text: str) -> None:
    check = parse_endpoint(text)
    assert check.endpoint is None
    assert check.problem == IP_LITERAL


@pytest.mark.parametrize(("text", "needle"), [
    ("www.example.com", "is not host:port"),
    ("www.example.com:", "is not host:port"),
    ("www.example.com:https", "is not host:port"),
    ("www.example.com:٤٤٣", "is not host:port"),  # Arabic-Indic digits: int() would take them
    (":443", "is not host:port"),
    ("", "is empty"),
    ("www.example.com:8443", "uses port 8443; this deployment connects only to port 443"),
    ("www.example.com:0", "uses port 0;"),
    ("www.example.com:99999", "uses port 99999;"),
    ("*.example.com:443", "is a wildcard"),
    ("localhost:443", "has a single label"),
    ("web_1.example.com:443", "has an underscore"),
    ("https://www.example.com:443", "looks like a URL"),
    ("a" * 400 + ".com:443", "is 408 characters long"),
    (("a" * 62 + ".") * 4 + "com:443", "a domain name is at most 253"),
    ("www.example.com%eth0:443", 'contains \'%\''),
])
def test_other_shapes_say_what_is_wrong(text: str, needle: str) -> None:
    check = parse_endpoint(text)
    assert check.endpoint is None
    assert check.problem is not None and needle in check.problem, check.problem


def test_port_list_reads_as_a_sentence() -> None:
    assert port_list([443]) == "port 443"
    assert port_list([8443, 443]) == "ports 443 and 8443"
    assert port_list([443, 8443, 9443]) == "ports 443, 8443 and 9443"


# -- the validator -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", IP_LITERALS)
def test_validator_rejects_every_ip_literal_with_a_clear_message(text: str) -> None:
    (problem,) = rejections([text])
    assert problem.startswith("endpoints[0] ")
    assert IP_LITERAL in problem
    assert "must be DNS host names" in problem


def test_validator_wants_hosts_inside_the_allowed_zones_and_names_them() -> None:
    (problem,) = rejections(["www.other.org:443"])
    assert problem == (
        "endpoints[0] 'www.other.org:443' is not in any hosted zone this deployment may use; "
        "endpoints must be host names under one of: 'example.com', 'team.example.net'.")
    # Whole labels: notexample.com is not under example.com.
    assert "not in any hosted zone" in rejections(["www.notexample.com:443"])[0]


def test_validator_names_the_allowed_ports() -> None:
    (problem,) = rejections(["www.example.com:8443"], ports=(443, 9443))
    assert problem == ("endpoints[0] 'www.example.com:8443' uses port 8443; this deployment "
                       "connects only to ports 443 and 9443 (ENDPOINT_PORTS).")


def test_validator_accepts_names_in_zones_on_allowed_ports_normalised() -> None:
    raw = {"domains": ["example.com"],
           "endpoints": ["WWW.example.com:443", "www.example.com:443", "lb.team.example.net:9443"]}
    request = parse_request(raw, ZONES, endpoint_ports=(443, 9443))
    assert request.endpoints == ("www.example.com:443", "lb.team.example.net:9443")


def test_validator_default_ports_are_443_only() -> None:
    raw = {"domains": ["example.com"], "endpoints": ["www.example.com:443"]}
    assert parse_request(raw, ZONES).endpoints == ("www.example.com:443",)
    with pytest.raises(RequestRejected):
        parse_request({**raw, "endpoints": ["www.example.com:8443"]}, ZONES)


def test_validator_reports_every_bad_endpoint_at_once() -> None:
    problems = rejections(["10.0.0.1:5432", "www.other.org:443", "www.example.com:22", 7])
    assert [p.split(" ", 1)[0] for p in problems] == [
        "endpoints[0]", "endpoints[1]", "endpoints[2]", "endpoints[3]"]


# -- addresses the watch refuses -----------------------------------------------------------------


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "a loopback"), ("127.5.6.7", "a loopback"), ("::1", "a loopback"),
    ("::ffff:127.0.0.1", "a loopback"), ("2002:7f00:1::1", "a loopback"),
    ("10.0.0.1", "a private"), ("172.16.3.4", "a private"), ("192.168.1.1", "a private"),
    ("169.254.169.254", "a link-local"), ("fe80::1", "a link-local"),
    ("fe80::1%eth0", "a link-local"), ("fd00:ec2::254", "a unique-local"),
    ("fc00::1", "a unique-local"), ("224.0.0.1", "a multicast"), ("ff02::1", "a multicast"),
    ("240.0.0.1", "a reserved"), ("255.255.255.255", "a reserved"),
    ("0.0.0.0", "an unspecified"), ("::", "an unspecified"),  # noqa: S104 - refused, not bound
    # Not global; which word Python's tables give these varies between versions.
    ("100.64.0.1", "a "), ("198.18.0.1", "a "), ("192.0.2.10", "a "), ("2001:db8::1", "a "),
    ("fec0::1", "a site-local"), ("::127.0.0.1", "a reserved"),
    ("64:ff9b::a00:1", "a reserved"),
])
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    reason = refused_address(address, allow_loopback=False)
    assert reason is not None and reason.startswith(kind), reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946",
                                     "1.1.1.1", "2001:4860:4860::8888"])
def test_public_addresses_pass(address: str) -> None:
    assert refused_address(address, allow_loopback=False) is None


def test_allowing_loopback_allows_loopback_only() -> None:
    assert refused_address("127.0.0.1", allow_loopback=True) is None
    assert refused_address("::1", allow_loopback=True) is None
    assert refused_address("10.0.0.1", allow_loopback=True) is not None
    assert refused_address("169.254.169.254", allow_loopback=True) is not None


# -- the watch -----------------------------------------------------------------------------------


class Resolver:
    """A DNS that answers from a table, counting questions; a name may change its answer."""

    def __init__(self, *answers: Sequence[str]):
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, host: str) -> Sequence[str]:
        self.asked.append(host)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


def never_connect(address: str, port: int, sni: str, timeout: float) -> x509.Certificate:
    raise AssertionError(f"the watch connected to {address}:{port}")


PRIVATE_ANSWERS = [
    ["127.0.0.1"], ["10.0.0.1"], ["169.254.169.254"], ["::1"], ["fe80::1%eth0"], ["::"],
    ["0.0.0.0"],  # noqa: S104 - an answer to refuse, not an address to bind
    ["fd00::1"], ["224.0.0.251"], ["100.64.0.1"], ["::ffff:10.0.0.1"],
    ["93.184.216.34", "10.0.0.1"],  # one bad address is enough: the name is refused
]


@pytest.mark.parametrize("answer", PRIVATE_ANSWERS)
def test_watch_refuses_names_resolving_to_non_public_addresses(answer: list[str]) -> None:
    prober = Prober(resolve=Resolver(answer), fetch=never_connect)
    stored = entry("web")
    found = check_endpoint(stored, "www.example.com:443", NOW, WARN, prober)
    assert found is not None and found.kind == "refused"
    assert found.text.startswith("www.example.com:443 resolves to ")
    assert "the watch connects only to public addresses" in found.text
    assert not any(a.split("%")[0] in found.text for a in answer)  # addresses stay in the logs


@pytest.mark.parametrize("text", IP_LITERALS)
def test_watch_refuses_ip_literals_stored_before_validation_existed(text: str) -> None:
    prober = Prober(resolve=Resolver(["93.184.216.34"]), fetch=never_connect)
    found = check_endpoint(entry("web"), text, NOW, WARN, prober)
    assert found is not None and found.kind == "refused"
    assert IP_LITERAL in found.text


def test_validator_and_watch_reject_v6_shorthand_in_the_same_words() -> None:
    (problem,) = rejections(["::1:443"])
    found = check_endpoint(entry("web"), "::1:443", NOW, WARN,
                           Prober(resolve=Resolver(["93.184.216.34"]), fetch=never_connect))
    assert found is not None
    assert problem == f"endpoints[0] '::1:443' {IP_LITERAL}."
    assert found.text == f"endpoint '::1:443' {IP_LITERAL}; the watch skips it."


def test_watch_refuses_ports_outside_the_setting() -> None:
    prober = Prober(resolve=Resolver(["93.184.216.34"]), fetch=never_connect)
    found = check_endpoint(entry("web"), "www.example.com:5432", NOW, WARN, prober)
    assert found is not None and found.kind == "refused"
    assert "uses port 5432; this deployment connects only to port 443" in found.text
    allowed = check_endpoint(entry("web"), "www.example.com:5432", NOW, WARN,
                             Prober(resolve=Resolver(["10.1.1.1"]), fetch=never_connect),
                             ports=(443, 5432))
    assert allowed is not None and "resolves to a private address" in allowed.text


def test_watch_resolves_once_and_connects_to_the_address_it_checked() -> None:
    # A rebinding DNS: public when checked, the metadata service when asked again.
    resolver = Resolver(["93.184.216.34"], ["169.254.169.254"])
    seen: list[tuple[str, int, str]] = []

    def fetch(address: str, port: int, sni: str, timeout: float) -> x509.Certificate:
        seen.append((address, port, sni))
        return leaf(0xABC123, NOW - dt.timedelta(days=10))

    stored = entry("web", serial="abc123")
    assert check_endpoint(stored, "www.example.com:443", NOW, WARN,
                          Prober(resolve=resolver, fetch=fetch)) is None
    assert resolver.asked == ["www.example.com"]
    assert seen == [("93.184.216.34", 443, "example.com")]


@pytest.mark.parametrize("error", [
    ConnectionRefusedError(111, "Connection refused"), TimeoutError("timed out"),
    OSError(113, "No route to host"), ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER]"),
    ConnectionResetError(104, "Connection reset by peer"), ValueError("not a certificate"),
])
def test_closed_filtered_and_non_tls_ports_read_the_same(
        error: Exception, caplog: pytest.LogCaptureFixture) -> None:
    def fetch(address: str, port: int, sni: str, timeout: float) -> x509.Certificate:
        raise error

    prober = Prober(resolve=Resolver(["93.184.216.34"]), fetch=fetch)
    with caplog.at_level(logging.DEBUG, logger="wildcert.adapters.tls"):
        found = check_endpoint(entry("web"), "www.example.com:443", NOW, WARN, prober)
    assert found is not None and found.kind == "unreachable"
    assert found.text == "could not get a certificate from www.example.com:443 (SNI example.com)"
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(type(error).__name__ in r.getMessage() for r in debug)
    assert not [r for r in caplog.records if r.levelno > logging.DEBUG and
                type(error).__name__ in r.getMessage()]


def test_a_name_that_does_not_resolve_is_reported_without_connecting() -> None:
    def fails(host: str) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    for resolve in (fails, Resolver([])):
        found = check_endpoint(entry("web"), "gone.example.com:443", NOW, WARN,
                               Prober(resolve=resolve, fetch=never_connect))
        assert found is not None and found.kind == "unreachable"
        assert found.text == "could not resolve gone.example.com:443"


def test_check_endpoints_uses_the_ports_it_is_given() -> None:
    stored = entry("web", endpoints=["www.example.com:443", "www.example.com:8443"])
    prober = Prober(resolve=Resolver(["10.0.0.1"]), fetch=never_connect)
    found = check_endpoints([stored], NOW, WARN, probe=prober, ports=(443,)).findings
    assert [f.kind for f in found] == ["refused", "refused"]
    assert "resolves to a private address" in found[0].text
    assert "uses port 8443" in found[1].text


# -- the connection itself, on loopback ----------------------------------------------------------


@contextlib.contextmanager
def tls_server(tmp_path: Path, family: int = socket.AF_INET) -> Iterator[tuple[str, int, list]]:
    """A TLS server presenting `leaf(0x5e1f, …)`; yields its address, port and the SNIs seen."""
    cert = leaf(0x5E1F, NOW - dt.timedelta(days=1))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    snis: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: snis.append(name)
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen()

    def serve() -> None:
        with contextlib.suppress(OSError):
            raw, _ = listener.accept()
            with raw, contextlib.suppress(OSError), context.wrap_socket(raw, server_side=True):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield host, listener.getsockname()[1], snis
    finally:
        listener.close()
        thread.join(5)


def test_fetch_connects_to_the_literal_address_with_the_sni(tmp_path: Path) -> None:
    with tls_server(tmp_path) as (host, port, snis):
        served = fetch_certificate(host, port, "example.com", 5.0)
    assert served.serial_number == 0x5E1F
    assert snis == ["example.com"]


def test_fetch_takes_ipv6_addresses(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6 loopback")
    with tls_server(tmp_path, socket.AF_INET6) as (host, port, _):
        assert fetch_certificate(host, port, "example.com", 5.0).serial_number == 0x5E1F


def test_loopback_is_reached_only_when_allowed(tmp_path: Path) -> None:
    stored = entry("web", serial="5e1f", age_days=1)
    with tls_server(tmp_path) as (host, port, _):
        refused = check_endpoint(stored, f"tls.example.com:{port}", NOW, WARN,
                                 Prober(resolve=Resolver([host])), ports=(port,))
        allowed = check_endpoint(stored, f"tls.example.com:{port}", NOW, WARN,
                                 Prober(resolve=Resolver([host]), allow_loopback=True),
                                 ports=(port,))
    assert refused is not None and refused.kind == "refused"
    assert "resolves to a loopback address" in refused.text
    assert allowed is None
