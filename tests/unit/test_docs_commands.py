"""Every shell block of the documentation says how it is tested, and the ones that need a real
AWS account or a server are checked as far as that can be done here: bash's syntax, `make -n`,
each `aws` command against the AWS CLI's model (operation, options, and what works the same
with AWS CLI v1 and v2), each wildcert-pull against its own parser, no bare `sam`.
The `stack` blocks run against a local stack in tests/e2e/test_docs_commands.py."""

from __future__ import annotations

import os
import subprocess
from functools import cache
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from tests.doc_blocks import KINDS, REPO, Block, shell_blocks, simple_commands
from wildcert_pull.cli import parser as pull_parser
from wildcert_pull.inventory import parser as inventory_parser

BLOCKS = shell_blocks()
CHECKED = [b for b in BLOCKS if b.kind in ("aws", "host")]

# Options of every AWS CLI command, in v1 and v2 alike.
GLOBAL = {"--query", "--output", "--region", "--profile", "--endpoint-url", "--no-paginate",
          "--debug", "--no-verify-ssl", "--cli-read-timeout", "--cli-connect-timeout",
          "--color", "--cli-input-json", "--generate-cli-skeleton"}
PAGING = {"--page-size", "--max-items", "--starting-token"}
V2_ONLY = {"--cli-binary-format", "--no-cli-pager", "--cli-auto-prompt", "--no-cli-auto-prompt"}
# CLI names that are not botocore's, and the high-level commands that are not operations.
SERVICES = {"s3api": "s3"}
HIGH_LEVEL = {("s3", "ls"), ("s3", "cp"), ("s3", "sync"), ("s3", "rm"),
              # awscli/customizations/cloudformation/deploy.py, in v1 and v2
              ("cloudformation", "deploy")}
# Positional arguments some commands take (lambda invoke's output file).
POSITIONAL = {("lambda", "invoke"): 1}
# Options the AWS CLI renames from the API's member names (awscli/customizations/argrename.py),
# for the commands the docs use.
RENAMED = {("sns", "subscribe"): {"--notification-endpoint": "--endpoint"}}


def test_every_shell_block_says_how_it_is_tested() -> None:
    unmarked = [b.where for b in BLOCKS if b.kind not in KINDS]
    assert not unmarked, f"shell blocks without <!-- doc-test: stack|aws|host -->: {unmarked}"
    assert {"stack", "aws", "host"} <= {b.kind for b in BLOCKS}


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.where)
def test_every_shell_block_is_valid_bash(block: Block) -> None:
    done = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, f"{block.where}: {done.stderr}"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.where)
def test_no_bare_sam_and_no_sam_outside_make(block: Block) -> None:
    for words in simple_commands(block.text):
        assert not words[0].endswith("sam"), (
            f"{block.where}: `{' '.join(words)}`: sam is only in the venv and deploying has "
            "one path, `make deploy` (SAM_ENV=staging first)")


@pytest.mark.parametrize("block", CHECKED, ids=lambda b: b.where)
def test_commands_that_cannot_run_here_are_well_formed(block: Block) -> None:
    for words in simple_commands(block.text):
        program = os.path.basename(words[0])
        if program == "aws":
            problems = aws_problems(words[1:])
            assert not problems, f"{block.where}: `{' '.join(words)}`: {problems}"
        elif program == "make":
            dry = subprocess.run(["make", "-n", *words[1:]], cwd=REPO, capture_output=True,
                                 text=True, timeout=60, check=False)
            assert dry.returncode == 0, f"{block.where}: `{' '.join(words)}`: {dry.stderr}"
        elif program == "wildcert-pull" and words[1:2] == ["inventory"]:
            inventory_parser().parse_args(words[2:])  # the fleet at a glance
        elif program == "wildcert-pull":
            pull_parser().parse_args(words[1:])  # exits (fails the test) on a bad option


def test_the_checks_catch_what_they_are_for() -> None:
    """The AWS CLI check itself: each mistake the docs once had is caught."""
    secret = ["secretsmanager", "create-secret", "--name", "x", "--secret-string",
              "https://hooks.slack.com/services/T0/B0/X"]
    assert any("fetches" in p for p in aws_problems(secret))
    invoke = ["lambda", "invoke", "--function-name", "f", "--cli-binary-format",
              "raw-in-base64-out", "--payload", "file://events/x.json", "out.json"]
    problems = aws_problems(invoke)
    assert any("v2 only" in p for p in problems) and any("fileb://" in p for p in problems)
    assert aws_problems(["events", "put-event", "--entries", "[]"]) == [
        "events has no operation put-event"]
    assert aws_problems(["events", "put-events", "--entrys", "[]"]) == [
        "put-events has no option --entrys"]
    assert aws_problems(["lambda", "invoke", "--function-name", "f", "--payload",
                         "fileb://events/x.json", "out.json"]) == []


# -- the AWS CLI's model ------------------------------------------------------------------------


@cache
def _session() -> Any:
    return botocore.session.get_session()


def aws_problems(args: list[str]) -> list[str]:
    """What would make `aws ARGS` fail with AWS CLI v1 or v2 before it reaches AWS."""
    if len(args) < 2:
        return ["no service and operation"]
    service, command = args[0], args[1]
    if (service, command) in HIGH_LEVEL:
        return []
    try:
        model = _session().get_service_model(SERVICES.get(service, service))
    except Exception:
        return [f"no AWS CLI service {service}"]
    operations = {xform_name(name, "-"): name for name in model.operation_names}
    if command not in operations:
        return [f"{service} has no operation {command}"]
    operation = model.operation_model(operations[command])
    members = operation.input_shape.members if operation.input_shape else {}
    options = {f"--{xform_name(name, '-')}": shape for name, shape in members.items()}
    booleans = {f"--no-{o[2:]}" for o, s in options.items() if s.type_name == "boolean"}
    known = set(options) | booleans | GLOBAL | PAGING
    problems: list[str] = []
    positional = POSITIONAL.get((service, command), 0)
    renamed = RENAMED.get((service, command), {})
    words = [renamed.get(word, word) for word in args[2:]]
    index = 0
    while index < len(words):
        word = words[index]
        if not word.startswith("--"):
            positional -= 1
            if positional < 0:
                problems.append(f"unexpected argument {word!r}")
            index += 1
            continue
        if word in V2_ONLY:
            problems.append(f"{word} is AWS CLI v2 only")
        elif word not in known:
            problems.append(f"{command} has no option {word}")
        value = words[index + 1] if index + 1 < len(words) else ""
        takes_value = not (word in booleans or (word in options and options[word].type_name
                                                == "boolean") or word in {"--no-paginate",
                                                                          "--debug",
                                                                          "--no-verify-ssl"})
        if takes_value:
            problems.extend(_value_problems(word, value, options.get(word)))
            index += 2
        else:
            index += 1
    return problems


def _value_problems(option: str, value: str, shape: Any) -> list[str]:
    if value.startswith(("http://", "https://")):
        return [f"{option} {value[:30]}…: AWS CLI v1 fetches a URL given as a value; use "
                "file:// or JSON"]
    if shape is not None and shape.type_name == "blob" and not value.startswith("fileb://"):
        return [f"{option}: a blob; fileb:// reads it the same in v1 and v2 (file:// and "
                "inline text are base64 in v2 without --cli-binary-format)"]
    return []
