"""The functions refuse to start on a botocore that lacks S3's conditional writes.

The layer leaves boto3/botocore to the Lambda runtime, whose SDK version depends on the
runtime update and the Region. Without the check, botocore 1.35.36 fails every issuance at
`precheck` with `ParamValidationError: Unknown parameter in input: "IfMatch"`; with it, INIT
fails with a message naming both versions and the way out. Only the version string is faked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import botocore
import pytest

REPO = Path(__file__).resolve().parents[2]
TOO_OLD = "1.35.36"  # has PutObject(IfNoneMatch) but not PutObject/DeleteObject(IfMatch)


def floor_module() -> ModuleType:
    from wildcert import sdk_floor

    return sdk_floor


@pytest.mark.parametrize("version", [TOO_OLD, "1.35.68", "1.34.162", "0.99.0", "1.35"])
def test_older_than_the_floor_is_refused_with_both_versions(
    version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk_floor = floor_module()
    monkeypatch.setattr(botocore, "__version__", version)
    with pytest.raises(sdk_floor.SdkTooOld) as refused:
        sdk_floor.require_botocore()
    message = str(refused.value)
    assert f"botocore {version}" in message
    assert "botocore >= 1.35.69" in message
    assert "IfMatch" in message  # why: the operator can look it up
    assert "layers/wildcert/requirements.txt" in message  # what to do
    assert botocore.__file__ in message  # which copy was found (runtime or layer)


@pytest.mark.parametrize(
    "version", ["1.35.69", "1.35.99", "1.36.0", "1.100.0", "2.0.0", "1.40.1.dev3"]
)
def test_floor_and_newer_pass(version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sdk_floor = floor_module()
    monkeypatch.setattr(botocore, "__version__", version)
    sdk_floor.require_botocore()


def test_unreadable_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    sdk_floor = floor_module()
    monkeypatch.setattr(botocore, "__version__", "unknown")
    with pytest.raises(sdk_floor.SdkTooOld, match="botocore unknown"):
        sdk_floor.require_botocore()


def test_the_installed_botocore_passes() -> None:
    floor_module().require_botocore()


def _import_runtime(version: str | None) -> subprocess.CompletedProcess[str]:
    """Import wildcert.runtime (what every function's INIT does) in a fresh interpreter."""
    fake = f"botocore.__version__ = {version!r}; " if version else ""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "wildcert")])}
    return subprocess.run(
        [sys.executable, "-c", f"import botocore; {fake}import wildcert.runtime"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_init_fails_on_a_too_old_botocore_with_the_clear_message() -> None:
    refused = _import_runtime(TOO_OLD)
    assert refused.returncode != 0
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("wildcert.sdk_floor.SdkTooOld: "), refused.stderr[-2000:]
    assert f"botocore {TOO_OLD}" in last and "botocore >= 1.35.69" in last
    started = _import_runtime(None)
    assert started.returncode == 0, started.stderr[-2000:]
