"""The last run of `make fuzz`, as the generated part of docs/FUZZ.md."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.runner import Fuzzer, Tally

BEGIN = "<!-- fuzz:begin: written by `make fuzz` (tests/fuzz); edit outside these markers -->"
END = "<!-- fuzz:end -->"
ROOT = Path(__file__).resolve().parents[2]
MESSAGE_KINDS_SHOWN = 30


@dataclass(frozen=True)
class RunInfo:
    seed: int | None
    target: int
    started: str
    load_start: str
    load_end: str


def run_info(seed: int | None, target: int) -> RunInfo:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return RunInfo(seed, target, now, _load(), "")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _commit() -> str:
    def git(*args: str) -> str:
        found = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                               check=False)
        return found.stdout.strip()

    dirty = git("status", "--porcelain", "--", "layers", "functions", "local_stack", "tests")
    return (git("rev-parse", "--short", "HEAD") or "unknown") + (
        " with uncommitted changes" if dirty else "")


def cell(text: object, limit: int = 160) -> str:
    value = str(text)
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'").replace("\n", " ")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def by_family(sent: Counter[str]) -> Counter[str]:
    """Case kinds without how they were delivered: "near-valid/field/sqs" -> "near-valid/field"."""
    families: Counter[str] = Counter()
    for kind, count in sent.items():
        families["/".join(kind.split("/")[:2])] += count
    return families


def failures_text(fuzzer: Fuzzer) -> str:
    """One line per finding (known bugs left out), for a test's failure message."""
    return "\n".join(f"{f.what}: {f.detail} ({f.kind}) {f.event}" for f in fuzzer.failures)


def render(fuzzer: Fuzzer, info: RunInfo) -> str:
    tally = fuzzer.tally
    lines = [BEGIN, ""]
    lines += table(("", ""), _run_rows(fuzzer, tally, info))
    lines += ["", "### Findings", ""]
    if not fuzzer.failures:
        lines += ["Nothing new: no crash, no write, no CA request and no state change for any "
                  "rejected request, every message as the validator words it, every valid "
                  "request issued."] + ([""] if fuzzer.findings else [])
    lines += _findings(fuzzer)
    lines += ["", "### Cases by kind", "",
              "Delivered directly, in an EventBridge event, as an SQS body, or as an SQS body "
              "holding an EventBridge event; the counts add these up per kind.", ""]
    lines += table(("kind", "cases"), sorted(by_family(tally.sent).items()))
    lines += ["", "### Outcomes of the requests inside them", ""]
    lines += table(("outcome", "requests"), tally.outcomes.most_common())
    lines += ["", "### What rejected cases did outside", ""]
    rows = [(f"AWS read {op}", n) for op, n in tally.reads.most_common()]
    rows += [(f"logged {w}", n) for w, n in tally.warnings.most_common()]
    lines += table(("call or log line", "times"), rows) if rows else ["Nothing."]
    lines += ["", "### Slowest rejections", ""]
    lines += table(("seconds", "kind", "event"), [(f"{s:.3f}", k, e) for s, k, e in tally.slowest])
    lines += ["", f"### Rejection messages, the {MESSAGE_KINDS_SHOWN} most frequent kinds", "",
              f"Quoted values and numbers blanked; {len(tally.problems)} kinds in all.", ""]
    lines += table(("times", "kind", "one of them"), [
        (n, kind, tally.examples[kind]) for kind, n in tally.problems.most_common(
            MESSAGE_KINDS_SHOWN)])
    return "\n".join([*lines, "", END])


def _run_rows(fuzzer: Fuzzer, tally: Tally, info: RunInfo) -> list[tuple[str, object]]:
    per_case = 1000 * fuzzer.elapsed / max(tally.cases, 1)
    return [
        ("date, commit", f"{info.started}, {_commit()}"),
        ("machine", f"{os.cpu_count()} CPUs, load {info.load_start} at start, "
                    f"{info.load_end or _load()} at end"),
        ("cases through the handler", f"{tally.cases} events holding {tally.requests} "
                                      f"requests (target {info.target})"),
        ("rejected cases", tally.rejected_cases),
        ("accepted cases", f"{tally.accepted_cases} ({tally.issued} issued, {tally.skipped} "
                           f"skipped as already issued); {tally.valid_not_sent} more valid ones "
                           "generated and not sent, to keep issuance a small share"),
        ("time", f"{fuzzer.elapsed:.0f} s in all, {per_case:.1f} ms per case: "
                 f"{tally.handler_seconds:.0f} s in the handler, "
                 f"{tally.case_seconds - tally.handler_seconds:.0f} s checking, "
                 f"{fuzzer.elapsed - tally.case_seconds:.0f} s generating cases"),
        ("state compared", f"{tally.windows} times, every {fuzzer.window} rejected cases and "
                           "around each accepted one"),
        ("seed", "random" if info.seed is None else info.seed),
    ]


def _findings(fuzzer: Fuzzer) -> list[str]:
    lines = []
    for finding in sorted(fuzzer.findings.values(), key=lambda f: (f.what, -f.count)):
        lines.append(f"- **{finding.what}**, {finding.count} time(s) (first at case "
                     f"{finding.case}, {finding.kind}): {cell(finding.detail, 400)}")
        if finding.event:
            lines.append(f"  - event: `{cell(finding.event, 300)}`")
    return lines


def write_section(path: Path, section: str) -> None:
    """Replace the generated part of `path`, keeping what is written around it."""
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text)
