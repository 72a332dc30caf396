"""The watch's expiry monitor end to end: real certificates, real TLS servers on loopback.

A server still serving the first certificate of a name after the bucket got a renewal is the
failure this exists for: the issuer did its job, the host's install job did not.

Endpoints are host names in the stack's zones whose A records point at 127.0.0.1; the watch
resolves them through the stack's DNS server (DNS_SERVER_OVERRIDE) and may connect to loopback
only because the stack sets WATCH_ALLOW_LOOPBACK. The test servers listen on ports of their
own, so each test widens ENDPOINT_PORTS to them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import socketserver
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e import test_renewal_sweep as sweep_e2e
from tests.e2e.support import (
    ISSUER,
    WATCH,
    client,
    invoke,
    slack_payloads,
    slack_texts,
    stored_set,
    unique,
)
from tests.e2e.test_renewal_sweep import mine, put_cert_json, receive_all, shifted_copy
from wildcert.adapters.bucket.fleet import FleetInventory
from wildcert.adapters.bucket.objects import Bucket
from wildcert.logic.request.endpoints import IP_LITERAL

queue = sweep_e2e.queue  # the same fixtures: a queue of the test's own, prefixes to remove
cleanup = sweep_e2e.cleanup


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(OSError):
            self.request.do_handshake()
            self.request.recv(1)


class _TlsServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, context: ssl.SSLContext):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = context

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        # The handshake runs in the handler's thread, so one slow client never blocks accept.
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), address


@contextlib.contextmanager
def listening() -> Iterator[tuple[int, Callable[[bytes, bytes], None]]]:
    """A TLS server on 127.0.0.1; yields its port and how to give it its certificate set.

    The port exists before the certificate, so a request can name it as an endpoint.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

    def load(fullchain: bytes, privkey: bytes) -> None:
        with tempfile.TemporaryDirectory() as directory:
            cert, key = Path(directory, "fullchain.pem"), Path(directory, "privkey.pem")
            cert.write_bytes(fullchain)
            key.write_bytes(privkey)
            context.load_cert_chain(cert, key)

    server = _TlsServer(context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], load
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def serving(fullchain: bytes, privkey: bytes) -> Iterator[int]:
    """A TLS server on 127.0.0.1 presenting this certificate set; yields its port."""
    with listening() as (port, load):
        load(fullchain, privkey)
        yield port


def point(name: str, *addresses: str) -> None:
    """Give `name` (in the stack's example.com zone) these A/AAAA records."""
    changes = []
    for kind, version in (("A", "."), ("AAAA", ":")):
        values = [a for a in addresses if version in a]
        if values:
            changes.append({"Action": "UPSERT", "ResourceRecordSet": {
                "Name": name, "Type": kind, "TTL": 60,
                "ResourceRecords": [{"Value": v} for v in values]}})
    client("route53").change_resource_record_sets(
        HostedZoneId=os.environ["WILDCERT_ZONE_EXAMPLE_COM"], ChangeBatch={"Changes": changes})


def allow_ports(monkeypatch: pytest.MonkeyPatch, *ports: int) -> None:
    monkeypatch.setenv("ENDPOINT_PORTS", ",".join(str(p) for p in (443, *ports)))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again on leaving: connections are refused


def with_endpoints(name: str, endpoints: list[str]) -> None:
    """What the lead's `endpoints` request field stores, written straight into cert.json."""
    meta, _ = stored_set(name)
    put_cert_json(name, {**meta, "endpoints": endpoints})


def test_watch_flags_stale_unreachable_and_expiring(queue, cleanup, monkeypatch) -> None:
    monkeypatch.setenv("EXPIRY_WARNING_DAYS", "14")
    label = unique("mon")
    cleanup.append(label)
    domains = [f"*.{label}.example.com", f"{label}.example.com"]
    assert invoke(ISSUER, {"domains": domains, "name": label})["status"] == "issued"
    first_meta, first = stored_set(label)
    renewed = invoke(ISSUER, {"domains": domains, "name": label, "force": True})
    assert renewed["status"] == "renewed"
    current_meta, current = stored_set(label)
    assert current_meta["serial"] != first_meta["serial"]
    shifted_copy(current_meta, f"{label}-soon", age_days=80, days=90)
    refused = closed_port()
    old, new, gone = (f"{part}.{label}.example.com" for part in ("old", "new", "gone"))
    for host in (old, new, gone):
        point(host, "127.0.0.1")

    with serving(first["fullchain.pem"], first["privkey.pem"]) as old_port, \
            serving(current["fullchain.pem"], current["privkey.pem"]) as new_port:
        allow_ports(monkeypatch, old_port, new_port, refused)
        with_endpoints(label, [f"{old}:{old_port}", f"{new}:{new_port}", f"{gone}:{refused}"])
        posted = len(slack_payloads())
        result = invoke(WATCH, {})

    findings = {(f["name"], f["kind"]): f["text"] for f in result["findings"]
                if f["name"].startswith(label)}
    assert set(findings) == {(label, "stale"), (label, "unreachable"),
                             (f"{label}-soon", "expiring")}
    assert findings[(label, "stale")].startswith(
        f"{old}:{old_port} serves serial {first_meta['serial']} (expires ")
    assert f"bucket has {current_meta['serial']}" in findings[(label, "stale")]
    # A closed port reads like any other failure: nothing tells closed from filtered.
    assert findings[(label, "unreachable")] == (
        f"could not get a certificate from {gone}:{refused} (SNI {label}.example.com)")
    assert "in 10.0 days" in findings[(f"{label}-soon", "expiring")]
    texts = slack_texts()[posted:]
    assert len(texts) == 1 and "Certificate watch" in texts[0]
    # 80 days into 90 is past its renewal point: the watch queues it (a failed renewal
    # retries itself), unforced, since the issuer agrees it is due; the fresh one stays put.
    queued = mine(receive_all(queue), label)
    assert set(queued) == {f"{label}-soon"}
    soon = queued[f"{label}-soon"]
    assert soon.reason == "due" and soon.body["force"] is False
    # The operators' inventory says the same at a glance.
    listed = FleetInventory(Bucket(client("s3"), os.environ["CERT_BUCKET"],
                                   os.environ["KMS_KEY_ID"])).read("operators")
    assert listed is not None
    rows = listed["certificates"]
    assert rows[label]["endpoints"]["state"] == "attention"
    assert findings[(label, "stale")] in rows[label]["endpoints"]["detail"]
    assert rows[f"{label}-soon"]["renewal"]["state"] == "queued"


