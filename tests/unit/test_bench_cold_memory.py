"""bench/cold_memory.py still runs: every piece of a cold issuance loads, in order, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_the_breakdown_lists_every_piece_with_a_growing_total() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    env.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing")
    done = subprocess.run([sys.executable, "-m", "bench.cold_memory", "--no-handler", "--json"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout)
    pieces = [row["piece"] for row in rows]
    assert pieces[0] == "python and this script" and "s3 client" in pieces
    assert "handler call (one issuance)" not in pieces
    totals = [row["total_mib"] for row in rows]
    assert totals[-1] > totals[0] > 0
    assert abs(sum(row["rss_mib"] for row in rows) - totals[-1]) < 0.1
