"""The crontab lines the docs give are lines cron accepts, as written.

Every ```crontab block of README.md and docs/*.md holds entries in the system crontab format
(/etc/crontab, /etc/cron.d/*): five time fields, a user, a command. cron has no line
continuation, runs the command with /bin/sh and a PATH of /usr/bin:/bin, and turns an unescaped
`%` into a newline; a wildcert-pull entry must also parse with the puller's own options and
keep `--quiet`, so that cron mails only failures.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass

import pytest

from tests.doc_blocks import DOCS, blocks
from wildcert_pull.cli import parser as pull_parser

# (lowest, highest, names) of minute, hour, day of month, month, day of week (cron(5)).
FIELDS = ((0, 59, ()), (0, 23, ()), (1, 31, ()),
          (1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                   "dec")),
          (0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))
USER = re.compile(r"[a-z_][a-z0-9_-]*\$?")
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")


class CrontabError(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    times: tuple[str, ...]
    user: str
    command: list[str]  # as /bin/sh would split it, assignments left out


def parse_entry(line: str) -> Entry:
    """One system crontab entry, or CrontabError saying what cron would do with it."""
    if line.rstrip().endswith("\\"):
        raise CrontabError("ends in '\\': cron has no line continuation")
    if re.search(r"(?<!\\)%", line):
        raise CrontabError("an unescaped % is a newline to cron")
    parts = line.split(None, 6)
    if len(parts) < 7:
        raise CrontabError("needs five time fields, a user and a command")
    for text, (low, high, names) in zip(parts[:5], FIELDS, strict=True):
        _field(text, low, high, names)
    if not USER.fullmatch(parts[5]):
        raise CrontabError(f"{parts[5]!r} is not a user name")
    words = shlex.split(parts[6])
    while words and ASSIGNMENT.fullmatch(words[0]):
        words.pop(0)
    if not words:
        raise CrontabError("no command after the assignments")
    if not words[0].startswith("/"):
        raise CrontabError(f"{words[0]!r} is not on cron's PATH (/usr/bin:/bin): give its "
                           "absolute path")
    return Entry(tuple(parts[:5]), parts[5], words)


def _field(text: str, low: int, high: int, names: tuple[str, ...]) -> None:
    for item in text.split(","):
        spread, _, step = item.partition("/")
        if step and not (step.isdigit() and int(step) > 0):
            raise CrontabError(f"step {step!r} in {text!r}")
        if spread == "*":
            continue
        ends = spread.split("-")
        if len(ends) > 2 or not all(ends):
            raise CrontabError(f"{item!r} in {text!r}")
        values = [_value(end, low, high, names) for end in ends]
        if values != sorted(values):
            raise CrontabError(f"range {spread!r} runs backwards")


def _value(text: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text.lower() in names:
        return names.index(text.lower()) + (1 if low == 1 else 0)
    if not text.isdigit() or not low <= int(text) <= high:
        raise CrontabError(f"{text!r} is not in {low}-{high}")
    return int(text)


def crontab_lines() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for block in blocks(path):
            if block.lang == "crontab":
                found += [(f"{block.where}+{n}", line)
                          for n, line in enumerate(block.text.splitlines(), 1)
                          if line.strip() and not line.lstrip().startswith("#")]
    return found


LINES = crontab_lines()


def test_the_docs_give_cron_lines_for_the_puller() -> None:
    where = {w.split(":")[0] for w, _ in LINES}
    assert {"docs/PULL.md", "docs/TEAMS.md"} <= where, where


@pytest.mark.parametrize(("where", "line"), LINES, ids=[w for w, _ in LINES])
def test_each_cron_line_is_one_cron_accepts(where: str, line: str) -> None:
    entry = parse_entry(line)
    if os.path.basename(entry.command[0]) == "wildcert-pull":
        options = pull_parser().parse_args(entry.command[1:])
        assert options.quiet, f"{where}: without --quiet cron mails every run"


@pytest.mark.parametrize(("line", "why"), [
    ("15 */12 * * *  root  AWS_PROFILE=p wildcert-pull --bucket b \\", "line continuation"),
    ("15 */12 * * *  root  AWS_PROFILE=p wildcert-pull --quiet --bucket b", "cron's PATH"),
    ("15 24 * * * root /bin/true", "not in 0-23"),
    ("15 3 * * * /bin/echo hi", "is not a user name"),
    ("0 0 * * mon-sun root /bin/true", "backwards"),
    ("0 0 * * * root /bin/date +%F", "unescaped %"),
])
def test_the_parser_refuses_what_cron_would_not_do(line: str, why: str) -> None:
    with pytest.raises(CrontabError, match=re.escape(why)):
        parse_entry(line)


def test_the_parser_accepts_what_cron_does() -> None:
    entry = parse_entry("*/5 1-6/2 1,15 jan-jun mon-fri root A=1 B='x y' /bin/echo \\% done")
    assert (entry.user, entry.command) == ("root", ["/bin/echo", "%", "done"])
