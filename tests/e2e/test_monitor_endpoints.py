"""The watch's expiry monitor end to end: real certificates, real TLS servers on loopback.

A server still serving the first certificate of a name after the bucket got a renewal is the
failure this exists for: the issuer did its job, the host's install job did not.
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
from collections.abc import Iterator
from pathlib import Path

from tests.e2e import test_renewal_sweep as sweep_e2e
from tests.e2e.support import client, invoke, slack_payloads, slack_texts, stored_set, unique
from tests.e2e.test_renewal_sweep import mine, put_cert_json, receive_all, shifted_copy
from wildcert.jobs.watch import entry as watch_entry

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
def serving(fullchain: bytes, privkey: bytes) -> Iterator[int]:
    """A TLS server on 127.0.0.1 presenting this certificate set; yields its port."""
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory, "fullchain.pem"), Path(directory, "privkey.pem")
        cert.write_bytes(fullchain)
        key.write_bytes(privkey)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    server = _TlsServer(context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


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
    assert invoke({"domains": domains, "name": label})["status"] == "issued"
    first_meta, first = stored_set(label)
    renewed = invoke({"domains": domains, "name": label, "force": True})
    assert renewed["status"] == "issued"
    current_meta, current = stored_set(label)
    assert current_meta["serial"] != first_meta["serial"]
    shifted_copy(current_meta, f"{label}-soon", age_days=80, days=90)
    refused = closed_port()

    with serving(first["fullchain.pem"], first["privkey.pem"]) as old_port, \
            serving(current["fullchain.pem"], current["privkey.pem"]) as new_port:
        with_endpoints(label, [f"127.0.0.1:{old_port}", f"127.0.0.1:{new_port}",
                               f"127.0.0.1:{refused}"])
        posted = len(slack_payloads())
        result = watch_entry.watch({}, None)

    findings = {(f["name"], f["kind"]): f["text"] for f in result["findings"]
                if f["name"].startswith(label)}
    assert set(findings) == {(label, "stale"), (label, "unreachable"),
                             (f"{label}-soon", "expiring")}
    assert findings[(label, "stale")].startswith(
        f"127.0.0.1:{old_port} serves serial {first_meta['serial']} (expires ")
    assert f"bucket has {current_meta['serial']}" in findings[(label, "stale")]
    assert f"127.0.0.1:{refused} (SNI {label}.example.com) cannot be reached" in findings[
        (label, "unreachable")]
    assert "in 10.0 days" in findings[(f"{label}-soon", "expiring")]
    texts = slack_texts()[posted:]
    assert len(texts) == 1 and "Certificate watch" in texts[0]
    # 80 days into 90 is past its renewal point: the watch queues it (a failed renewal
    # retries itself), unforced, since the issuer agrees it is due; the fresh one stays put.
    queued = mine(receive_all(queue), label)
    assert set(queued) == {f"{label}-soon"}
    soon = queued[f"{label}-soon"]
    assert soon.reason == "due" and soon.body["force"] is False


def test_all_well_posts_nothing_but_still_reports(queue, monkeypatch, cleanup) -> None:
    """With only healthy certificates in view, the watch stays quiet on Slack."""
    label = unique("ok")
    cleanup.append(label)
    assert invoke({"domains": [f"{label}.example.com"], "name": label})["status"] == "issued"
    meta, files = stored_set(label)
    with serving(files["fullchain.pem"], files["privkey.pem"]) as port:
        with_endpoints(label, [f"127.0.0.1:{port}"])
        # Other tests' certificates share the bucket: look at this one alone.
        from wildcert.adapters.bucket.inventory import ManagedCertificates

        monkeypatch.setattr(ManagedCertificates, "names", lambda self: [label])
        posted = len(slack_payloads())
        result = watch_entry.watch({"dry_run": True}, None)
    assert result["checked"] == 1 and result["findings"] == [] and result["renewals"] == []
    assert len(slack_payloads()) == posted
    assert dt.datetime.fromisoformat(meta["not_after"].replace("Z", "+00:00")) > dt.datetime.now(
        dt.UTC)
    assert os.environ["RENEWAL_QUEUE_URL"] == queue
    assert client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"] == "0"
