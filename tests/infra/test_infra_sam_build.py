"""`sam build` on a clean copy of the tree, then a look inside the built layer.

The copy holds what a fresh clone would (tracked files plus new files not ignored by git), so
the build cannot lean on a venv, egg-info or caches lying around. No Docker is needed: the layer
and every function use `BuildMethod: makefile`; the layer's bytecode is compiled by a local
Python 3.13 (pyenv's on these machines), the runtime's version.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .infra_tools import REPO, tool

EM_AARCH64 = 183
SDK = ("boto3", "botocore", "s3transfer")
RUNTIME_TAG = "cpython-313"  # template.yaml's python3.13
THIRD_PARTY = ("acme", "cryptography", "josepy", "dns", "slack_sdk", "aws_lambda_powertools")
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function + all layers
# Logical id -> directory under functions/ (each built by a copy of functions/issuer/Makefile).
FUNCTIONS = {
    "IssuerFunction": "issuer",
    "RenewalSweepFunction": "renewal_sweep",
    "WatchFunction": "watch",
}


def clean_copy(destination: Path) -> Path:
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def elf_machine(path: Path) -> int | None:
    with path.open("rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    endian = "<" if header[5] == 1 else ">"
    return struct.unpack(endian + "H", header[18:20])[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sam = tool("sam")
    tree = clean_copy(tmp_path_factory.mktemp("clone"))
    build_dir = tree / ".aws-sam" / "build"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    started = time.monotonic()
    result = subprocess.run(
        [str(sam), "build", "--build-dir", str(build_dir)],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    print(f"\nsam build: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return build_dir


@pytest.fixture(scope="module")
def tree(built: Path) -> Path:
    """The clean copy that was built (compare with it, not with a tree others may be editing)."""
    return built.parents[1]


@pytest.mark.sam_build
def test_layer_has_the_package_and_its_dependencies(built: Path, tree: Path) -> None:
    python = built / "WildcertLayer" / "python"
    source = tree / "layers" / "wildcert" / "wildcert"
    for module in source.glob("*.py"):
        assert (python / "wildcert" / module.name).is_file(), (
            f"{module.name} missing from the layer"
        )
    for package in THIRD_PARTY:
        assert (python / package / "__init__.py").is_file(), f"{package} missing from the layer"
    assert not (python / "bin").exists()
    teams = python / "wildcert_teams.toml"
    assert teams.is_file(), "the teams' policy is not in the layer (the issuer's TEAMS_FILE)"
    assert teams.read_bytes() == (tree / "layers" / "wildcert" / "teams.toml").read_bytes()
    assert not list(python.rglob("*.cpython-311.pyc")), "bytecode for the build machine's Python"


def _pinned(tree: Path) -> dict[str, str]:
    lines = (tree / "layers" / "wildcert" / "requirements.txt").read_text().splitlines()
    pins = dict(line.split("#")[0].strip().split("==") for line in lines
                if "==" in line.split("#")[0])
    return {name: pins[name] for name in SDK}


@pytest.mark.sam_build
def test_layer_ships_the_pinned_sdk_and_records_what_it_was_built_for(built: Path,
                                                                       tree: Path) -> None:
    """The functions run the boto3/botocore the tests ran, not the runtime's."""
    python = built / "WildcertLayer" / "python"
    pinned = _pinned(tree)
    for name, version in pinned.items():
        assert (python / name / "__init__.py").is_file(), f"{name} missing from the layer"
        assert (python / f"{name}-{version}.dist-info").is_dir(), f"{name} is not {version}"
    record = json.loads((python / "wildcert_layer.json").read_text())
    assert record == {"python": "3.13", "sdk": pinned}


@pytest.mark.sam_build
def test_layer_bytecode_is_for_the_runtimes_python_and_needs_no_source_dates(built: Path) -> None:
    """Every module has its cpython-313 .pyc, hash-based and unchecked: /opt is read-only, so
    Lambda could never write them, and a zip's file times cannot invalidate them."""
    python = built / "WildcertLayer" / "python"
    sources = [p for p in python.rglob("*.py") if p.is_file()]
    missing = [str(p.relative_to(python)) for p in sources
               if not (p.parent / "__pycache__" / f"{p.stem}.{RUNTIME_TAG}.pyc").is_file()]
    assert not missing, f"{len(missing)} modules without {RUNTIME_TAG} bytecode: {missing[:5]}"
    for package in ("botocore", "boto3", "wildcert"):
        compiled = python / package / "__pycache__" / f"__init__.{RUNTIME_TAG}.pyc"
        header = compiled.read_bytes()[:16]
        flags = int.from_bytes(header[4:8], "little")
        assert flags == 0b01, f"{compiled}: not unchecked-hash bytecode (flags {flags:#b})"
    others = {p.name.split(".")[1] for p in python.rglob("*.pyc")} - {RUNTIME_TAG}
    assert not others, f"bytecode for other Pythons: {others}"


