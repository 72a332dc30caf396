"""scripts/system-deps on a fresh Debian machine: what is missing is installed with apt-get (with
sudo unless root), what is there is left alone, a Python that is too old is refused.

The machine is faked on PATH: apt-get, sudo and id that record what they were asked, a python3
that lacks what the test says, a pebble or none."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "system-deps"


def machine(tmp_path: Path, *, uid: int = 0, venv: bool = True, pip: bool = True,
            pebble: bool = True, too_old: bool = False) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    tools = {
        "apt-get": f'echo "apt-get $*" >> {log}',
        "sudo": f'echo "sudo $*" >> {log}; exec "$@"',
        "id": f"echo {uid}",
        "python3": f"""case "$*" in
  *"import sys"*) exit {1 if too_old else 0} ;;
  *ensurepip*) exit {0 if venv else 1} ;;
  "-m pip --version") exit {0 if pip else 1} ;;
  "--version") echo "Python 3.9.2" ;;
esac""",
    }
    if pebble:
        tools["pebble"] = "exit 0"
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def run(tmp_path: Path, bin_dir: Path, *parts: str) -> tuple[subprocess.CompletedProcess[str],
                                                              list[str]]:
    # Only the fakes and what the script runs besides them (a real pebble may be installed).
    base = tmp_path / "base"
    base.mkdir()
    for tool in ("bash", "env"):
        (base / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    env = {"PATH": f"{bin_dir}:{base}", "PYTHON": str(bin_dir / "python3")}
    done = subprocess.run([str(SCRIPT), *parts], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    log = tmp_path / "calls"
    return done, log.read_text().splitlines() if log.exists() else []


def test_a_fresh_debian_gets_venv_pip_and_pebble(tmp_path: Path) -> None:
    bin_dir = machine(tmp_path, venv=False, pip=False, pebble=False)
    done, calls = run(tmp_path, bin_dir, "python", "pebble")
    assert done.returncode == 0, done.stderr
    assert "installing Debian packages: python3-venv python3-pip pebble" in done.stdout
    assert calls == ["apt-get update -qq",
                     "apt-get install -y -qq python3-venv python3-pip pebble"]


def test_not_root_goes_through_sudo_and_only_what_is_missing(tmp_path: Path) -> None:
    bin_dir = machine(tmp_path, uid=1000, venv=False)
    done, calls = run(tmp_path, bin_dir, "python", "pebble")
    assert done.returncode == 0, done.stderr
    assert calls == ["sudo apt-get update -qq", "apt-get update -qq",
                     "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv",
                     "apt-get install -y -qq python3-venv"]


def test_nothing_missing_nothing_installed(tmp_path: Path) -> None:
    done, calls = run(tmp_path, machine(tmp_path), "python", "pebble")
    assert (done.returncode, done.stdout, calls) == (0, "", [])


def test_the_python_part_alone_leaves_pebble_out(tmp_path: Path) -> None:
    done, calls = run(tmp_path, machine(tmp_path, pebble=False, pip=False), "python")
    assert done.returncode == 0, done.stderr
    assert calls[-1] == "apt-get install -y -qq python3-pip"


def test_a_python_too_old_is_refused_saying_so(tmp_path: Path) -> None:
    done, calls = run(tmp_path, machine(tmp_path, too_old=True), "python")
    assert done.returncode == 1 and calls == []
    assert "Python 3.9.2 is too old: wildcert needs Python 3.11 or newer" in done.stderr
