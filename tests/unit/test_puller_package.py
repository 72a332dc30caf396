"""The puller is a package of its own: it imports nothing of the issuer's, declares only boto3
and cryptography, keeps to Python 3.9, and is installed by one documented command."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PULLER = ROOT / "puller"
MODULES = sorted((PULLER / "wildcert_pull").glob("*.py"))
THIRD_PARTY = {"boto3", "botocore", "cryptography"}
INSTALL = "python3 -m venv /opt/wildcert-pull && /opt/wildcert-pull/bin/pip install ./puller"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_package_has_modules() -> None:
    assert {p.name for p in MODULES} >= {"cli.py", "formats.py", "bucket.py", "checks.py",
                                         "local.py", "run.py"}


def test_imports_only_the_standard_library_boto3_and_cryptography() -> None:
    allowed = set(sys.stdlib_module_names) | THIRD_PARTY | {"wildcert_pull"}
    for module in MODULES:
        foreign = imported_roots(module) - allowed
        assert not foreign, f"{module.name} imports {sorted(foreign)}"
        assert "wildcert" not in imported_roots(module), module.name


def test_the_distribution_declares_the_script_and_two_dependencies() -> None:
    project = tomllib.loads((PULLER / "pyproject.toml").read_text())["project"]
    assert project["name"] == "wildcert-pull"
    assert project["scripts"] == {"wildcert-pull": "wildcert_pull.cli:main"}
    names = {re.split(r"[<>=!~\[ ]", d)[0] for d in project["dependencies"]}
    assert names == {"boto3", "cryptography"}
    assert project["requires-python"] == ">=3.9"


def test_the_issuer_no_longer_ships_or_declares_it() -> None:
    assert not (ROOT / "layers" / "wildcert" / "wildcert" / "pull.py").exists()
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "wildcert-pull" not in root.get("scripts", {})


def test_the_syntax_is_python_3_9() -> None:
    for module in MODULES:
        ast.parse(module.read_text(), str(module), feature_version=(3, 9))


@pytest.mark.tools  # mypy over the package: seconds, and an outside tool
def test_it_type_checks_for_python_3_9(tmp_path: Path) -> None:
    """mypy with puller/pyproject.toml (strict, python_version 3.9): e.g. datetime.UTC (3.11)
    or `X | Y` outside annotations would fail here."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml",
         "--cache-dir", str(tmp_path)],
        cwd=PULLER, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_and_docs_give_the_same_install_command() -> None:
    for doc in (ROOT / "README.md", ROOT / "docs" / "PULL.md", PULLER / "README.md"):
        assert INSTALL in doc.read_text(), doc
