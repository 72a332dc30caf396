"""Shared set-up for the infrastructure tests (template.yaml, the layer build, tool runs)."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every infrastructure test runs a tool on the template or the tree: the `tools` tier,
    which `make test` runs and `make test-fast` leaves out."""
    for item in items:
        if "/infra/" in str(item.path):
            item.add_marker(pytest.mark.tools)
        if item.get_closest_marker("sam_build"):
            # One worker builds once: `--dist loadgroup` (make test) keeps a group together,
            # where plain load balancing ran the module's build on both workers.
            item.add_marker(pytest.mark.xdist_group("sam_build"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sam_build: runs `sam build` on a clean copy of the tree (pip fetches the layer's "
        "wheels; ~10 s with a warm pip cache, ~20 s cold)",
    )
