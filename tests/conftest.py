"""Fixtures shared by every test folder: the local stack on loopback.

`stack` (session): a local stack of its own in a temporary directory, on the first free port
base from 24000 (+100 per pytest-xdist worker) in steps of 100, so it never meets the demo's
stack on 14000 nor other test sessions running on the same machine; WILDCERT_TEST_PORT_BASE
pins the base. `stack_env` (function): that stack's settings in os.environ for one test.
Tests using either are marked `@pytest.mark.stack`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from wildcert import container

if TYPE_CHECKING:
    from local_stack import Stack

TEST_PORT_BASE = 24000
WORKER_PORT_STRIDE = 100  # a stack uses base .. base+80


START_ATTEMPTS = 5


def _first_port_base(offset: int = 0) -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... under xdist
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return TEST_PORT_BASE + offset + WORKER_PORT_STRIDE * index


def start_stack(directory: Path, *, pebble_env: dict[str, str] | None = None,
                offset: int = 0) -> Stack:
    """A stack on the first free port base from this worker's (+ `offset`, for a second one).

    Imported here so unit-only runs do not pay for boto3, dnspython and moto's client bits.
    """
    from local_stack import PortsBusy, Stack, free_port_base

    pinned = os.environ.get("WILDCERT_TEST_PORT_BASE", "").strip()
    if pinned:
        return Stack.start(directory, int(pinned) + offset, pebble_env=pebble_env)
    first = _first_port_base(offset)
    for _ in range(START_ATTEMPTS):
        base = free_port_base(first, WORKER_PORT_STRIDE)
        try:
            return Stack.start(directory, base, pebble_env=pebble_env)
        except PortsBusy:
            first = base + WORKER_PORT_STRIDE  # lost a race with another session
    raise RuntimeError(f"no local stack could start after {START_ATTEMPTS} port bases")


def stack_environment(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """`stack`'s settings in os.environ for one test."""
    # Anything that could point boto3 at a real account or endpoint goes for the test.
    for name in list(os.environ):
        if name in ("AWS_PROFILE", "AWS_SESSION_TOKEN") or name.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.delenv(name)
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    return dict(stack.env)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("local-stack"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def stack_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return stack_environment(stack, monkeypatch)


@pytest.fixture
def fresh_container() -> Iterator[container.Container]:
    """The warm container's state as a cold start has it (every cache empty), and empty again
    after the test: nothing made for this test's settings (clients, secrets, zones) outlives
    it."""
    yield container.start_afresh()
    container.start_afresh()
