"""The long-running process behind `local-stack start`: moto, DNS, Slack sink, Pebble and
the ACME front before it."""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import dns.message
import dns.query
import dns.rcode
from moto import backends
from moto.server import ThreadedMotoServer

from local_stack import files, kms_strict, route53_strict
from local_stack.acme_front import FrontServer
from local_stack.aws_faults import AwsFaultServer
from local_stack.dns_server import DnsServer
from local_stack.pebble import Pebble, PebbleRole
from local_stack.ports import EXIT_PORT_IN_USE, HOST, PortInUse, Ports, ensure_free
from local_stack.route53_source import Route53Source
from local_stack.slack_sink import SinkState, SlackSink

log = logging.getLogger("local_stack")

SERVICE_START_SECONDS = 45.0
MOTO_SERVICES = ("s3", "kms", "route53", "secretsmanager", "ssm", "sqs", "events")


class StartupFailed(RuntimeError):
    """A service did not come up; the message says which and why."""


@dataclass
class Services:
    directory: Path
    ports: Ports
    pebble: Pebble
    second_pebble: Pebble
    moto: ThreadedMotoServer | None = None
    dns: DnsServer | None = None
    sink: SlackSink | None = None
    front: FrontServer | None = None
    second_front: FrontServer | None = None
    aws_faults: AwsFaultServer | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    _stopped: bool = False

    @property
    def moto_url(self) -> str:
        return f"http://{HOST}:{self.ports.moto}"

    def start(self) -> None:
        # Pebble first, while this is the only thread: it is forked with a death signal.
        self.pebble.start(os.environ)
        self.second_pebble.start(os.environ)
        self.moto = _start_moto(self.ports.moto)
        self.aws_faults = AwsFaultServer(HOST, self.ports.aws_faults, self.ports.moto)
        self.aws_faults.start()
        warming = threading.Thread(target=_warm_moto_backends, name="moto-warm", daemon=True)
        warming.start()
        source = Route53Source.for_endpoint(self.moto_url)
        source.hosted_zones()  # moto answers, and the client is warm
        self.dns = DnsServer(HOST, self.ports.dns, source)
        self.dns.start()
        dns_stats = self.dns.stats
        state = SinkState(
            files.slack_log(self.directory), extra_stats=lambda: {"dns": dns_stats.snapshot()}
        )
        state.log_path.write_text("")
        self.sink = SlackSink(HOST, self.ports.slack, state)
        self.sink.start()
        # Pebble wrote its TLS files in start(): the front serves with the same identity.
        self.front = FrontServer(HOST, self.ports.acme_front, self.ports.acme, self.pebble.tls_dir)
        self.front.start()
        self.second_front = FrontServer(HOST, self.ports.second_acme_front,
                                        self.ports.second_acme, self.pebble.tls_dir)
        self.second_front.start()
        _check_dns(self.ports.dns)
        self.pebble.wait_ready(SERVICE_START_SECONDS)
        self.second_pebble.wait_ready(SERVICE_START_SECONDS)
        warming.join(SERVICE_START_SECONDS)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.pebble.stop()
        self.second_pebble.stop()
        # Each server's shutdown waits out its poll interval: do them side by side.
        stoppers = [
            threading.Thread(target=_stop_quietly, args=(service,), daemon=True)
            for service in (self.front, self.second_front, self.aws_faults, self.sink, self.dns,
                            self.moto)
            if service is not None
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(5)


def _stop_quietly(
    service: FrontServer | AwsFaultServer | SlackSink | DnsServer | ThreadedMotoServer,
) -> None:
    try:
        service.stop()
    except Exception:
        log.exception("stopping %s", type(service).__name__)


def _start_moto(port: int) -> ThreadedMotoServer:
    """ThreadedMotoServer.start() waits forever if its bind fails, so bound it."""
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    starter = threading.Thread(target=server.start, name="moto-start", daemon=True)
    starter.start()
    starter.join(10)
    if starter.is_alive():
        raise StartupFailed(f"moto did not start on {HOST}:{port}")
    return server


def _warm_moto_backends() -> None:
    """moto imports a service's backend on its first request; do it while Pebble starts."""
    for service in MOTO_SERVICES:
        backends.get_backend(service)


def _check_dns(port: int) -> None:
    probe = dns.message.make_query(".", "SOA")
    for ask in (dns.query.udp, dns.query.tcp):
        reply = ask(probe, HOST, port=port, timeout=2)
        if reply.rcode() != dns.rcode.REFUSED:
            raise StartupFailed(f"DNS server answered {dns.rcode.to_text(reply.rcode())} for '.'")


def serve(directory: Path, ports: Ports) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    files.ready(directory).unlink(missing_ok=True)
    files.pid(directory).write_text(f"{os.getpid()}\n")
    services = Services(directory, ports, Pebble(directory, PebbleRole.first(ports), ports.dns),
                        Pebble(directory, PebbleRole.second(ports, _second_ca_eab(directory)),
                               ports.dns))
    atexit.register(services.stop)
    _on_signals(services)
    started = time.monotonic()
    try:
        ensure_free(ports)
        route53_strict.install()
        kms_strict.install()
        services.start()
    except PortInUse as error:
        log.error("local stack failed to start: %s", error)
        services.stop()
        _forget(directory)
        return EXIT_PORT_IN_USE
    except Exception as error:
        log.error("local stack failed to start: %s", error)
        services.stop()
        _forget(directory)
        return 1
    files.ready(directory).write_text(f"{os.getpid()}\n")
    log.info(
        "ready in %.2f s (pid %d, port base %d)",
        time.monotonic() - started,
        os.getpid(),
        ports.base,
    )
    while not services.stop_requested.wait(1.0):
        pass
    stopping = time.monotonic()
    services.stop()
    _forget(directory)
    log.info("stopped in %.2f s", time.monotonic() - stopping)
    return 0


def _second_ca_eab(directory: Path) -> dict[str, str]:
    """A fresh EAB key for the second CA, kept where `seed` puts it into Secrets Manager."""
    kid = "wildcert-local"
    hmac_key = secrets.token_urlsafe(48)  # 64 base64url characters, no padding, like Pebble's
    path = files.second_ca_eab(directory)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"kid": kid, "hmac_key": hmac_key}) + "\n")
    return {kid: hmac_key}


def _on_signals(services: Services) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("got %s", signal.Signals(signum).name)
        services.stop_requested.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, handle)


def _forget(directory: Path) -> None:
    files.ready(directory).unlink(missing_ok=True)
    pid_file = files.pid(directory)
    if pid_file.exists() and pid_file.read_text().strip() == str(os.getpid()):
        pid_file.unlink()


def configure_logging() -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # moto's per-request access lines would drown everything else under a benchmark.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
