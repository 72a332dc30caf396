"""The issuer issues with the oldest AWS SDK it declares (wildcert.sdk_floor), end to end.

The functions use the Lambda runtime's boto3/botocore, so the floor is a promise about every
runtime update and Region that is at least that new. `make oldest-sdk` builds .venv/oldest-sdk
(botocore and boto3 at the floor plus the layer's requirements); the main issuance case of
test_issue.py runs there against this session's local stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from wildcert.sdk_floor import FLOOR_TEXT

REPO = Path(__file__).resolve().parents[2]
OLDEST_SDK = REPO / ".venv" / "oldest-sdk"

PROBE = """
import json
import boto3, botocore
from tests.e2e.test_issue import test_wildcard_and_apex
test_wildcard_and_apex(None)
print(json.dumps({"boto3": boto3.__version__, "botocore": botocore.__version__,
                  "botocore_file": botocore.__file__}))
"""


def test_wildcard_and_apex_with_the_oldest_supported_sdk() -> None:
    python = OLDEST_SDK / "bin" / "python"
    if not (OLDEST_SDK / ".installed").exists():
        pytest.fail(f"{OLDEST_SDK} is missing: run `make oldest-sdk`")
    env = {
        **os.environ,  # the local stack's settings (stack_env)
        # pytest's pythonpath (".", "functions"): the test invokes functions/issuer/app.py
        "PYTHONPATH": os.pathsep.join(
            [str(REPO / "layers" / "wildcert"), str(REPO), str(REPO / "functions")]),
    }
    started = time.monotonic()
    result = subprocess.run(
        [str(python), "-c", PROBE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    print(f"issuance with botocore {FLOOR_TEXT}: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stderr[-4000:]
    used = json.loads(result.stdout.strip().splitlines()[-1])
    assert used["botocore"] == FLOOR_TEXT and used["boto3"] == FLOOR_TEXT, used
    assert Path(used["botocore_file"]).is_relative_to(OLDEST_SDK), used
