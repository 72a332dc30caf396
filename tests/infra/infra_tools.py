"""Where the infrastructure tests find the repository and the command-line tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def tool(name: str) -> Path:
    """A command-line tool: $WILDCERT_<NAME>, else .venv/bin/<name>, else PATH.

    sam and checkov live in virtualenvs of their own (their pins clash with the project's and
    with each other); `make deps` (tests/infra/tools/install.sh) makes them and links them
    into .venv/bin. A missing tool fails the test: a green run means the checks ran.
    """
    override = os.environ.get(f"WILDCERT_{name.upper().replace('-', '_')}")
    candidates = [Path(override)] if override else []
    candidates.append(REPO / ".venv" / "bin" / name)
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.exists():
            return candidate
    pytest.fail(f"{name} is not installed: run `make deps` (tests/infra/tools/install.sh)")
