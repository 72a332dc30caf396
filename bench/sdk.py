"""The AWS SDK in the layer: what shipping it and dropping the lean model loader cost.

Two changes are measured, each against the way before it:
- the layer ships boto3/botocore/s3transfer (pinned, what `make test` runs) with bytecode
  compiled by Python 3.13, where it used to ship neither the SDK nor any bytecode and the
  functions used the runtime's SDK;
- botocore loads its models and endpoint data its own way, where wildcert's adapters/aws.py
  used to swap in a loader that dropped the documentation and the endpoint data of services
  it never calls (`LeanModels`, last in commit LEAN_MODELS_REV).

Layer size: the artifact of layers/wildcert/Makefile (arm64, what `sam build` ships) against
the same requirements without the SDK and without bytecode (what it shipped before).

Cold start: a fresh Python 3.13 process (pyenv's: the runtime's version; x86_64 wheels of the
same pins, since this machine cannot run the arm64 ones) imports functions/issuer/app.py and
makes its first AWS client (S3, the issuer's first), the INIT and first-call cost the change
moves. Lambda mounts a layer read-only, so nothing may write bytecode (PYTHONDONTWRITEBYTECODE);
the runtime's own SDK is emulated as a directory of its own, compiled, after the layer on
sys.path as /var/runtime is. Each variant: `runs` processes, the variants taking turns (the
machine's load weighs on all alike); medians of wall time (spawn to exit), CPU (user +
system) and peak RSS, and the import and first-client times the child reports.

    python -m bench.sdk [--runs N]   (also `bench/run.py --section sdk`)
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import layers, process

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "sdk"
REQUIREMENTS = ROOT / "layers" / "wildcert" / "requirements.txt"
LAYER_MAKEFILE_DIR = ROOT / "layers" / "wildcert"
FUNCTION = ROOT / "functions" / "issuer"
SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "python_dateutil")
# The last commit whose adapters/aws.py swapped botocore's loader for LeanModels.
LEAN_MODELS_REV = "2fcc664"
RUNTIME_PYTHON_VERSION = "3.13"
X86_ARGS = ("--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
            "--python-version", RUNTIME_PYTHON_VERSION, "--implementation", "cp",
            "--only-binary=:all:")

_CHILD = """
import sys, time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
from wildcert.adapters import aws
aws.client("s3")
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


@dataclass(frozen=True)
class Variant:
    """One way the issuer could be laid out in Lambda."""

    key: str
    label: str
    package: str  # "now" or "lean" (the wildcert package of LEAN_MODELS_REV)
    sdk_in_layer: bool
    bytecode: bool  # the layer's bytecode, compiled for 3.13


VARIANTS = (
    Variant("before", "before: runtime's SDK, no layer bytecode, lean loader", "lean", False,
            False),
    Variant("no_lean", "lean loader removed (runtime's SDK, no layer bytecode)", "now", False,
            False),
    Variant("sdk_no_bytecode", "SDK in the layer without bytecode", "now", True, False),
    Variant("after", "now: SDK in the layer, bytecode for 3.13", "now", True, True),
    Variant("after_lean", "now, with the lean loader put back", "lean", True, True),
)


