"""One error base: every error wildcert raises is a `WildcertError`, the jobs catch that base
and never classify a library's errors themselves (the adapters translate them)."""

from __future__ import annotations

import ast
import datetime as dt
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import wildcert
from wildcert.adapters import aws
from wildcert.adapters.bucket.leases import Busy
from wildcert.adapters.bucket.objects import StorageError
from wildcert.errors import WildcertError
from wildcert.jobs.issue.outcome import StageFailure, stage

PACKAGE = Path(wildcert.__file__).parent
# Raised while the runtime loads, before any job runs: it fails the container's INIT by name.
OUTSIDE_THE_BASE = {"wildcert.layer_build.LayerMismatch"}


def wildcert_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages([str(PACKAGE)], "wildcert.")]


def test_every_exception_wildcert_defines_derives_from_the_one_base() -> None:
    defined = []
    for name in wildcert_modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ == name and issubclass(value, BaseException):
                defined.append(value)
    assert len(defined) > 20  # the walk found the package's errors
    outside = {f"{c.__module__}.{c.__qualname__}" for c in defined
               if not issubclass(c, WildcertError)}
    assert outside == OUTSIDE_THE_BASE


def test_no_job_imports_botocore() -> None:
    """Classifying AWS errors is the adapters' work; a job sees a WildcertError."""
    importing = []
    for path in sorted((PACKAGE / "jobs").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "botocore" or n.startswith(("botocore.", "boto3")) for n in names):
                importing.append(str(path.relative_to(PACKAGE)))
    assert importing == []


def test_a_stage_names_any_wildcert_error_and_passes_a_busy_name_on() -> None:
    with pytest.raises(StageFailure) as failed, stage("storage"):
        raise StorageError("writing s3://b/k failed: AccessDenied")
    assert failed.value.stage == "storage" and "AccessDenied" in failed.value.message
    with pytest.raises(Busy), stage("precheck"):
        now = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
        raise Busy("web", "attempt-1", now + dt.timedelta(seconds=30), now)
    with pytest.raises(KeyError), stage("acme"):  # a bug is not a stage's failure
        raise KeyError("x")


@pytest.mark.usefixtures("fresh_container")
def test_a_client_that_cannot_be_made_is_an_aws_error(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no region from outside loopback
    with pytest.raises(aws.AwsError, match="could not make the AWS sqs client: NoRegion"):
        aws.client("sqs")


def test_logic_imports_only_logic_and_the_error_base() -> None:
    """logic/ decides on values: it reaches no adapter, job or library of an outside system."""
    reaching = []
    for path in sorted((PACKAGE / "logic").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
            if module.startswith("wildcert") and not module.startswith(
                    ("wildcert.logic", "wildcert.errors")):
                reaching.append(f"{path.relative_to(PACKAGE)}: {module}")
    assert reaching == []