@pytest.mark.sam_build
def test_layer_package_imports_from_the_layer_alone(built: Path) -> None:
    """The layer's wildcert imports nothing the layer lacks.

    Only the pure start of the package is imported here (the layer's native code is aarch64
    for 3.13, which this machine cannot load); every other module's imports are read from its
    syntax tree and each top-level package must be in the layer or the standard library.
    """
    python = built / "WildcertLayer" / "python"
    needed: dict[str, str] = {}
    for module in (python / "wildcert").rglob("*.py"):
        tree = ast.parse(module.read_text(), str(module))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module
                     and node.level == 0 else [])
            for name in names:
                needed.setdefault(name.split(".")[0], str(module.relative_to(python)))
    shipped = {p.name.split("-")[0].removesuffix(".py") for p in python.iterdir()}
    missing = {top: where for top, where in needed.items()
               if top not in shipped and top not in sys.stdlib_module_names}
    assert not missing, f"imported but not in the layer: {missing}"
    # -I -S: no site-packages (the dev venv has wildcert installed), no PYTHONPATH; -B: no
    # bytecode for this Python written into the layer.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import wildcert, wildcert.layer_build, "
        "wildcert.logic.teams; print(wildcert.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", probe, str(python)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(python))


@pytest.mark.sam_build
def test_native_code_is_aarch64_for_cpython_313(built: Path) -> None:
    python = built / "WildcertLayer" / "python"
    shared = [p for p in python.rglob("*.so*") if p.is_file()]
    assert shared, "no shared objects at all: cryptography's Rust core is missing"
    wrong = {str(p.relative_to(python)): elf_machine(p) for p in shared}
    wrong = {name: machine for name, machine in wrong.items() if machine != EM_AARCH64}
    assert not wrong, f"not aarch64 ELF (e_machine): {wrong}"
    for extension in python.rglob("*.cpython-*.so"):
        assert "cpython-313-aarch64" in extension.name, extension.name
    wheel = next(python.glob("cryptography-*.dist-info")) / "WHEEL"
    tags = [
        line.split(":", 1)[1].strip()
        for line in wheel.read_text().splitlines()
        if line.startswith("Tag:")
    ]
    assert any(
        tag.startswith("cp3") and "-abi3-manylinux" in tag and tag.endswith("_aarch64")
        for tag in tags
    ), tags


@pytest.mark.sam_build
@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_artifact_is_its_handler_alone(built: Path, tree: Path, function: str) -> None:
    """Each function ships app.py and nothing else: the code lives in the layer."""
    artifact = built / function
    files = sorted(str(p.relative_to(artifact)) for p in artifact.rglob("*") if p.is_file())
    assert files == ["app.py"], files
    source = tree / "functions" / FUNCTIONS[function] / "app.py"
    assert (artifact / "app.py").read_bytes() == source.read_bytes()
    compile((artifact / "app.py").read_text(), str(artifact / "app.py"), "exec")
    assert f"CodeUri: {function}" in (built / "template.yaml").read_text()


@pytest.mark.sam_build
def test_function_artifact_and_layer_size(built: Path) -> None:
    built_template = (built / "template.yaml").read_text()
    assert "ContentUri: WildcertLayer" in built_template
    layer = built / "WildcertLayer"
    size = sum(p.stat().st_size for p in layer.rglob("*") if p.is_file())
    functions = {
        name: sum(p.stat().st_size for p in (built / name).rglob("*") if p.is_file())
        for name in FUNCTIONS
    }
    report = (
        f"layer unzipped: {size} bytes ({size / 2**20:.1f} MiB); functions unzipped: "
        + ", ".join(f"{name} {bytes_} bytes" for name, bytes_ in functions.items())
        + "\n"
    )
    print("\n" + report, end="")
    out = REPO / "build" / "layer-size.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report)
    assert size + max(functions.values()) < LAMBDA_UNZIPPED_LIMIT


def _layer_make(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "-C", str(REPO / "layers" / "wildcert"), "build-WildcertLayer",
         f"ARTIFACTS_DIR={tmp_path}", *overrides],
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_the_layer_build_stops_clearly_without_the_runtimes_python(tmp_path: Path) -> None:
    """No Python 3.13 to compile with: the build says so and what to do, and builds nothing
    (a layer without bytecode would start about twice as slowly, silently)."""
    done = _layer_make(tmp_path, "RUNTIME_PYTHON=", f"PYENV_ROOT={tmp_path / 'no-pyenv'}")
    assert done.returncode != 0
    assert "No Python 3.13 found to compile the layer's bytecode" in done.stderr
    assert "pyenv install 3.13" in done.stderr and "RUNTIME_PYTHON=" in done.stderr
    assert not (tmp_path / "python").exists()


def test_the_layer_build_refuses_a_python_of_another_version(tmp_path: Path) -> None:
    done = _layer_make(tmp_path, f"RUNTIME_PYTHON={sys.executable}")
    found = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert done.returncode != 0
    assert f"is Python {found}, not 3.13" in done.stderr
    assert not (tmp_path / "python").exists()