def runtime_python() -> Path:
    """Python 3.13, found the way layers/wildcert/Makefile finds it."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(root.glob(f"versions/{RUNTIME_PYTHON_VERSION}.*/bin/python"))
    if found:
        return found[-1]
    named = shutil.which(f"python{RUNTIME_PYTHON_VERSION}")
    if named:
        return Path(named)
    raise RuntimeError(f"no Python {RUNTIME_PYTHON_VERSION} (pyenv install "
                       f"{RUNTIME_PYTHON_VERSION}): the sdk section needs the runtime's Python")


def _pip(target: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", "--no-compile", "--target",
                           str(target), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pip failed for {target}:\n{done.stderr[-3000:]}")


def _split_sdk(everything: Path, layer: Path, runtime: Path) -> None:
    """The SDK (and what only it needs) to `runtime`, the rest to `layer`."""
    for entry in everything.iterdir():
        name = entry.name.split("-")[0].lower() if entry.name.endswith(".dist-info") \
            else entry.name.removesuffix(".py")
        into = runtime if name in SDK else layer
        into.mkdir(parents=True, exist_ok=True)
        if entry.is_dir():
            shutil.copytree(entry, into / entry.name)
        else:
            shutil.copy2(entry, into)


def _package(kind: str, into: Path) -> None:
    if kind == "now":
        shutil.copytree(LAYER_MAKEFILE_DIR / "wildcert", into / "wildcert",
                        ignore=shutil.ignore_patterns("__pycache__"))
        return
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", LEAN_MODELS_REV,
                              "layers/wildcert/wildcert"], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into / "lean", filter="data")
    shutil.move(into / "lean" / "layers" / "wildcert" / "wildcert", into / "wildcert")
    shutil.rmtree(into / "lean")


def _compile(python: Path, directory: Path) -> None:
    subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
                    "unchecked-hash", str(directory)], check=True, capture_output=True)


def prepare(python: Path) -> dict[str, list[Path]]:
    """Each variant's sys.path (layer first, then the emulated runtime), built once."""
    deps = WORK / "x86-deps"
    if not (deps / "done").exists():
        shutil.rmtree(deps, ignore_errors=True)
        everything = deps / "all"
        _pip(everything, *X86_ARGS, "-r", str(REQUIREMENTS))
        _split_sdk(everything, deps / "no-sdk", deps / "sdk")
        (deps / "done").write_text("\n")
    paths: dict[str, list[Path]] = {}
    runtime = WORK / "runtime-sdk"  # /var/runtime: the runtime's SDK, compiled
    if not runtime.exists():
        shutil.copytree(deps / "sdk", runtime)
        _compile(python, runtime)
    for variant in VARIANTS:
        layer = WORK / "layers" / variant.key / "python"
        shutil.rmtree(layer.parent, ignore_errors=True)
        shutil.copytree(deps / "no-sdk", layer)
        if variant.sdk_in_layer:
            shutil.copytree(deps / "sdk", layer, dirs_exist_ok=True)
        _package(variant.package, layer)
        if variant.bytecode:
            _compile(python, layer)
        paths[variant.key] = [FUNCTION, layer] + ([] if variant.sdk_in_layer else [runtime])
    return paths


def _child_env(path: list[Path]) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(map(str, path)),
            "PYTHONDONTWRITEBYTECODE": "1", "POWERTOOLS_LOG_LEVEL": "WARNING",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench"}


def cold_starts(python: Path, paths: dict[str, list[Path]], runs: int) -> dict[str, Any]:
    """`runs` fresh processes per variant, taken in turns so the machine's load, which
    changes from minute to minute, weighs on every variant alike."""
    samples: dict[str, dict[str, list[float]]] = {
        key: {"wall": [], "cpu": [], "peak_rss_mib": [], "import": [], "first_client": []}
        for key in paths}
    for attempt in range(runs + 1):  # the first round warms the page cache and is not counted
        for key, path in paths.items():
            done = process.run([str(python), "-c", _CHILD], env=_child_env(path))
            if done.returncode != 0:
                raise RuntimeError(f"cold start failed ({key}):\n{done.stderr[-2000:]}")
            if attempt == 0:
                continue
            imported, client = (float(x) for x in done.stdout.split())
            for field, value in (("wall", done.wall), ("cpu", done.cpu_seconds),
                                 ("peak_rss_mib", done.peak_rss_mib), ("import", imported),
                                 ("first_client", client)):
                samples[key][field].append(value)
    return {key: {"samples": values,
                  "median": {field: statistics.median(v) for field, v in values.items()}}
            for key, values in samples.items()}


def layer_sizes() -> dict[str, Any]:
    """The shipped layer (the Makefile's artifact) and the way it was built before."""
    now = WORK / "layer-now"
    shutil.rmtree(now, ignore_errors=True)
    done = subprocess.run(["make", "-s", "-C", str(LAYER_MAKEFILE_DIR), "build-WildcertLayer",
                           f"ARTIFACTS_DIR={now}"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the layer build failed:\n{done.stderr[-3000:]}")
    before = layers.wildcert_layer(WORK / "layer-before")  # no SDK, no bytecode
    return {"now": dataclasses.asdict(layers.measure(now / "python")),
            "before": dataclasses.asdict(layers.measure(before))}


def run(runs: int = 10) -> dict[str, Any]:
    python = runtime_python()
    version = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"
                              ], capture_output=True, text=True, check=True).stdout.strip()
    sizes = layer_sizes()
    paths = prepare(python)
    measured = cold_starts(python, paths, runs)
    cold = {variant.key: {"label": variant.label, **measured[variant.key]}
            for variant in VARIANTS}
    for entry in cold.values():
        median = entry["median"]
        print(f"[sdk] {entry['label']}: wall {median['wall']:.2f} s, cpu {median['cpu']:.2f} s, "
              f"import {median['import']:.2f} s, first client {median['first_client']:.2f} s, "
              f"peak {median['peak_rss_mib']:.1f} MiB", flush=True)
    return {"python": version, "runs": runs, "lean_models_rev": LEAN_MODELS_REV,
            "layer": sizes, "cold": cold}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="processes per variant")
    args = parser.parse_args(argv)
    process.start()
    try:
        print(json.dumps(run(args.runs), indent=1))
    finally:
        process.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
