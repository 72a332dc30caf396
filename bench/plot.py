"""bench/time-vs-n.png: time and memory against N certificates (matplotlib, Agg backend)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

REQUIREMENTS = Path(__file__).with_name("requirements-plot.txt")


def ensure_matplotlib() -> None:
    """Install the pinned matplotlib into this interpreter's environment if it is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
                       check=True, capture_output=True)


def _by_n(runs: list[dict[str, Any]], key: str) -> dict[int, list[float]]:
    grouped: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        grouped[int(run["n"])].append(float(run[key]))
    return dict(sorted(grouped.items()))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def draw(runs: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    walls = _by_n(runs, "wall")
    ns = list(walls)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    medians = [_median(walls[n]) for n in ns]
    low = [m - min(walls[n]) for n, m in zip(ns, medians, strict=True)]
    high = [max(walls[n]) - m for n, m in zip(ns, medians, strict=True)]
    left.errorbar(ns, medians, yerr=[low, high], marker="o", capsize=4, label="wall time")
    if ns:
        per_cert = medians[0] / ns[0]
        left.plot(ns, [per_cert * n for n in ns], "--", color="grey",
                  label=f"linear from N={ns[0]}")
    for n, m in zip(ns, medians, strict=True):
        left.annotate(f"{n / m * 60:.0f}/min", (n, m), textcoords="offset points",
                      xytext=(6, -12), fontsize=8)
    left.set(xlabel="certificates (N)", ylabel="seconds", title="Time to issue N (median, min-max)")
    left.legend()
    peaks = _by_n(runs, "rss_peak_mib")
    bases = _by_n(runs, "rss_baseline_mib")
    right.plot(ns, [_median(peaks[n]) for n in ns], marker="o", label="peak RSS")
    right.plot(ns, [_median(bases[n]) for n in ns], marker="s", label="RSS after warm-up call")
    right.set(xlabel="certificates (N)", ylabel="MiB", title="Memory of the issuing process")
    right.set_ylim(0, max(max(v) for v in peaks.values()) * 1.2)
    right.legend()
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
