"""python -m local_stack serve|start|stop|status|env|outcomes [--dir DIR] [--port-base N]
python -m local_stack invoke FUNCTION [EVENT] [--team T | --operators | --requests | --renewals]
                             [--request JSON] (see local_stack/invoke.py)"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from local_stack import files
from local_stack.ports import DEFAULT_PORT_BASE, HOST, Ports
from local_stack.seed import EVENT_BUS
from local_stack.stack import Stack, StackError

DEFAULT_DIR = os.environ.get("WILDCERT_STACK_DIR") or ".local-stack"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["invoke"]:
        from local_stack import invoke  # imports the handlers: only here

        return invoke.main(argv[1:])
    parser = argparse.ArgumentParser(prog="local-stack", description=__doc__)
    parser.add_argument("command", choices=["serve", "start", "stop", "status", "env", "outcomes"])
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(DEFAULT_DIR),
        help=f"state, logs and env files (default {DEFAULT_DIR})",
    )
    parser.add_argument(
        "--port-base",
        type=int,
        help=f"first port; the others are fixed offsets (default {DEFAULT_PORT_BASE}, or the "
        "running stack's)",
    )
    args = parser.parse_args(argv)
    directory: Path = args.dir.resolve()
    if args.command == "serve":
        from local_stack.serve import configure_logging, serve  # moto is heavy: only here

        configure_logging()
        code = serve(directory, Ports(args.port_base or DEFAULT_PORT_BASE))
        # Everything is stopped and written; tearing down moto's module graph would take
        # seconds more, which every `stop` and test session would wait for.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if args.command == "outcomes":
        from local_stack import invoke

        return invoke.outcomes(directory)
    return {"start": start, "stop": stop, "status": status, "env": env}[args.command](
        directory, args.port_base
    )


def start(directory: Path, port_base: int | None) -> int:
    running = Stack.attach(directory)
    if running is not None and port_base in (None, running.ports.base) and running.is_ready():
        print(f"local stack already running (pid {running.pid})")
        _describe(running)
        return 0
    began = time.monotonic()
    try:
        stack = Stack.start(directory, DEFAULT_PORT_BASE if port_base is None else port_base)
    except StackError as error:
        print(f"local-stack: {error}", file=sys.stderr)
        return 1
    print(f"local stack up in {time.monotonic() - began:.1f} s (pid {stack.pid})")
    _describe(stack)
    return 0


def stop(directory: Path, _port_base: int | None) -> int:
    stack = Stack.attach(directory) or Stack(directory=directory, ports=Ports())
    try:
        stopped = stack.stop()
    except StackError as error:
        print(f"local-stack: {error}", file=sys.stderr)
        return 1
    print("local stack stopped" if stopped else f"no local stack runs in {directory}")
    return 0


def status(directory: Path, _port_base: int | None) -> int:
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


def env(directory: Path, _port_base: int | None) -> int:
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
        ("second CA (EAB, front)", f"https://{HOST}:{ports.second_acme_front}/dir"),
        ("second CA's roots", f"https://{HOST}:{ports.second_pebble_management}/roots/0"),
        ("AWS APIs (fault proxy)", f"http://{HOST}:{ports.aws_faults} -> moto :{ports.moto}"),
        ("authoritative DNS", f"{HOST}:{ports.dns} (UDP+TCP)"),
        ("Slack sink", f"http://{HOST}:{ports.slack} (GET /_stats, POST /_control)"),
        ("HTTPS CA of the stack", f"{files.tls_ca(stack.directory)} (to reach Pebble and the "
                                  "ACME front: ACME_CA_BUNDLE)"),
        ("root of issued certs", f"https://{HOST}:{ports.pebble_management}/roots/0 "
                                 "(verifies what Pebble issues; new each start)"),
        ("Slack messages", str(files.slack_log(stack.directory))),
        ("request bus", f"{EVENT_BUS} (teams' requests: `make invoke FN=issuer REQUESTS=1` "
                        "hands them to the issuer)"),
        ("renewal queue", stack.env.get("RENEWAL_QUEUE_URL", "?") + " (+ -dlq)"),
        ("teams", stack.env.get("TEAMS_FILE", "?")),
        ("env (source it)", str(files.env_sh(stack.directory))),
        ("logs", f"{files.serve_log(stack.directory)}, {files.pebble_log(stack.directory)}, "
                 f"{files.pebble_log(stack.directory, 'pebble-second')}"),
    ]
    for label, where in rows:
        print(f"  {label:<24} {where}")


if __name__ == "__main__":
    sys.exit(main())
