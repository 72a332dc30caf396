"""A child process run to its end, with what the kernel counted for it (`wait4`'s rusage).

Peak RSS is the largest resident set of the child or of any descendant it waited for (a
deploy hook, say), never of anything else running; CPU is user + system time of the child
and those descendants.

Children are started by a small launcher process, never by the bench itself: a child's peak
RSS starts at the size of the process it was forked from (Linux records the forked copy's
high-water mark when the child execs), and the bench process, with the issuer, boto3 and
the counters loaded, is larger than either tool's own peak. `start()` early, while the bench
is still small; the launcher it forks is what every child is forked from.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_LAUNCHER = r"""
import json, os, subprocess, sys, tempfile, time

for line in sys.stdin:
    job = json.loads(line)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        spawned, started = time.time(), time.perf_counter()
        child = subprocess.Popen(job["command"], env=job["env"], cwd=job["cwd"], stdout=out,
                                 stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        answer = {
            "returncode": os.waitstatus_to_exitcode(status),
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
            "wall": wall, "spawned_epoch": spawned,
            "peak_rss_mib": usage.ru_maxrss / 1024,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
        }
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
"""


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str
    wall: float  # spawn to exit, as the launcher saw it
    spawned_epoch: float
    peak_rss_mib: float
    cpu_seconds: float


class Launcher:
    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()

    def run(self, command: Sequence[str], env: Mapping[str, str],
            cwd: Path | str | None) -> Finished:
        job = {"command": list(command), "env": dict(env), "cwd": str(cwd) if cwd else None}
        with self._lock:
            stdin, stdout = self._process.stdin, self._process.stdout
            assert stdin is not None and stdout is not None
            stdin.write(json.dumps(job) + "\n")
            stdin.flush()
            answer: dict[str, Any] = json.loads(stdout.readline())
        return Finished(**answer)

    def stop(self) -> None:
        """Let the launcher end (it ends with the bench anyway: its input closes)."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=10)


_STARTED: list[Launcher] = []


def start() -> Launcher:
    """The launcher, started on first use: call it before the bench process grows."""
    if not _STARTED:
        _STARTED.append(Launcher())
    return _STARTED[0]


def stop() -> None:
    if _STARTED:
        _STARTED.pop().stop()


def run(command: Sequence[str], *, env: Mapping[str, str], cwd: Path | str | None = None
        ) -> Finished:
    return start().run(command, env, cwd)
