"""tests/infra/tools/install.sh: each tool in a venv of its own from its pin file, with uv when
there is one and pip when there is none, linked into the project venv, and nothing installed
again while the pins are the same.

uv and python3 are faked: scripts that record what they were asked and make the venv's files a
real install would (the tool's command, which prints its version).

And the Makefile's order of installs, from make's own database: the tools and the IAM simulator
wait for nothing but uv, so `make deps` and `make test` (`make -j`) install them beside the
project venv."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "infra" / "tools" / "install.sh"
PINS = SCRIPT.parent
TOOLS = ("sam", "checkov", "aws")

# What a venv holds after its tool's install: bin/<tool>, named by the pin file given.
_INSTALLED = """for word in "$@"; do
  case "$word" in */sam.txt|*/checkov.txt|*/aws.txt) pins="$word" ;; esac
done
tool="$(basename "$pins" .txt)"
printf '#!/bin/sh\\necho "%s 1.0"\\n' "$tool" > "$dir/bin/$tool"
chmod +x "$dir/bin/$tool"
"""

FAKE_UV = f"""#!/bin/bash
echo "uv $*" >> "$CALLS"
if [ "$1" = venv ]; then mkdir -p "${{@: -1}}/bin"; exit 0; fi
prev=""
for word in "$@"; do
  [ "$prev" = --python ] && dir="$(dirname "$(dirname "$word")")"
  prev="$word"
done
{_INSTALLED}"""

# python3 -m venv DIR (a bin/python that is this fake again), DIR/bin/python -m pip install -r P
FAKE_PYTHON = f"""#!/bin/bash
echo "python $0 $*" >> "$CALLS"
if [ "$2" = venv ]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; exit 0; fi
dir="$(dirname "$(dirname "$0")")"
{_INSTALLED}"""


def fakes(tmp_path: Path, *, uv: bool) -> tuple[Path, dict[str, str]]:
    venv, bin_dir = tmp_path / "venv", tmp_path / "fakes"
    bin_dir.mkdir()
    python = bin_dir / "python3"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "VENV": str(venv), "PYTHON": str(python),
           "CALLS": str(tmp_path / "calls")}
    if uv:
        fake_uv = bin_dir / "uv"
        fake_uv.write_text(FAKE_UV)
        fake_uv.chmod(0o755)
        env["UV"] = str(fake_uv)
    return venv, env


def install(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    calls = Path(env["CALLS"])
    calls.unlink(missing_ok=True)
    done = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_with_uv_each_tool_gets_a_venv_of_its_own_from_its_pins(tmp_path: Path) -> None:
    venv, env = fakes(tmp_path, uv=True)
    done, calls = install(env)
    for tool in TOOLS:
        dir_ = venv / "tools" / tool
        assert f"uv venv --quiet --python {env['PYTHON']} {dir_}" in calls
        assert (f"uv pip install --quiet --python {dir_}/bin/python -r {PINS / tool}.txt"
                in calls)
        assert (venv / "bin" / tool).resolve() == dir_ / "bin" / tool
        assert (dir_ / ".pins").read_text() == (PINS / f"{tool}.txt").read_text()
        assert f"{tool} 1.0" in done.stdout
    assert not [c for c in calls if c.startswith("python")]  # no pip where uv is


def test_without_uv_pip_installs_the_same_pins(tmp_path: Path) -> None:
    venv, env = fakes(tmp_path, uv=False)
    _, calls = install(env)
    for tool in TOOLS:
        dir_ = venv / "tools" / tool
        assert f"python {env['PYTHON']} -m venv {dir_}" in calls
        assert any(c.startswith(f"python {dir_}/bin/python -m pip install") and
                   c.endswith(f"-r {PINS / tool}.txt") for c in calls), calls
        assert (venv / "bin" / tool).resolve() == dir_ / "bin" / tool


def test_a_second_run_installs_nothing_and_a_changed_pin_file_reinstalls(tmp_path: Path) -> None:
    venv, env = fakes(tmp_path, uv=True)
    install(env)
    done, calls = install(env)
    assert calls == [] and "installing" not in done.stdout
    (venv / "tools" / "aws" / ".pins").write_text("awscli==0.0.1\n")  # the pins moved on
    done, calls = install(env)
    assert done.stdout.count("installing") == 1 and "installing aws" in done.stdout
    assert all(f"{venv}/tools/aws" in c for c in calls), calls


VENV = "/nowhere/venv"  # make only reads its rules here: nothing is built


def make(*args: str) -> subprocess.CompletedProcess[str]:
    """`make ARGS` as from a shell: under `make test` the outer make's MAKELEVEL and MAKEFLAGS
    would reach it, and it would print "Entering directory" lines and take the outer flags."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"}}
    return subprocess.run(["make", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def make_rules() -> dict[str, tuple[set[str], set[str]]]:
    """target: (prerequisites, order-only prerequisites), as make reads the Makefile."""
    read = make("-pn", f"VENV={VENV}", "help")
    assert read.returncode == 0, read.stderr
    database = read.stdout
    rules: dict[str, tuple[set[str], set[str]]] = {}
    for line in database.splitlines():
        target, colon, rest = line.partition(": ")
        if colon and not line.startswith(("#", "\t")) and " " not in target:
            normal, _, order_only = rest.partition("|")
            rules[target] = (set(normal.split()), set(order_only.split()))
    return rules


def test_the_tools_and_the_iam_simulator_wait_only_for_uv() -> None:
    rules = make_rules()
    project, uv = f"{VENV}/.installed", f"{VENV}/bin/uv"
    tools_after, tools_order = rules[f"{VENV}/tools/.installed"]
    assert project not in tools_after | tools_order and tools_order == {uv}
    npm_after, npm_order = rules["tests/infra/iam/node_modules/.installed"]
    assert not any(VENV in p for p in npm_after | npm_order)
    assert rules[project][1] == {uv}
    for goal in ("deps", "test"):
        plan = make("-n", f"VENV={VENV}", goal).stdout
        assert " -j " in plan.splitlines()[0], plan  # the installs side by side
