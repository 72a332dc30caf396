"""`make demo` on the local stack: its three steps, the last a certificate whose zone lives in
another AWS account. Run against the tests' stack (the demo attaches to a running one and
leaves it running)."""

from __future__ import annotations

import os
import subprocess
import sys

from local_stack import Stack
from tests.e2e.support import REPO


def test_the_demo_shows_a_certificate_whose_zone_lives_in_another_account(
        stack: Stack) -> None:
    done = subprocess.run(
        [sys.executable, "scripts/demo.py"], cwd=REPO, capture_output=True, text=True,
        timeout=300, check=False, env={**os.environ, "WILDCERT_STACK_DIR": str(stack.directory)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Using the local stack running in {stack.directory}" in done.stdout
    assert "Result: rejected at stage policy, rules name-outside-namespace" in done.stdout
    assert "which lives in account 222222222222" in done.stdout
    assert "Result: issued alpha.apps" in done.stdout or (
        "Result: skipped alpha.apps" in done.stdout)
    assert stack.is_ready()  # a stack the demo did not start is left running
