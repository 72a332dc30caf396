"""Starting, finding and stopping a local stack from the outside (CLI, tests, demo)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rdatatype

from local_stack import files
from local_stack.acme_front import FrontClient
from local_stack.aws_faults import AwsFaults
from local_stack.pebble import https_opener
from local_stack.ports import (
    DEFAULT_PORT_BASE,
    EXIT_PORT_IN_USE,
    HOST,
    PortInUse,
    Ports,
    ensure_free,
)
from local_stack.route53_source import local_client
from local_stack.seed import seed, stack_env, write_env

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


class StackError(RuntimeError):
    """The stack did not start or stop; the message carries the log tail."""


class PortsBusy(StackError):
    """Another process holds one of the ports: try another port base."""


@dataclass
class Stack:
    directory: Path
    ports: Ports
    env: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    # ---- lifecycle -------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        directory: Path | str,
        port_base: int = DEFAULT_PORT_BASE,
        pebble_env: Mapping[str, str] | None = None,
        timeout: float = START_TIMEOUT,
    ) -> Stack:
        """Run `serve` in its own process group, wait for it, seed moto, write the env files."""
        directory = Path(directory).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        running = cls.attach(directory)
        if running is not None:
            if running.ports.base != port_base:
                raise StackError(
                    f"a stack already runs in {directory} on port base "
                    f"{running.ports.base} (pid {running.pid}); stop it first"
                )
            return running
        for stale in (files.ready, files.env_sh, files.env_json):
            stale(directory).unlink(missing_ok=True)
        stack = cls(directory=directory, ports=Ports(port_base))
        try:
            ensure_free(stack.ports)  # serve checks again; this just fails faster
        except PortInUse as error:
            raise PortsBusy(str(error)) from error
        stack._spawn(pebble_env or {})
        stack._wait_ready(timeout)
        try:
            stack.env = stack_env(directory, stack.ports, seed(stack.ports, directory))
        except Exception as error:
            stack.stop()
            raise StackError(f"seeding moto failed: {error}") from error
        write_env(directory, stack.env)
        return stack

    @classmethod
    def attach(cls, directory: Path | str) -> Stack | None:
        """The stack running in `directory`, if its serve process is alive."""
        directory = Path(directory).resolve()
        pid = _serve_pid(directory)
        if pid is None:
            return None
        env: dict[str, str] = {}
        if files.env_json(directory).exists():
            env = json.loads(files.env_json(directory).read_text())
        base = int(env.get("WILDCERT_STACK_PORT_BASE") or _cmdline_port_base(pid))
        return cls(directory=directory, ports=Ports(base), env=env, pid=pid)

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """End the serve process group (serve, Pebble); True if something was running."""
        pid = self.pid if self.pid is not None else _serve_pid(self.directory)
        # A process we spawned is ours even as a zombie, whose command line reads empty.
        spawned = self._process is not None and self._process.pid == pid
        if pid is None or not (spawned or _is_our_serve(pid, self.directory)):
            self._reap()
            return False
        _signal_group(pid, signal.SIGTERM)
        if not self._wait_gone(pid, timeout):
            _signal_group(pid, signal.SIGKILL)
            if not self._wait_gone(pid, 5.0):
                raise StackError(f"processes of group {pid} survived SIGKILL")
        for leftover in (files.ready, files.pid):
            leftover(self.directory).unlink(missing_ok=True)
        self.pid = None
        return True

    def _spawn(self, pebble_env: Mapping[str, str]) -> None:
        bad = [key for key in pebble_env if not key.startswith("PEBBLE_")]
        if bad:
            raise StackError(f"pebble_env takes PEBBLE_* variables only, not {bad}")
        env = {**os.environ, **pebble_env}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        command = [
            sys.executable,
            "-m",
            "local_stack",
            "serve",
            "--dir",
            str(self.directory),
            "--port-base",
            str(self.ports.base),
        ]
        with files.serve_log(self.directory).open("ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO_ROOT,
                start_new_session=True,  # its own process group: stop ends exactly these
            )
        self.pid = self._process.pid

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if files.ready(self.directory).exists():
                return
            if self._process.poll() is not None:
                self.stop()
                failure = PortsBusy if self._process.returncode == EXIT_PORT_IN_USE else StackError
                raise failure(
                    f"the local stack exited ({self._process.returncode}) before it was ready; "
                    f"{files.serve_log(self.directory)} ends with:\n"
                    f"{files.tail(files.serve_log(self.directory))}"
                )
            time.sleep(0.05)
        self.stop()
        raise StackError(
            f"the local stack was not ready after {timeout:.0f} s; "
            f"{files.serve_log(self.directory)} ends with:\n"
            f"{files.tail(files.serve_log(self.directory))}"
        )

    def _wait_gone(self, pgid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._reap()
            if not _group_alive(pgid):
                return True
            time.sleep(0.05)
        return False

    def _reap(self) -> None:
        if self._process is not None:
            self._process.poll()

    # ---- helpers for tests and the demo ------------------------------------------------

    def is_ready(self) -> bool:
        pid = _serve_pid(self.directory)
        return pid is not None and files.ready(self.directory).exists()

    def client(self, service: str) -> Any:
        """A boto3 client for moto, made once per service (clients are thread-safe)."""
        if service not in self._clients:
            self._clients[service] = local_client(service, f"http://{HOST}:{self.ports.moto}")
        return self._clients[service]

    def zone_id(self, zone_name: str) -> str:
        key = "WILDCERT_ZONE_" + zone_name.rstrip(".").upper().replace(".", "_")
        return self.env[key]

    def slack_messages(self) -> list[dict[str, Any]]:
        """Every payload the sink accepted, oldest first: {"path": ..., "payload": ...}."""
        log = files.slack_log(self.directory)
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    def set_slack_status(self, status: int, retry_after: int | None = None) -> None:
        """Make later webhook posts answer `status` (200 restores normal service)."""
        body: dict[str, Any] = {"status": status}
        if retry_after is not None:
            body["retry_after"] = retry_after
        self._sink_request("/_control", json.dumps(body).encode())

    def stats(self) -> dict[str, Any]:
        """{"slack": {...}, "dns": {"total": n, "by_qtype": {...}, ...}}"""
        return dict(json.loads(self._sink_request("/_stats")))

    def dns_query(
        self,
        name: str,
        rdtype: str | dns.rdatatype.RdataType = "TXT",
        tcp: bool = False,
        payload: int | None = None,
    ) -> dns.message.Message:
        """Ask the stack's DNS server; `payload` adds EDNS with that UDP size."""
        query = dns.message.make_query(
            name, rdtype, use_edns=payload is not None, payload=payload or 512
        )
        query.flags &= ~dns.flags.RD  # an authoritative server is asked without recursion
        ask = dns.query.tcp if tcp else dns.query.udp
        return ask(query, HOST, port=self.ports.dns, timeout=3)

    @property
    def acme_front(self) -> FrontClient:
        """The ACME front's control API: ARI windows, recorded orders, faults, counts."""
        return FrontClient(HOST, self.ports.acme_front, files.tls_ca(self.directory))

    @property
    def second_acme_front(self) -> FrontClient:
        """The second CA's front (External Account Binding required, authorizations reused)."""
        return FrontClient(HOST, self.ports.second_acme_front, files.tls_ca(self.directory))

    @property
    def aws_faults(self) -> AwsFaults:
        """The AWS fault proxy's control API: fault rules on AWS calls, and their counts."""
        return AwsFaults(HOST, self.ports.aws_faults)

    def pebble_root_pem(self, *, second: bool = False) -> str:
        """A Pebble's current root certificate (each makes a new one each run)."""
        context = ssl.create_default_context(cafile=str(files.tls_ca(self.directory)))
        port = self.ports.second_pebble_management if second else self.ports.pebble_management
        url = f"https://{HOST}:{port}/roots/0"
        with https_opener(context).open(url, timeout=5) as response:
            return str(response.read().decode())

    def _sink_request(self, path: str, body: bytes | None = None) -> bytes:
        request = urllib.request.Request(
            f"http://{HOST}:{self.ports.slack}{path}",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=5) as response:
            return bytes(response.read())


def _serve_pid(directory: Path) -> int | None:
    try:
        pid = int(files.pid(directory).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_our_serve(pid, directory) else None


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_our_serve(pid: int, directory: Path) -> bool:
    """Guards against a stale pid file naming a process that is not ours."""
    args = _cmdline(pid)
    if "local_stack" not in args or "serve" not in args or "--dir" not in args:
        return False
    return Path(args[args.index("--dir") + 1]).resolve() == directory.resolve()


def _cmdline_port_base(pid: int) -> int:
    args = _cmdline(pid)
    if "--port-base" in args:
        return int(args[args.index("--port-base") + 1])
    return DEFAULT_PORT_BASE


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return _group_has_live_member(pgid)


def _group_has_live_member(pgid: int) -> bool:
    """killpg(0) also counts zombies; a group of zombies only waits for reaping by init."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
