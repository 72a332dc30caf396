"""What the removed optimisations bought, each against the code without it, on one stack.

An optimisation stays only where it saves 5% of a cold issuance; these two went:
  the head start and late imports   until commit REMOVAL the issuer ran the bucket probe, the
                                    account key, the cooldowns and the CA's directory in a
                                    thread pool made per invocation, and loaded acme,
                                    dnspython, the Slack SDK and botocore inside functions
  MALLOC_ARENA_MAX=2                the issuer's environment in template.yaml, for that pool's
                                    threads: two glibc arenas for all of them
Each tree is taken from git (`git archive` of layers/wildcert and functions/issuer into
bench/work/removed/<commit>) and runs the same bench/invoke_once.py: a new process, one cold
issuance (spawn to the handler's return; CPU and peak RSS read at that return), then warm ones
in the same process. The variants take turns in every round, so load changes hit all of them;
this tree runs twice, and the difference between its two runs is the noise floor.
"""

from __future__ import annotations

import statistics
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import wildcert_runner

ROOT = wildcert_runner.ROOT
REMOVAL = "5fc9fea"  # "Code shaped by import cost goes: top-level imports, no ... thread pool"
# Its parent, e1cf6df, deleted jobs/issue/head_start.py and adapters/acme_types.py while its own
# modules still import them, so it cannot run; its parent is the last tree with the head start
# that does (e1cf6df otherwise moves the certificate record to logic/ and the TLS probe to an
# adapter: names, not work, on the issuer's path).
BEFORE = "5a42dc3"
ARENA = {"MALLOC_ARENA_MAX": "2"}
TREE_PATHS = ("layers/wildcert/wildcert", "functions/issuer")


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    commit: str | None  # None: this checkout
    env: dict[str, str] = field(default_factory=dict)


VARIANTS = (
    Variant("before", f"{BEFORE}: head-start pool, late imports, MALLOC_ARENA_MAX=2", BEFORE,
            ARENA),
    Variant("removal", f"{REMOVAL}: neither, MALLOC_ARENA_MAX=2", REMOVAL, ARENA),
    Variant("now_arena", "this tree with MALLOC_ARENA_MAX=2", None, ARENA),
    Variant("now", "this tree as shipped (glibc's default arenas)", None),
    Variant("again", "this tree as shipped, again: the noise floor", None),
)
# (what was removed, the variant with it, the one without)
COMPARISONS = (
    (f"The head-start pool and the function-local imports ({BEFORE} against {REMOVAL})",
     "before", "removal"),
    ("MALLOC_ARENA_MAX=2 (this tree with it against this tree without)", "now_arena", "now"),
)
COLD_FIELDS = ("to_return", "import_seconds", "handler_seconds", "cpu_seconds_at_return",
               "peak_rss_mib_at_return")


def tree_of(commit: str | None, work: Path) -> Path:
    """The checkout, or `commit`'s issuer and package unpacked under `work`."""
    if commit is None:
        return ROOT
    tree = work / commit
    if not (tree / TREE_PATHS[0]).is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, *TREE_PATHS],
                                 capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def run(stack_env: dict[str, str], rounds: int, warm: int, work: Path,
        say: Callable[[str], None] = print) -> dict[str, Any]:
    trees = {v.key: tree_of(v.commit, work) for v in VARIANTS}
    for variant in VARIANTS:  # unrecorded: each tree's bytecode compiled, its files cached;
        # the first, the oldest, registers the ACME account on the stack
        wildcert_runner.invoke_cold(stack_env, wildcert_runner.unique_label("rm"),
                                    work / f"{variant.key}.json", tree=trees[variant.key],
                                    process_env=variant.env)
    samples: dict[str, dict[str, list[float]]] = {
        v.key: {name: [] for name in (*COLD_FIELDS, "warm")} for v in VARIANTS}
    for n in range(rounds):
        for variant in VARIANTS:
            done = wildcert_runner.invoke_cold(
                stack_env, wildcert_runner.unique_label("rm"), work / f"{variant.key}.json",
                tree=trees[variant.key], process_env=variant.env, warm=warm)
            for name in COLD_FIELDS:
                samples[variant.key][name].append(getattr(done, name))
            samples[variant.key]["warm"].extend(done.warm)
        say(f"  removed round {n + 1}/{rounds}: " + ", ".join(
            f"{v.key} {samples[v.key]['to_return'][-1]:.2f} s" for v in VARIANTS))
    return {"rounds": rounds, "warm_per_process": warm,
            "variants": {v.key: {"label": v.label, **samples[v.key]} for v in VARIANTS}}


# ---------------------------------------------------------------- report

