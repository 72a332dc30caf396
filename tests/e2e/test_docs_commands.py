"""The documentation's commands, run as a reader would type them, against a local stack.

Every shell block marked `<!-- doc-test: stack -->` in README.md and docs/*.md (tests/doc_blocks.py)
runs here, in order, from the repository's root, with nothing but the stack's directory given
(`STACK_DIR` for make, `WILDCERT_STACK_DIR` for the scripts, as a reader's own `.local-stack`).
docs/LOCAL.md's blocks are the whole first hour of a new user: every function with the sample
events, then a third team onboarded from its policy to a certificate pulled on a server, with
the sweep and the watch on the way, and the fleet seen at the end (the team's inventory, every
team's, the outcome events); the checks after each step are what the reader would look for in
the printout.

The venv these tests run in is never rebuilt by the make targets they call: they are given
stamps of their own (UV_STAMP, STAMP, TOOLS_STAMP) that say it is ready.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack import Stack
from tests.conftest import start_stack
from tests.doc_blocks import REPO, Block, blocks

LOCAL = REPO / "docs" / "LOCAL.md"
SECOND_STACK = 1000  # port offset: another stack than the session's


def stack_blocks(path: Path) -> list[Block]:
    return [b for b in blocks(path) if b.kind == "stack"]


@pytest.fixture
def ready(tmp_path: Path) -> Path:
    """The venv this test runs in, named ready for make: newer than what it was built from."""
    stamps = tmp_path / "venv-ready"
    stamps.mkdir()
    for name in ("uv", "venv", "tools"):  # uv's first, as make builds them
        (stamps / name).touch()
    return stamps


@pytest.fixture
def doc_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of the test's own: the docs use fixed names (alpha.web, example-com, gamma)."""
    stack = start_stack(tmp_path / "stack", offset=SECOND_STACK)
    try:
        yield stack
    finally:
        stack.stop()


def run_block(block: Block, stack: Stack, ready: Path) -> str:
    """The block as bash runs it from the repository's root; its output."""
    script = block.text
    for command in block.dry_run:  # named in the marker: checked with make -n, not run
        script = "\n".join(line.replace(command, command.replace("make ", "make -n ", 1), 1)
                           if line.split("#")[0].strip() == command else line
                           for line in script.splitlines())
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "WILDCERT_", "ACME_")) and k not in _STACK_SETTINGS}
    env.update(STACK_DIR=str(stack.directory), WILDCERT_STACK_DIR=str(stack.directory),
               UV_STAMP=str(ready / "uv"), STAMP=str(ready / "venv"),
               TOOLS_STAMP=str(ready / "tools"))
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, (
        f"{block.where} failed ({done.returncode}):\n{script}\n--- stdout\n"
        f"{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")
    return done.stdout


# The stack's settings that the autouse fixture put into this process's environment.
_STACK_SETTINGS = {"CERT_BUCKET", "KMS_KEY_ID", "ALLOWED_ZONES", "SLACK_WEBHOOK_SECRET",
                   "TEAMS_FILE", "EVENT_BUS_NAME", "DNS_SERVER_OVERRIDE", "RENEWAL_QUEUE_URL",
                   "WATCH_ALLOW_LOOPBACK"}


def test_the_readme_quick_start_on_a_stack(doc_stack: Stack, ready: Path) -> None:
    (quick_start,) = stack_blocks(REPO / "README.md")
    assert quick_start.dry_run == ("make test",)
    out = run_block(quick_start, doc_stack, ready)
    assert "Result after" in out and "issued alpha.web (team alpha)" in out, out
    assert "rejected at stage policy, rules name-outside-namespace" in out, out
    assert "What to try next" in out and "make invoke FN=issuer RENEWALS=1" in out, out
    assert "make -n test" not in out and "pytest" in out  # the dry run printed its recipe


def test_every_local_stack_command_and_a_third_team_from_the_docs_alone(
        doc_stack: Stack, ready: Path) -> None:
    steps = stack_blocks(LOCAL)
    assert len(steps) == 9, [b.where for b in steps]
    start, samples, incident, policy, request, schedules, pull, outcomes, stop = steps
    directory = doc_stack.directory

    assert "local stack already running" in run_block(start, doc_stack, ready)
    printed = run_block(samples, doc_stack, ready)
    assert "outcome event: wildcert.certificate.issued  team alpha  alpha.web" in printed
    assert "name-outside-namespace" in printed and "stale renewal request" in printed
    printed = run_block(incident, doc_stack, ready)
    assert "outcome event: wildcert.certificate.renewed  team alpha  alpha.web" in printed
    assert "outcome event: wildcert.certificate.renewed  team None  example-com" in printed

    # The third team: its policy, its request through the bus, the schedules, a server's pull.
    assert "teams: alpha, beta, gamma" in run_block(policy, doc_stack, ready)
    printed = run_block(request, doc_stack, ready)
    assert "the request bus's rules: wildcert.team.gamma" in printed, printed
    assert "outcome event: wildcert.certificate.issued  team gamma  gamma.web" in printed
    meta = json.loads(doc_stack.client("s3").get_object(
        Bucket=doc_stack.env["CERT_BUCKET"], Key="gamma.web/cert.json")["Body"].read())
    assert meta["team"] == "gamma"
    assert sorted(meta["domains"]) == ["*.gamma.example.net", "gamma.example.net"]
    printed = run_block(schedules, doc_stack, ready)
    assert "outcome event: wildcert.certificate.renewed  team gamma  gamma.web" in printed
    renewed = json.loads(doc_stack.client("s3").get_object(
        Bucket=doc_stack.env["CERT_BUCKET"], Key="gamma.web/cert.json")["Body"].read())
    assert renewed["serial"] != meta["serial"]
    printed = run_block(pull, doc_stack, ready)
    assert f"to serial {renewed['serial']}" in printed, printed
    assert "DNS:*.gamma.example.net, DNS:gamma.example.net" in printed, printed
    assert ((directory / "servers" / "gamma.web" / "privkey.pem").stat().st_mode & 0o777) == 0o600

    # What came of it: the team's inventory, every team's, and the outcome events.
    printed = run_block(outcomes, doc_stack, ready)
    table, rest = printed.split("\n", 1)[1].split("\n{", 1)
    (row,) = [line.split() for line in table.splitlines() if line.startswith("gamma.web ")]
    assert row[:2] == ["gamma.web", "gamma"] and renewed["serial"] in row, table
    assert "renewed" in row, table  # the last outcome
    everyone = json.JSONDecoder().raw_decode("{" + rest)[0]
    names = {c["name"]: c for c in everyone["certificates"]}
    assert {"gamma.web", "alpha.web", "example-com"} <= set(names), sorted(names)
    assert names["gamma.web"]["team"] == "gamma" and names["alpha.web"]["team"] == "alpha"
    lines = rest.splitlines()
    gamma = [line.split()[1] for line in lines if "team gamma" in line]
    assert gamma == ["wildcert.certificate.issued", "wildcert.certificate.renewed"], lines
    assert any("wildcert.certificate.rejected" in line and "team beta" in line for line in lines)

    run_block(stop, doc_stack, ready)
    assert not doc_stack.is_ready()
