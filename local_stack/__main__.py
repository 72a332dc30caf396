"""python -m local_stack serve|start|stop|status|env [--dir DIR] [--port-base N]"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from local_stack import files
from local_stack.ports import DEFAULT_PORT_BASE, HOST, Ports
from local_stack.stack import Stack, StackError

DEFAULT_DIR = ".local-stack"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local-stack", description=__doc__)
    parser.add_argument("command", choices=["serve", "start", "stop", "status", "env"])
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(DEFAULT_DIR),
        help=f"state, logs and env files (default {DEFAULT_DIR})",
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=DEFAULT_PORT_BASE,
        help=f"first port; the others are fixed offsets (default {DEFAULT_PORT_BASE})",
    )
    args = parser.parse_args(argv)
    directory: Path = args.dir.resolve()
    if args.command == "serve":
        from local_stack.serve import configure_logging, serve  # moto is heavy: only here

        configure_logging()
        code = serve(directory, Ports(args.port_base))
        # Everything is stopped and written; tearing down moto's module graph would take
        # seconds more, which every `stop` and test session would wait for.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return {"start": start, "stop": stop, "status": status, "env": env}[args.command](
        directory, args.port_base
    )


def start(directory: Path, port_base: int) -> int:
    running = Stack.attach(directory)
    if running is not None and running.ports.base == port_base and running.is_ready():
        print(f"local stack already running (pid {running.pid})")
        _describe(running)
        return 0
    began = time.monotonic()
    try:
        stack = Stack.start(directory, port_base)
    except StackError as error:
        print(f"local-stack: {error}", file=sys.stderr)
        return 1
    print(f"local stack up in {time.monotonic() - began:.1f} s (pid {stack.pid})")
    _describe(stack)
    return 0


def stop(directory: Path, _port_base: int) -> int:
    stack = Stack.attach(directory) or Stack(directory=directory, ports=Ports(_port_base))
    try:
        stopped = stack.stop()
    except StackError as error:
        print(f"local-stack: {error}", file=sys.stderr)
        return 1
    print("local stack stopped" if stopped else f"no local stack runs in {directory}")
    return 0


def status(directory: Path, _port_base: int) -> int:
    stack = Stack.attach(directory)
    if stack is None:
        print(f"no local stack runs in {directory}")
        return 3
    if not stack.is_ready():
        print(f"local stack starting (pid {stack.pid}); see {files.serve_log(directory)}")
        return 4
    print(f"local stack running (pid {stack.pid})")
    _describe(stack)
    try:
        dns_stats = stack.stats()["dns"]
        print(f"  DNS queries answered: {dns_stats['total']} {dns_stats['by_qtype']}")
    except OSError as error:
        print(f"  Slack sink not answering: {error}")
        return 1
    return 0


def env(directory: Path, _port_base: int) -> int:
    path = files.env_sh(directory)
    if not path.exists():
        print(f"local-stack: {path} is missing: run `scripts/local-stack start`", file=sys.stderr)
        return 1
    sys.stdout.write(path.read_text())
    return 0


def _describe(stack: Stack) -> None:
    ports = stack.ports
    rows = [
        ("ACME directory (front)", f"https://{HOST}:{ports.acme_front}/dir (ARI, faults)"),
        ("Pebble itself", f"https://{HOST}:{ports.acme}/dir"),
        ("Pebble roots", f"https://{HOST}:{ports.pebble_management}/roots/0"),
        ("second CA (EAB, front)", f"https://{HOST}:{ports.second_acme_front}/dir"),
        ("second CA's roots", f"https://{HOST}:{ports.second_pebble_management}/roots/0"),
        ("AWS APIs (fault proxy)", f"http://{HOST}:{ports.aws_faults} -> moto :{ports.moto}"),
        ("authoritative DNS", f"{HOST}:{ports.dns} (UDP+TCP)"),
        ("Slack sink", f"http://{HOST}:{ports.slack} (GET /_stats, POST /_control)"),
        ("TLS CA to trust", str(files.tls_ca(stack.directory))),
        ("Slack messages", str(files.slack_log(stack.directory))),
        ("env (source it)", str(files.env_sh(stack.directory))),
        ("logs", f"{files.serve_log(stack.directory)}, {files.pebble_log(stack.directory)}, "
                 f"{files.pebble_log(stack.directory, 'pebble-second')}"),
    ]
    for label, where in rows:
        print(f"  {label:<24} {where}")


if __name__ == "__main__":
    sys.exit(main())
