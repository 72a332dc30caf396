"""Invoking wildcert's issuer Lambda handler (functions/issuer/app.py) through its public
entry point, as Lambda does.

In-process invocations behave like a warm Lambda container (imports done, boto3 clients and
the zone list cached); `invoke_cold` runs bench/invoke_once.py in a fresh process, like the
first invocation of a new container. What a run sends is counted where it arrives, at the
local stack's servers (bench/observe.py), never inside wildcert.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench import process

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "wildcert"
FUNCTION = ROOT / "functions" / "issuer"
ZONE = "example.com"
QUIET_LOGS = {"POWERTOOLS_LOG_LEVEL": "WARNING"}


def unique_label(prefix: str) -> str:
    """A fresh DNS label, so no run meets another's certificate, records or authorizations."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def request_event(label: str) -> dict[str, Any]:
    """A wildcard + apex request, like events/issue-wildcard.json, under a fresh label."""
    return {
        "domains": [f"*.{label}.{ZONE}", f"{label}.{ZONE}"],
        "name": label,
        "key_type": "ec256",
        "force": False,
    }


def lambda_context(name: str = "wildcert-issuer-bench", seconds: float = 900) -> SimpleNamespace:
    """What Lambda passes the handler, as far as wildcert reads it."""
    end = time.monotonic() + seconds
    return SimpleNamespace(
        function_name=name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        memory_limit_in_mb=512,
        aws_request_id=str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{name}",
        log_stream_name="bench",
        get_remaining_time_in_millis=lambda: int((end - time.monotonic()) * 1000),
    )


def import_handler(tree: Path = ROOT, function: str = "issuer") -> Any:
    """functions/<function>/app.py of `tree` with its layer's package on sys.path, as Lambda
    lays it out (one function per process: each names its module `app`)."""
    for path in (str(tree / "functions" / function), str(tree / "layers" / "wildcert")):
        if path not in sys.path:
            sys.path.insert(0, path)
    import app

    return app


def invoke(app: Any, label: str) -> tuple[float, dict[str, Any]]:
    """Seconds the handler took for one fresh wildcard + apex request, and its answer."""
    started = time.perf_counter()
    result = app.handler(request_event(label), lambda_context())
    elapsed = time.perf_counter() - started
    if result.get("status") != "issued":
        raise RuntimeError(f"wildcert did not issue {label}: {json.dumps(result)[:2000]}")
    return elapsed, result


@dataclass(frozen=True)
class ColdRun:
    wall: float  # process spawn to exit, as the parent saw it
    to_return: float  # process spawn to the handler's return: a Lambda cold start's share
    import_seconds: float
    handler_seconds: float
    peak_rss_mib: float  # the whole process's
    cpu_seconds: float  # the whole process's, teardown included
    peak_rss_mib_at_return: float  # the process's at the first handler call's return
    cpu_seconds_at_return: float
    warm: tuple[float, ...]  # the same process's later invocations


def invoke_cold(stack_env: dict[str, str], label: str, out: Path, *, tree: Path = ROOT,
                process_env: dict[str, str] | None = None, warm: int = 0) -> ColdRun:
    """One invocation in a fresh Python process (a new container's first request) of the
    issuer in `tree` (this checkout unless the bench built another), with `process_env` added
    to its environment; then `warm` more in the same process."""
    env = {**os.environ, **stack_env, **QUIET_LOGS, **(process_env or {})}
    script = Path(__file__).with_name("invoke_once.py")
    command = [sys.executable, str(script), label, str(out), str(tree), str(warm)]
    done = process.run(command, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"cold wildcert run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    answer = json.loads(out.read_text())
    return ColdRun(done.wall, answer["returned_epoch"] - done.spawned_epoch,
                   answer["import_seconds"], answer["handler_seconds"], done.peak_rss_mib,
                   done.cpu_seconds, answer["at_return"]["peak_rss_mib"],
                   answer["at_return"]["cpu_seconds"], tuple(answer["warm_seconds"]))
