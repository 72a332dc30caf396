"""`scripts/local-stack` starts a stack, reports it, and stops it leaving nothing behind."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from local_stack import Stack, free_port_base

pytestmark = pytest.mark.stack

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "local-stack"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={**os.environ, **env},
    )


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":  # zombies wait only for init
                members.append(int(entry.name))
    return members


def _serve_processes(directory: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:
            continue
        if b"local_stack" in args and str(directory).encode() in args:
            found.append(int(entry.name))
    return found


def test_start_status_stop_leaves_no_process(stack: Stack, tmp_path: Path) -> None:
    base = free_port_base(stack.ports.base + 1000)
    directory = tmp_path / "demo"
    started = _run(
        "start", "--dir", str(directory), "--port-base", str(base), PEBBLE_WFE_NONCEREJECT="0"
    )
    assert started.returncode == 0, started.stderr
    assert "reject 0% of good nonces" in (directory / "pebble.log").read_text()
    assert f"https://127.0.0.1:{base}/dir" in started.stdout
    pid = int((directory / "serve.pid").read_text())
    assert len(_group_members(pid)) == 3  # serve and the two Pebbles
    assert (directory / "ready").exists() and (directory / "env").exists()

    status = _run("status", "--dir", str(directory))
    assert status.returncode == 0, status.stdout + status.stderr
    assert "running" in status.stdout
    assert _run("env", "--dir", str(directory)).stdout.startswith("# local stack")

    stopped = _run("stop", "--dir", str(directory))
    assert stopped.returncode == 0, stopped.stderr
    assert _group_members(pid) == []
    assert not (directory / "serve.pid").exists()
    assert _run("status", "--dir", str(directory)).returncode == 3
    for port in (base, base + 1, base + 10, base + 80):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, port


def test_start_fails_clearly_when_a_port_is_taken(stack: Stack, tmp_path: Path) -> None:
    base = free_port_base(stack.ports.base + 2000)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 80))
        squatter.listen()
        failed = _run("start", "--dir", str(tmp_path / "busy"), "--port-base", str(base))
    assert failed.returncode == 1
    assert f"Slack sink port {base + 80}" in failed.stderr
    assert "in use" in failed.stderr
    assert not (tmp_path / "busy" / "serve.pid").exists()
    assert _serve_processes(tmp_path / "busy") == []
