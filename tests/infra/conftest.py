"""Shared set-up for the infrastructure tests (template.yaml, the layer build, tool runs)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sam_build: runs `sam build` on a clean copy of the tree (pip fetches the layer's "
        "wheels; ~10 s with a warm pip cache, ~20 s cold)",
    )
