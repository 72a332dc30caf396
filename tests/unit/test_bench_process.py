"""bench/process.py: what the kernel counted for a child, and for what the child waited on."""

from __future__ import annotations

import os
import sys

from bench import process

HOLD = "b = bytearray({mib} << 20); b[::4096] = b'x' * len(b[::4096])"


def test_peak_rss_and_cpu_are_the_childs() -> None:
    done = process.run([sys.executable, "-c", HOLD.format(mib=120) + "; print('held')"],
                       env=os.environ)
    assert done.returncode == 0 and done.stdout.strip() == "held"
    assert 120 < done.peak_rss_mib < 200, done
    assert 0 < done.cpu_seconds < done.wall + 1


def test_a_grandchild_waited_for_counts_with_the_child() -> None:
    """certbot waits for its deploy hook: the hook's peak is reported with certbot's."""
    child = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
             f"{HOLD.format(mib=150)!r}], check=True)")
    done = process.run([sys.executable, "-c", child], env=os.environ)
    assert done.returncode == 0, done.stderr
    assert done.peak_rss_mib > 150, done


def test_a_childs_peak_is_not_the_size_of_the_process_that_asked() -> None:
    """Forked from a large process, a child's rusage starts at that process's size: the
    launcher, started small, is what children are forked from."""
    process.start()
    ballast = bytearray(400 << 20)
    ballast[::4096] = b"x" * len(ballast[::4096])
    done = process.run([sys.executable, "-c", "pass"], env=os.environ)
    assert done.returncode == 0
    assert done.peak_rss_mib < 100, done
    del ballast


def test_a_failure_keeps_its_output() -> None:
    done = process.run([sys.executable, "-c", "import sys; sys.exit('no')"], env=os.environ)
    assert done.returncode == 1 and "no" in done.stderr
