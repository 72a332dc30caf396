"""`make bench`: wildcert's issuer against certbot + certbot-dns-route53, on a local stack.

Starts its own stack (Pebble with authorization reuse and nonce rejection off, so request
counts are stable) in bench/work/stack, then measures side by side:
  time      a stored wildcard + apex certificate: wildcert's handler (warm and cold container)
            vs certbot certonly --dns-route53 plus an S3 (SSE-KMS) deploy hook
  work      ACME requests, AWS API calls and DNS queries per certificate, counted at the
            stack in the timed runs
  cold      a fresh process importing each tool's entry point: wall time and peak RSS
  layers    Lambda layer sizes, both built the same way for arm64 / python3.13
  sdk       the layer with its pinned AWS SDK and bytecode, and botocore's own loader, each
            against the way before it: layer size and cold start (bench/sdk.py)
  removed   the head-start pool, the function-local imports and MALLOC_ARENA_MAX, each
            against the tree without it: cold and warm issuance (bench/removed.py)
  scale     N certificates from a thread pool of handler calls
  fleet     500 due certificates renewed through sweep -> queue -> issuer under Route 53's
            and Let's Encrypt's limits, on a stack of its own, plus two small stress runs
            where one limit binds hard (bench/fleet.py)
and writes bench/RESULTS.md and bench/work/results.json.
`--report-only` rebuilds the report from bench/work/results.json.
`--section sdk` (or `removed`) runs that section alone and rewrites its part of
bench/RESULTS.md, saying when it ran; the other sections keep the numbers of their own run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402 - the repository root must be on sys.path first
    certbot_runner,
    coldstart,
    fleet,
    layers,
    machine,
    process,
    removed,
    report,
    scale,
    sdk,
    wildcert_runner,
)
from bench.observe import Observers  # noqa: E402
from bench.pebble_log import LogCursor  # noqa: E402

WORK = BENCH / "work"
RESULTS_JSON = WORK / "results.json"
PEBBLE_ENV = {"PEBBLE_AUTHZREUSE": "0", "PEBBLE_WFE_NONCEREJECT": "0"}
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Config:
    reps: int = 5
    cold_runs: int = 10
    scale_ns: tuple[int, ...] = (10, 50, 200)
    scale_reps: int = 2
    concurrency: int = 8
    port_base: int = 15000
    layers: bool = True
    fleet_n: int = fleet.FleetConfig.n  # 0: no fleet run
    fleet_stress: bool = True
    removed_rounds: int = 7
    removed_warm: int = 2


QUICK = Config(reps=2, cold_runs=3, scale_ns=(10, 50), scale_reps=1,
               fleet_n=fleet.QUICK.n, fleet_stress=False, removed_rounds=2, removed_warm=1)
SECTIONS = ("sdk", "removed")


def parse_args(argv: list[str] | None) -> tuple[Config, bool | str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, N up to 50")
    parser.add_argument("--reps", type=int, help="timed issuances per tool")
    parser.add_argument("--cold-runs", type=int, help="cold-start processes per tool")
    parser.add_argument("--scale", help="comma-separated N, e.g. 10,50,200")
    parser.add_argument("--scale-reps", type=int, help="runs per N")
    parser.add_argument("--concurrency", type=int, help="threads calling the handler")
    parser.add_argument("--port-base", type=int, help="first port base to try (default 15000)")
    parser.add_argument("--no-layers", action="store_true", help="skip the layer builds")
    parser.add_argument("--fleet", type=int, help="due certificates in the fleet run (0: none)")
    parser.add_argument("--no-fleet-stress", action="store_true",
                        help="skip the two small fleet runs where one limit binds hard")
    parser.add_argument("--removed-rounds", type=int,
                        help="rounds of the removed-optimisation trees (each a cold issuance)")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild RESULTS.md from bench/work/results.json")
    parser.add_argument("--section", choices=SECTIONS,
                        help="run this section alone and rewrite its part of RESULTS.md")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else Config()
    overrides: dict[str, Any] = {
        "reps": args.reps, "cold_runs": args.cold_runs,
        "scale_reps": args.scale_reps, "concurrency": args.concurrency,
        "port_base": args.port_base,
        "scale_ns": tuple(int(n) for n in args.scale.split(",")) if args.scale else None,
        "layers": False if args.no_layers else None,
        "fleet_n": args.fleet, "fleet_stress": False if args.no_fleet_stress else None,
        "removed_rounds": args.removed_rounds,
    }
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    return config, f"section:{args.section}" if args.section else args.report_only


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


@contextmanager
def section(results: dict[str, Any], name: str) -> Iterator[None]:
    started = time.perf_counter()
    say(f"{name} ...")
    try:
        yield
    finally:
        results["durations"][name] = time.perf_counter() - started


# ---------------------------------------------------------------- stack


def start_stack(config: Config) -> Any:
    from local_stack import Stack, free_port_base

    directory = WORK / "stack"
    leftover = Stack.attach(directory)
    if leftover is not None:  # an interrupted bench's stack: ours, in our directory
        leftover.stop()
    base = free_port_base(config.port_base)
    stack = Stack.start(directory, base, pebble_env=PEBBLE_ENV)
    say(f"local stack on port base {base} in {directory.relative_to(ROOT)}")
    return stack


# ---------------------------------------------------------------- sections


def measure_layers(results: dict[str, Any]) -> None:
    built: dict[str, Any] = {}
    for name, make in (("wildcert", layers.wildcert_layer), ("certbot", layers.certbot_layer)):
        try:
            built[name] = dataclasses.asdict(layers.measure(make(WORK / "layers")))
        except (RuntimeError, OSError) as error:
            built[name] = {"error": str(error)[-1000:]}
    sam = layers.SAM_LAYER / "python"
    built["sam_build"] = dataclasses.asdict(layers.measure(sam)) if sam.is_dir() else None
    results["layers"] = built


def when_measured() -> dict[str, Any]:
    """The date, machine load and tree of a section run alone, for its heading."""
    return {**{k: v for k, v in machine.describe().items() if k in ("date", "nproc")},
            "load_average": machine.load_average(), **machine.source_tree(ROOT)}


def measure_sdk(config: Config) -> dict[str, Any]:
    return {**sdk.run(config.cold_runs), "measured": when_measured()}


def measure_removed(config: Config) -> dict[str, Any]:
    """On a stack of its own, fresh: the oldest tree registers the ACME account first, in the
    record format every later tree reads (an older tree cannot read a newer one's)."""
    work = WORK / "removed"
    work.mkdir(parents=True, exist_ok=True)
    stack = start_stack(config)
    try:
        measured = removed.run(stack.env, config.removed_rounds, config.removed_warm, work, say)
    finally:
        stack.stop()
    return {**measured, "measured": when_measured()}


SECTION_HEADINGS = {"sdk": report.SDK_HEADING, "removed": removed.HEADING}


def rewrite_section(markdown_path: Path, name: str, results: dict[str, Any]) -> str:
    """RESULTS.md with section `name` replaced (or put before the scale section)."""
    lines = markdown_path.read_text().splitlines()
    heading = SECTION_HEADINGS[name]
    new = report.sdk_section(results) if name == "sdk" else removed.section(results)
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
    else:
        start = end = next((i for i, line in enumerate(lines) if line.startswith("## Scale")),
                           len(lines))
    text = "\n".join([*lines[:start], *new, "", *lines[end:]]) + "\n"
    markdown_path.write_text(text)
    return text


def run_section(name: str, config: Config) -> dict[str, Any]:
    process.start()
    try:
        if name == "sdk":
            return {"sdk": measure_sdk(config)}
        return {"removed": measure_removed(config)}
    finally:
        process.stop()


@dataclasses.dataclass
class Tools:
    """Everything the runs need, made once per bench."""

    stack: Any
    app: Any
    certbot: certbot_runner.CertbotSetup
    observers: Observers
    scratch: Path

    def out(self, name: str) -> Path:
        return self.scratch / f"{name}-{time.monotonic_ns()}.json"


def load_handler(stack_env: dict[str, str]) -> Any:
    """The issuer handler in this process: a warm container after its first invocation."""
    os.environ.update(stack_env)
    os.environ.update(wildcert_runner.QUIET_LOGS)
    logging.getLogger("wildcert").setLevel(wildcert_runner.QUIET_LOGS["POWERTOOLS_LOG_LEVEL"])
    return wildcert_runner.import_handler()


def first_runs(tools: Tools, results: dict[str, Any]) -> None:
    """Each tool's first issuance on this stack registers its ACME account: timed apart."""
    label = wildcert_runner.unique_label
    cold = wildcert_runner.invoke_cold(tools.stack.env, label("wf"), tools.out("first"))
    warm_first, _ = wildcert_runner.invoke(tools.app, label("wi"))
    certbot = certbot_runner.run(tools.certbot, label("cf"))
    results["first_runs"] = {
        "wildcert_cold": cold.to_return, "wildcert_cold_to_exit": cold.wall,
        "wildcert_in_process_first": warm_first,
        "certbot": certbot.wall, "certbot_hook": certbot.hook_seconds,
    }


def counted(tools: Tools, run: Callable[[], T]) -> tuple[T, dict[str, dict[str, Any]]]:
    """What `run` sent, counted at the stack before and after it: nothing inside its time."""
    before = tools.observers.begin()
    value = run()
    return value, tools.observers.end(before)


def time_issuance(tools: Tools, config: Config, results: dict[str, Any]) -> None:
    label = wildcert_runner.unique_label
    timing: dict[str, list[float]] = {key: [] for key in (
        "wildcert_warm", "wildcert_cold_wall", "wildcert_cold_to_return", "wildcert_cold_import",
        "wildcert_cold_handler",
        "certbot_wall", "certbot_hook", "certbot_local")}
    whole: dict[str, list[float]] = {key: [] for key in (
        "wildcert_peak_rss_mib", "certbot_peak_rss_mib", "wildcert_cpu_s", "certbot_cpu_s")}
    work: dict[str, list[dict[str, Any]]] = {"wildcert_cold": [], "wildcert_warm": [],
                                             "certbot": []}
    for rep in range(config.reps):
        (warm, _), work_warm = counted(tools, lambda: wildcert_runner.invoke(tools.app,
                                                                             label("tw")))
        cold, work_cold = counted(tools, lambda: wildcert_runner.invoke_cold(
            tools.stack.env, label("tc"), tools.out("time")))
        certbot, work_certbot = counted(tools, lambda: certbot_runner.run(tools.certbot,
                                                                          label("tb")))
        for tool, seen in (("wildcert_warm", work_warm), ("wildcert_cold", work_cold),
                           ("certbot", work_certbot)):
            work[tool].append(seen)
        for key, value in (("wildcert_warm", warm), ("wildcert_cold_wall", cold.wall),
                           ("wildcert_cold_to_return", cold.to_return),
                           ("wildcert_cold_import", cold.import_seconds),
                           ("wildcert_cold_handler", cold.handler_seconds),
                           ("certbot_wall", certbot.wall), ("certbot_hook", certbot.hook_seconds),
                           ("certbot_local", certbot.local_only)):
            timing[key].append(value)
        for key, value in (("wildcert_peak_rss_mib", cold.peak_rss_mib),
                           ("certbot_peak_rss_mib", certbot.peak_rss_mib),
                           ("wildcert_cpu_s", cold.cpu_seconds),
                           ("certbot_cpu_s", certbot.cpu_seconds)):
            whole[key].append(value)
        say(f"  rep {rep + 1}/{config.reps}: wildcert warm {warm:.2f} s, cold "
            f"{cold.to_return:.2f} s to return ({cold.wall:.2f} s to exit, peak "
            f"{cold.peak_rss_mib:.0f} MiB); certbot {certbot.wall:.2f} s (peak "
            f"{certbot.peak_rss_mib:.0f} MiB)")
    results["timing"] = timing
    results["cold_issuance"] = whole
    results["work"] = work


def measure_cold_starts(certbot_python: Path, config: Config, results: dict[str, Any]) -> None:
    env = coldstart.quiet_env(wildcert_runner.QUIET_LOGS)
    kinds = {
        "wildcert": (Path(sys.executable), coldstart.WILDCERT_IMPORTS),
        "certbot": (certbot_python, coldstart.CERTBOT_IMPORTS),
        "python_venv": (Path(sys.executable), coldstart.BASELINE_IMPORTS),
        "python_certbot_venv": (certbot_python, coldstart.BASELINE_IMPORTS),
    }
    for python, imports in kinds.values():  # byte-compile and warm the page cache first
        coldstart.measure(python, imports, env)
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for _ in range(config.cold_runs):
        for kind, (python, imports) in kinds.items():
            runs[kind].append(dataclasses.asdict(coldstart.measure(python, imports, env)))
    results["coldstart"] = runs


def measure_scale(tools: Tools, config: Config, results: dict[str, Any]) -> None:
    runs = []
    for rep in range(config.scale_reps):
        for n in config.scale_ns:
            run = scale.run(n, config.concurrency, tools.stack.env, tools.stack.pid,
                            tools.out(f"scale-{n}"))
            say(f"  scale rep {rep + 1}/{config.scale_reps} N={n}: {run.wall:.1f} s, "
                f"{run.per_minute:.0f}/min, peak RSS {run.rss_peak_mib:.0f} MiB, "
                f"{run.failures} failed")
            runs.append({**dataclasses.asdict(run), "per_minute": run.per_minute})
    results["scale"] = runs


# ---------------------------------------------------------------- orchestration


def run_on_stack(config: Config, certbot_python: Path, results: dict[str, Any]) -> None:
    with section(results, "stack start"):
        stack = start_stack(config)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    try:
        tools = Tools(
            stack=stack, app=load_handler(stack.env),
            certbot=certbot_runner.CertbotSetup(certbot_python.parent.parent,
                                                scratch / "certbot", stack.env),
            observers=Observers(LogCursor(stack.directory / "pebble.log"), stack),
            scratch=scratch,
        )
        with section(results, "first runs"):
            first_runs(tools, results)
        with section(results, "time and work"):
            time_issuance(tools, config, results)
        with section(results, "scale"):
            measure_scale(tools, config, results)
    finally:
        stack.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def measure_fleet(config: Config, results: dict[str, Any]) -> None:
    """Each run on a stack of its own, after the main stack is gone."""
    out: dict[str, Any] = {}
    if config.fleet_n:
        base = fleet.QUICK if config.fleet_n <= fleet.QUICK.n else fleet.FleetConfig()
        out["full"] = fleet.run(dataclasses.replace(base, n=config.fleet_n))
    if config.fleet_stress:
        out["stress"] = {name: fleet.run(stress) for name, stress in fleet.STRESSES.items()}
    if out:
        results["fleet"] = out


def run_all(config: Config) -> dict[str, Any]:
    results: dict[str, Any] = {"config": dataclasses.asdict(config), "durations": {},
                               "machine": {**machine.describe(), **machine.source_tree(ROOT)}}
    started = time.perf_counter()
    process.start()  # now, while this process is small (see bench/process.py)
    WORK.mkdir(parents=True, exist_ok=True)
    with section(results, "certbot venv"):
        certbot_python = certbot_runner.ensure_venv(WORK / "venv-certbot")
    if config.layers:
        with section(results, "layers"):
            measure_layers(results)
        with section(results, "sdk"):
            results["sdk"] = measure_sdk(config)
    with section(results, "cold start"):
        measure_cold_starts(certbot_python, config, results)
    run_on_stack(config, certbot_python, results)
    with section(results, "removed"):
        results["removed"] = measure_removed(config)
    with section(results, "fleet"):
        measure_fleet(config, results)
    process.stop()
    results["machine"]["load_average_at_end"] = machine.load_average()
    results["durations"]["total"] = time.perf_counter() - started
    return results


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    config, report_only = parse_args(argv)
    if isinstance(report_only, str):
        name = report_only.removeprefix("section:")
        WORK.mkdir(parents=True, exist_ok=True)
        results = run_section(name, config)
        (WORK / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
        print(rewrite_section(BENCH / "RESULTS.md", name, results))
        return 0
    if report_only:
        results = json.loads(RESULTS_JSON.read_text())
    else:
        results = run_all(config)
        RESULTS_JSON.write_text(json.dumps(results, indent=1) + "\n")
    markdown = report.write(results, BENCH / "RESULTS.md")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
