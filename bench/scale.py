"""Scale: N certificates from a thread pool calling the handler, one worker process per N."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.wildcert_runner import QUIET_LOGS, ROOT

WORKER = Path(__file__).with_name("scale_worker.py")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of the live processes in a process group (the local stack's)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ScaleRun:
    n: int
    concurrency: int
    wall: float
    failures: int
    latency_median: float
    latency_p95: float
    worker_cpu: float
    stack_cpu: float
    rss_baseline_mib: float
    rss_peak_mib: float
    rss_end_mib: float
    errors: tuple[str, ...]

    @property
    def per_minute(self) -> float:
        return (self.n - self.failures) / self.wall * 60


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summarize(answer: dict[str, Any], stack_cpu: float) -> ScaleRun:
    results = answer["results"]
    latencies = [r["seconds"] for r in results if r["ok"]]
    errors = tuple(r["error"] for r in results if not r["ok"])
    return ScaleRun(
        n=answer["n"], concurrency=answer["concurrency"], wall=answer["wall"],
        failures=len(errors),
        latency_median=statistics.median(latencies) if latencies else float("nan"),
        latency_p95=_percentile(latencies, 0.95),
        worker_cpu=answer["cpu_seconds"], stack_cpu=stack_cpu,
        rss_baseline_mib=answer["rss_baseline_mib"], rss_peak_mib=answer["rss_peak_mib"],
        rss_end_mib=answer["rss_end_mib"], errors=errors[:5],
    )


def run(n: int, concurrency: int, stack_env: dict[str, str], stack_pgid: int,
        out: Path) -> ScaleRun:
    env = {**os.environ, **stack_env, **QUIET_LOGS}
    command = [sys.executable, str(WORKER), str(n), str(concurrency), str(out)]
    cpu_before = group_cpu_seconds(stack_pgid)
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                          check=False)
    stack_cpu = group_cpu_seconds(stack_pgid) - cpu_before
    if done.returncode != 0:
        raise RuntimeError(f"scale worker N={n} failed ({done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    return summarize(json.loads(out.read_text()), stack_cpu)
