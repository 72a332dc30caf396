"""`make demo` on a local stack of its own (the demo uses fixed names, alpha.web among them):
its three steps, the last a certificate whose zone lives in another AWS account. The demo
attaches to the running stack and leaves it running."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack import Stack
from tests.conftest import start_stack
from tests.e2e.support import REPO

OWN_STACK = 3000  # port offset: away from the session's stack and the docs' second one


@pytest.fixture
def demo_stack(tmp_path: Path) -> Iterator[Stack]:
    stack = start_stack(tmp_path / "stack", offset=OWN_STACK)
    try:
        yield stack
    finally:
        stack.stop()


def test_the_demo_shows_a_certificate_whose_zone_lives_in_another_account(
        demo_stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WILDCERT_"))}
    done = subprocess.run(
        [sys.executable, "scripts/demo.py"], cwd=REPO, capture_output=True, text=True,
        timeout=300, check=False, env={**env, "WILDCERT_STACK_DIR": str(demo_stack.directory)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Using the local stack running in {demo_stack.directory}" in done.stdout
    assert "Result: rejected at stage policy" in done.stdout  # beta, for alpha's name
    assert "which lives in account 222222222222" in done.stdout
    assert "Result: issued alpha.apps" in done.stdout
    assert demo_stack.is_ready()  # a stack the demo did not start is left running
