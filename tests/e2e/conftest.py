from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from local_stack import Stack


@pytest.fixture(autouse=True)
def _on_the_stack(stack_env):
    """Every end-to-end test runs with the local stack's settings in the environment."""
    return stack_env


@pytest.fixture
def fresh_faults(stack: Stack) -> Iterator[None]:
    """For the fault suite (tests/e2e/test_faults_*.py): no fault rule of another test applies,
    none outlives this one, and the proxies' counts and calls are this test's own."""
    stack.aws_faults.clear(stats=True)
    stack.acme_front.reset()
    try:
        yield
    finally:
        stack.aws_faults.clear()
        # Counts too: later tests read the front's faults_fired as their own.
        stack.acme_front.reset(stats=True)


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.stack)
