"""`make fuzz`: generated requests and events through the issuer's handler on a local stack.

    python -m tests.fuzz [--cases 10000] [--seed N] [--doc docs/FUZZ.md]

Starts a local stack of its own in .local-stack-fuzz (port base 26000 or the next free one),
runs the cases (tests/fuzz/runner.py), prints the report, writes it into the generated part of
docs/FUZZ.md and stops the stack. Each finding's whole event goes to
.local-stack-fuzz/findings.jsonl, every kind of rejection message to messages.txt. Exits 1 if
anything but a known bug (runner.KNOWN_*) was found.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
from pathlib import Path

from local_stack import PortsBusy, Stack, free_port_base

ROOT = Path(__file__).resolve().parents[2]
STACK_DIR = ROOT / ".local-stack-fuzz"
PORT_BASE = 26000
PORT_STRIDE = 100
START_ATTEMPTS = 5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="events through the handler")
    parser.add_argument("--seed", type=int, help="Hypothesis seed (default: random)")
    parser.add_argument("--window", type=int, default=250,
                        help="rejected cases between two comparisons of the stack's state")
    parser.add_argument("--accepted-share", type=float, default=0.004,
                        help="at most this share of the cases may issue a certificate")
    parser.add_argument("--port-base", type=int, default=PORT_BASE)
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "FUZZ.md",
                        help="file whose generated part gets the report ('-': none)")
    return parser.parse_args(argv)


def start_stack(base: int) -> Stack:
    leftover = Stack.attach(STACK_DIR)
    if leftover is not None:  # an interrupted run of ours
        leftover.stop()
    for _ in range(START_ATTEMPTS):
        chosen = free_port_base(base, PORT_STRIDE)
        try:
            return Stack.start(STACK_DIR, chosen)
        except PortsBusy:
            base = chosen + PORT_STRIDE
    raise SystemExit(f"no local stack could start after {START_ATTEMPTS} port bases")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` shows where a long run is
    # wildcert's logger reads its level when first imported: only warnings, for 10,000 cases.
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    stack = start_stack(args.port_base)
    try:
        for name in list(os.environ):
            if name in ("AWS_PROFILE", "AWS_SESSION_TOKEN") or name.startswith(
                    "AWS_ENDPOINT_URL_"):
                del os.environ[name]
        os.environ.update(stack.env)
        from tests.fuzz import report
        from tests.fuzz.runner import Fuzzer

        findings_log = STACK_DIR / "findings.jsonl"
        findings_log.unlink(missing_ok=True)
        info = report.run_info(args.seed, args.cases)
        fuzzer = Fuzzer(stack, accepted_share=args.accepted_share, window=args.window,
                        findings_log=findings_log)
        fuzzer.run(args.cases, args.seed)
        section = report.render(fuzzer, info)
        with (STACK_DIR / "messages.txt").open("w", encoding="utf-8") as messages:
            for kind, count in fuzzer.tally.problems.most_common():
                messages.write(f"{count}\t{kind}\n\t{fuzzer.tally.examples[kind]}\n")
    finally:
        stack.stop()
    print(section)
    if str(args.doc) != "-":
        report.write_section(args.doc, section)
        print(f"\nwritten to {args.doc}")
    return 1 if fuzzer.failures else 0


if __name__ == "__main__":
    sys.exit(main())
