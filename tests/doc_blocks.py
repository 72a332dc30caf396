"""The commands the documentation shows: its fenced blocks, with what each block is for.

A shell block (```sh, ```bash, ```shell) says how it is tested by the comment on the line
before it:

    <!-- doc-test: stack -->    run, in order, against a local stack
                                (tests/e2e/test_docs_commands.py)
    <!-- doc-test: aws -->      needs a real AWS account: checked, not run
                                (tests/unit/test_docs_commands.py): bash syntax, `make -n`,
                                every `aws` command against the AWS CLI's model (v1 and v2),
                                every wildcert-pull against its own parser; those that
                                mean something without a real account say `(also run on the
                                local stack by tests/e2e/test_docs_aws_commands.py)`, which
                                runs them there with the docs' placeholders mapped to the
                                stack's values and lists the others with the reason
    <!-- doc-test: host (...) -->  runs on a server: checked like `aws`; the parentheses name
                                the test that runs it elsewhere

In a `stack` block, `dry-run: <command>` after the kind (`<!-- doc-test: stack; dry-run: make
test -->`) names lines that are checked with `make -n` instead of run. Crontab lines are in
```crontab blocks, one entry a line (tests/unit/test_docs_cron.py).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "events" / "README.md")
SHELL = {"sh", "bash", "shell"}
KINDS = {"stack", "aws", "host"}
MARKER = re.compile(r"<!--\s*doc-test:\s*(?P<kind>[a-z]+)(?P<rest>[^>]*)-->")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[A-Za-z0-9_-]*)\s*$")
SEPARATORS = {";", "&&", "||", "|", "&"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    kind: str | None  # from the marker; None when unmarked
    dry_run: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    def lines(self) -> list[str]:
        """The block's command lines, continuations joined, comments and blanks left out."""
        joined = self.text.replace("\\\n", " ")
        return [line for line in joined.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]


def blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent = len(opening["indent"])
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        body = "\n".join(line[indent:] for line in lines[index + 1:end]) + "\n"
        kind, dry_run = _marker(lines, index)
        yield Block(path, index + 1, opening["lang"], body, kind, dry_run)
        index = end + 1


def shell_blocks(paths: tuple[Path, ...] = DOCS) -> list[Block]:
    return [b for path in paths for b in blocks(path) if b.lang in SHELL]


def _marker(lines: list[str], fence: int) -> tuple[str | None, tuple[str, ...]]:
    before = fence - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    found = MARKER.search(lines[before]) if before >= 0 else None
    if not found:
        return None, ()
    dry_run = tuple(part.split(":", 1)[1].strip() for part in found["rest"].split(";")
                    if part.strip().startswith("dry-run:"))
    return found["kind"], dry_run


def simple_commands(script: str) -> list[list[str]]:
    """Each simple command of a script as words: continuations joined, `$(...)` taken out as
    commands of their own, split at `;`, `&&`, `||`, `|`, comments dropped, leading
    `NAME=value` assignments dropped. For checking commands, not for running them."""
    script = script.replace("\\\n", " ")
    substituted: list[str] = []
    while True:
        inner = re.sub(r"\$\(([^()]*)\)", lambda m: substituted.append(m[1]) or "SUBSTITUTED",
                       script)
        if inner == script:
            break
        script = inner
    commands: list[list[str]] = []
    for text in (script, *substituted):
        # Newlines end commands, except inside quotes (a JSON argument over several lines).
        lexer = shlex.shlex(_without_comments(text), posix=True, punctuation_chars=";&|\n")
        lexer.whitespace = " \t\r"
        lexer.whitespace_split = True
        lexer.commenters = ""
        current: list[str] = []
        for token in lexer:
            if token.strip("\n") in SEPARATORS or not token.strip("\n"):
                commands.append(current)
                current = []
            else:
                current.append(token)
        commands.append(current)
    return [_without_assignments(c) for c in commands if _without_assignments(c)]


def _without_comments(script: str) -> str:
    """The script without its `# comments`, newlines kept (shlex's own comment handling would
    swallow the newline that ends the command)."""
    kept: list[str] = []
    quote = ""
    index = 0
    while index < len(script):
        char = script[index]
        if char == "\\" and quote != "'":
            kept.append(script[index:index + 2])
            index += 2
            continue
        if quote and char == quote:
            quote = ""
        elif not quote and char in "'\"":
            quote = char
        elif not quote and char == "#" and (not kept or kept[-1][-1:].isspace()):
            while index < len(script) and script[index] != "\n":
                index += 1
            continue
        kept.append(char)
        index += 1
    return "".join(kept)


def _without_assignments(words: list[str]) -> list[str]:
    index = 0
    while index < len(words) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[index]):
        index += 1
    return words[index:]