def only(monkeypatch: pytest.MonkeyPatch, label: str) -> None:
    """Other tests' certificates share the bucket: the watch looks at this one alone."""
    from wildcert.adapters.bucket.inventory import ManagedCertificates

    monkeypatch.setattr(ManagedCertificates, "names", lambda self: [label])


def test_a_requested_endpoint_is_checked_and_all_well_posts_nothing(
        queue, monkeypatch, cleanup) -> None:
    """From the request to the watch: the validator takes a host name in a zone on an allowed
    port, the issuer stores it, the watch resolves it and finds the new certificate served."""
    label = unique("ok")
    cleanup.append(label)
    host = f"tls.{label}.example.com"
    point(host, "127.0.0.1")
    with listening() as (port, load):
        allow_ports(monkeypatch, port)
        issued = invoke(ISSUER, {"domains": [f"{label}.example.com"], "name": label,
                                 "endpoints": [f"{host.upper()}:{port}"]})
        assert issued["status"] == "issued", issued
        meta, files = stored_set(label)
        assert meta["endpoints"] == [f"{host}:{port}"]
        load(files["fullchain.pem"], files["privkey.pem"])
        only(monkeypatch, label)
        posted = len(slack_payloads())
        result = invoke(WATCH, {"dry_run": True})
    assert result["checked"] == 1 and result["findings"] == [] and result["renewals"] == []
    assert len(slack_payloads()) == posted
    assert dt.datetime.fromisoformat(meta["not_after"].replace("Z", "+00:00")) > dt.datetime.now(
        dt.UTC)
    assert os.environ["RENEWAL_QUEUE_URL"] == queue
    assert client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"] == "0"


@pytest.mark.parametrize("literal", ["169.254.169.254:80", "127.0.0.1:9001", "0.0.0.0:22",
                                     "10.0.0.1:5432", "[fe80::1%eth0]:443", "::1:443"])
def test_the_issuer_refuses_ip_literals_and_hosts_outside_the_zones(literal, cleanup) -> None:
    label = unique("lit")
    cleanup.append(label)
    result = invoke(ISSUER, {"domains": [f"{label}.example.com"], "name": label,
                             "endpoints": [literal, "www.example.org:443"]})
    assert result["status"] == "rejected"
    assert f"endpoints[0] '{literal}' {IP_LITERAL}" in result["message"]
    assert "endpoints[1] 'www.example.org:443' is not in any hosted zone" in result["message"]
    assert "'example.com', 'example.net', 'team.example.com'" in result["message"]


def test_without_the_loopback_switch_no_private_address_is_reached(
        monkeypatch, cleanup) -> None:
    """What a deployed watch does with names pointing inside: refuse each before connecting.

    The loopback name has a live TLS server behind it, so only the refusal keeps it unseen.
    """
    label = unique("pv")
    cleanup.append(label)
    result = invoke(ISSUER, {"domains": [f"{label}.example.com"], "name": label})
    assert result["status"] == "issued", result
    _, files = stored_set(label)
    targets = {"lo": "127.0.0.1", "rfc1918": "10.0.0.1", "imds": "169.254.169.254",
               "any": "0.0.0.0", "lo6": "::1",  # noqa: S104 - an address to refuse, not bind
               "ula": "fd00:ec2::254", "mixed": "93.184.216.34"}
    hosts = {key: f"{key}.{label}.example.com" for key in targets}
    for key, address in targets.items():
        point(hosts[key], address, *(["10.1.2.3"] if key == "mixed" else []))
    monkeypatch.delenv("WATCH_ALLOW_LOOPBACK", raising=False)
    only(monkeypatch, label)
    with serving(files["fullchain.pem"], files["privkey.pem"]) as port:
        allow_ports(monkeypatch, port)
        with_endpoints(label, [f"{h}:{port}" for h in hosts.values()]
                       + [f"127.0.0.1:{port}", f"[::1]:{port}"])
        result = invoke(WATCH, {"dry_run": True})
    findings = [f for f in result["findings"] if f["name"] == label]
    assert [f["kind"] for f in findings] == ["refused"] * (len(hosts) + 2)
    words = {"lo": "a loopback", "rfc1918": "a private", "imds": "a link-local",
             "any": "an unspecified", "lo6": "a loopback", "ula": "a unique-local",
             "mixed": "a private"}
    for finding, key in zip(findings, hosts, strict=False):
        assert finding["text"] == (f"{hosts[key]}:{port} resolves to {words[key]} address; "
                                   "the watch connects only to public addresses")
    assert findings[-2]["text"] == f"endpoint '127.0.0.1:{port}' {IP_LITERAL}; the watch skips it."
    assert findings[-1]["text"] == f"endpoint '[::1]:{port}' {IP_LITERAL}; the watch skips it."
