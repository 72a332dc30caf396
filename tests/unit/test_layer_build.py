"""A function runs on the layer as it was built: the runtime's Python and the layer's AWS SDK.

The layer ships boto3/botocore/s3transfer pinned to what the tests ran with and bytecode for
one Python; `wildcert_layer.json` records both. A layer deployed on another Python, or a
function that imports another copy of the SDK, fails INIT once, naming both sides, instead of
starting slowly (ignored bytecode) or running an SDK no test ran.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wildcert import layer_build
from wildcert.layer_build import LayerBuild, LayerMismatch

REPO = Path(__file__).resolve().parents[2]
HERE = (sys.version_info.major, sys.version_info.minor)
VERSIONS = {name: importlib.metadata.version(name) for name in layer_build.SDK}


def sdk_layer(directory: Path) -> Path:
    """A layer directory holding the installed SDK (linked) and its distribution metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in layer_build.SDK:
        dist = importlib.metadata.distribution(name)
        package = Path(str(dist.locate_file(name)))
        (info,) = Path(str(dist.locate_file(""))).glob(f"{name}-{dist.version}.dist-info")
        (directory / name).symlink_to(package)
        (directory / info.name).symlink_to(info)
    return directory


def write(directory: Path, python: tuple[int, int], sdk: dict[str, str] | None = None) -> None:
    build = LayerBuild(python, sdk or VERSIONS)
    (directory / layer_build.RECORD_NAME).write_text(build.to_json())


def test_a_checkout_has_no_record_and_nothing_to_check(tmp_path: Path) -> None:
    layer_build.check(tmp_path, python=(2, 7))


def test_another_python_than_the_layers_is_refused_naming_both(tmp_path: Path) -> None:
    write(tmp_path, (3, 13))
    with pytest.raises(LayerMismatch) as refused:
        layer_build.check(tmp_path, python=(3, 12))
    message = str(refused.value)
    assert "built for Python 3.13" in message and "runs Python 3.12" in message
    assert "Runtime to python3.13 in template.yaml" in message


def test_an_sdk_from_outside_the_layer_is_refused_naming_both(tmp_path: Path) -> None:
    write(tmp_path, HERE, {**VERSIONS, "boto3": "1.43.999"})
    with pytest.raises(LayerMismatch) as refused:
        layer_build.check(tmp_path, python=HERE)
    message = str(refused.value)
    assert "ships boto3 1.43.999" in message
    assert f"imports boto3 {VERSIONS['boto3']} from " in message
    assert str(tmp_path) in message  # where the layer's copy should have come from


def test_the_record_names_the_python_and_the_sdk_the_layer_holds(tmp_path: Path) -> None:
    layer = sdk_layer(tmp_path / "python")
    build = layer_build.record(layer, "3.13")
    assert build == LayerBuild((3, 13), VERSIONS)
    assert LayerBuild.from_json((layer / layer_build.RECORD_NAME).read_text(), layer) == build


def test_a_layer_without_the_sdk_cannot_be_recorded(tmp_path: Path) -> None:
    with pytest.raises(LayerMismatch, match="lacks boto3, botocore, s3transfer"):
        layer_build.record(tmp_path, "3.13")


def _init(layer: Path) -> subprocess.CompletedProcess[str]:
    """A function's INIT: import wildcert.runtime from `layer`, first on sys.path as in Lambda."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    code = f"import sys; sys.path.insert(0, {str(layer)!r}); import wildcert.runtime"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env, check=False)


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    """A layer directory as the Makefile lays it out: the package, the SDK, the record."""
    python = sdk_layer(tmp_path / "python")
    shutil.copytree(REPO / "layers" / "wildcert" / "wildcert", python / "wildcert",
                    ignore=shutil.ignore_patterns("__pycache__"))
    layer_build.record(python, ".".join(map(str, HERE)))
    return python


def test_init_starts_on_the_python_and_sdk_the_layer_was_built_for(layer: Path) -> None:
    started = _init(layer)
    assert started.returncode == 0, started.stderr[-2000:]


def test_init_fails_once_with_the_clear_message_on_another_python(layer: Path) -> None:
    write(layer, (3, 13) if HERE != (3, 13) else (3, 12))
    refused = _init(layer)
    assert refused.returncode != 0
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("wildcert.layer_build.LayerMismatch: the wildcert layer was built "
                           "for Python 3.1"), refused.stderr[-2000:]
    assert f"runs Python {HERE[0]}.{HERE[1]}" in last
