"""One version per package, set in one place, told in CHANGELOG.md, printed by the puller."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import wildcert
import wildcert_pull

ROOT = Path(__file__).resolve().parents[2]


def _project(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def test_each_package_reads_its_version_from_its_code() -> None:
    for pyproject, attr in ((ROOT / "pyproject.toml", "wildcert.__version__"),
                            (ROOT / "puller" / "pyproject.toml", "wildcert_pull.__version__")):
        document = _project(pyproject)
        assert "version" not in document["project"], f"{pyproject}: a second place for it"
        assert document["project"]["dynamic"] == ["version"]
        assert document["tool"]["setuptools"]["dynamic"]["version"] == {"attr": attr}


def test_the_changelog_tells_the_current_versions() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = [line for line in changelog.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Unreleased"
    assert f"## {wildcert.__version__}" in headings
    assert f"## {wildcert_pull.__version__}" in headings


def test_wildcert_pull_prints_its_version() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from wildcert_pull.cli import main; "
         "sys.argv[0] = 'wildcert-pull'; main(['--version'])"],
        capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, f"wildcert-pull {wildcert_pull.__version__}\n")
