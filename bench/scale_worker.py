"""Scale run in a process of its own: `scale_worker.py N CONCURRENCY OUT.json`.

Imports the issuer handler, makes one warm-up invocation (a container's first), then issues N
certificates (each its own name and domains) from a thread pool of CONCURRENCY threads calling
the handler, and writes wall time, per-certificate latencies and memory to OUT.json. A fresh
process per N keeps peak RSS (VmHWM) that N's own.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SAMPLE_SECONDS = 0.05


def rss_kib(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """Resident set size over time: the peak and the samples, in MiB."""

    def __init__(self) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.stop_event = threading.Event()
        self.samples: list[tuple[float, float]] = []
        self.started = time.perf_counter()

    def run(self) -> None:
        while not self.stop_event.wait(SAMPLE_SECONDS):
            self.samples.append((time.perf_counter() - self.started, rss_kib() / 1024))

    def stop(self) -> list[tuple[float, float]]:
        self.stop_event.set()
        self.join()
        return self.samples


def issue_one(app: Any, label: str) -> dict[str, Any]:
    from bench import wildcert_runner

    try:
        seconds, _ = wildcert_runner.invoke(app, label)
    except Exception as error:  # a failed certificate is a result, not the end of the run
        return {"label": label, "ok": False, "error": str(error)[:500]}
    return {"label": label, "ok": True, "seconds": seconds}


def main(n: int, concurrency: int, out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench import wildcert_runner

    app = wildcert_runner.import_handler()
    wildcert_runner.invoke(app, wildcert_runner.unique_label("sw"))
    baseline = rss_kib() / 1024
    labels = [wildcert_runner.unique_label("s") for _ in range(n)]
    sampler = RssSampler()
    sampler.start()
    cpu_before = os.times()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda label: issue_one(app, label), labels))
    wall = time.perf_counter() - started
    cpu_after = os.times()
    samples = sampler.stop()
    out.write_text(json.dumps({
        "n": n,
        "concurrency": concurrency,
        "wall": wall,
        "cpu_seconds": (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system),
        "rss_baseline_mib": baseline,
        "rss_peak_mib": rss_kib("VmHWM") / 1024,
        "rss_end_mib": rss_kib() / 1024,
        "rss_samples": samples[:: max(1, len(samples) // 200)],
        "results": results,
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))