HEADING = "## What the removed optimisations bought"
ROUTE53_WAIT_SECONDS = 60.0  # the least a change takes to be INSYNC on real Route 53


@dataclass(frozen=True)
class Bought:
    """What the variant with an optimisation saved against the one without (negative: cost)."""

    cold_seconds: float
    cold_share: float  # of the cold issuance without it
    cpu_seconds: float
    cpu_share: float
    peak_rss_mib: float
    warm_seconds: float


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bought(variants: dict[str, dict[str, Any]], with_it: str, without: str) -> Bought:
    def saved(name: str) -> float:
        return _median(variants[without][name]) - _median(variants[with_it][name])

    def share(name: str) -> float:
        return saved(name) / _median(variants[without][name])

    return Bought(saved("to_return"), share("to_return"), saved("cpu_seconds_at_return"),
                  share("cpu_seconds_at_return"), saved("peak_rss_mib_at_return"),
                  saved("warm"))


def _cell(values: Sequence[float], unit: str, digits: int = 2) -> str:
    if not values:
        return "n/a"
    return (f"{_median(values):.{digits}f} {unit} ({min(values):.{digits}f}-"
            f"{max(values):.{digits}f})")


def section(results: dict[str, Any]) -> list[str]:
    removed = results.get("removed")
    if not removed:
        return []
    variants = removed["variants"]
    run = removed.get("measured", {})
    rows = ["| tree | cold: spawn to return | import | first handler call | CPU at return | "
            "peak RSS at return | warm issuance |", "|---|---|---|---|---|---|---|"]
    rows += [f"| {v['label']} | {_cell(v['to_return'], 's')} | "
             f"{_cell(v['import_seconds'], 's')} | {_cell(v['handler_seconds'], 's')} | "
             f"{_cell(v['cpu_seconds_at_return'], 's')} | "
             f"{_cell(v['peak_rss_mib_at_return'], 'MiB', 1)} | {_cell(v['warm'], 's')} |"
             for v in variants.values()]
    noise = bought(variants, "again", "now") if "again" in variants else None
    notes = [] if noise is None else [
        f"- Noise floor: this tree run twice in the same rounds differs by "
        f"{abs(noise.cold_seconds) * 1000:.0f} ms of a cold issuance ({abs(noise.cold_share):.1%})"
        f" and {abs(noise.cpu_seconds) * 1000:.0f} ms of its CPU ({abs(noise.cpu_share):.1%}); "
        "a difference below that is not one this run can show."]
    for what, with_it, without in COMPARISONS:
        b = bought(variants, with_it, without)
        notes.append(
            f"- {what} bought {b.cold_seconds * 1000:+.0f} ms of a cold issuance on this stack "
            f"({b.cold_share:+.1%} of it) and {b.cpu_seconds * 1000:+.0f} ms of its CPU "
            f"({b.cpu_share:+.1%}), {round(b.peak_rss_mib, 1) or 0.0:+.1f} MiB of its peak RSS and "
            f"{b.warm_seconds * 1000:+.0f} ms of a warm issuance (a minus: it cost that much). "
            f"In AWS a cold issuance waits {ROUTE53_WAIT_SECONDS:.0f}-120 s for Route 53: "
            f"there it is at most {abs(b.cold_seconds) / ROUTE53_WAIT_SECONDS:.2%} of one.")
    return [
        HEADING, "",
        f"Measured by `bench/run.py --section removed` (bench/removed.py) on "
        f"{run.get('date', '?')} at commit {run.get('commit', '?')}, load average "
        f"{run.get('load_average', '?')} ({run.get('nproc', '?')} CPUs shared with other "
        "work). Each tree is that commit's functions/issuer and layers/wildcert/wildcert (git "
        "archive); one new process per tree and round issues a wildcard + apex certificate "
        "cold (spawn to the handler's return, CPU and peak RSS read in the process at that "
        f"return), then {removed['warm_per_process']} warm ones; the trees take turns in each "
        f"of {removed['rounds']} rounds, after one unrecorded round. Medians (min-max):", "",
        *rows, "", *notes,
        "- On this stack nothing waits for DNS, and on a shared machine a cold issuance's "
        "wall time moves with the load (CPU time is the steadier measure); Lambda bills the "
        "configured memory (512 MB), not the peak RSS.",
        f"- {REMOVAL}'s parent, e1cf6df, cannot be imported (it deleted head_start.py and "
        f"acme_types.py that its modules still import), so the tree with the head start is "
        f"{BEFORE}, the parent of that commit; later commits changed more than the two "
        "removals, so each removal is compared with the tree just after it, not with today's.",
    ]
