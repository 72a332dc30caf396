"""Lambda layer sizes: wildcert's and one holding certbot + certbot-dns-route53, built alike.

Both are `pip install --target … --platform manylinux2014_aarch64 --python-version 3.13
--only-binary=:all:` (the way the layer is built for the arm64 python3.13 runtime), then the
AWS SDK is removed from both (boto3, botocore and their own dependencies s3transfer and
jmespath), so the two compare package for package; wildcert's layer also holds the wildcert
package. The layer wildcert ships, SDK and bytecode included, is bench/sdk.py's to measure.
Builds are cached in bench/work/layers, keyed by what went into them.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WILDCERT_REQUIREMENTS = ROOT / "layers" / "wildcert" / "requirements.txt"
WILDCERT_PACKAGE = ROOT / "layers" / "wildcert" / "wildcert"
SAM_LAYER = ROOT / ".aws-sam" / "build" / "WildcertLayer"
CERTBOT_SPECS = ("certbot==5.8.0", "certbot-dns-route53==5.8.0")
PLATFORM_ARGS = ("--platform", "manylinux2014_aarch64", "--python-version", "3.13",
                 "--implementation", "cp", "--only-binary=:all:")
RUNTIME_SHIPPED = ("boto3", "botocore", "s3transfer", "jmespath")


@dataclass(frozen=True)
class LayerSize:
    unzipped_bytes: int
    zipped_bytes: int
    files: int
    top: tuple[tuple[str, int], ...]  # the biggest top-level entries, bytes


def _key(specs: tuple[str, ...], extra: bytes) -> str:
    digest = hashlib.sha256("\n".join(specs).encode() + extra)
    return digest.hexdigest()[:16]


def _remove_runtime_shipped(python_dir: Path) -> None:
    for entry in python_dir.iterdir():
        if _distribution(entry.name).lower() not in RUNTIME_SHIPPED:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    shutil.rmtree(python_dir / "bin", ignore_errors=True)


def build(directory: Path, specs: tuple[str, ...], package: Path | None = None) -> Path:
    """The layer's `python/` directory, built once per distinct input."""
    source = b"".join(p.read_bytes() for p in sorted(package.rglob("*.py"))) if package else b""
    target = directory / _key(specs, source) / "python"
    if (target.parent / "done").exists():
        return target
    shutil.rmtree(target.parent, ignore_errors=True)
    target.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-compile", "--target", str(target), *PLATFORM_ARGS, *specs],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip could not build the layer {target}:\n{done.stderr[-3000:]}")
    _remove_runtime_shipped(target)
    if package is not None:
        shutil.copytree(package, target / package.name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (target.parent / "done").write_text("\n".join(specs) + "\n")
    return target


def wildcert_layer(directory: Path) -> Path:
    specs = tuple(
        line.split("#", 1)[0].strip()
        for line in WILDCERT_REQUIREMENTS.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    )
    return build(directory / "wildcert", specs, WILDCERT_PACKAGE)


def certbot_layer(directory: Path) -> Path:
    return build(directory / "certbot", CERTBOT_SPECS)


def measure(python_dir: Path, top_n: int = 5) -> LayerSize:
    """Unzipped size, the size of the zip Lambda would take, files, biggest entries."""
    per_entry: Counter[str] = Counter()
    total = files = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(python_dir.rglob("*")):
            if not path.is_file():
                continue
            size = path.stat().st_size
            total += size
            files += 1
            relative = path.relative_to(python_dir)
            per_entry[_distribution(relative.parts[0])] += size
            archive.write(path, str(Path("python") / relative))
    return LayerSize(total, len(buffer.getvalue()), files, tuple(per_entry.most_common(top_n)))


def _distribution(entry: str) -> str:
    """A top-level entry named after its distribution ("cryptography-48.0.0.dist-info")."""
    name = entry.removesuffix(".libs")
    return name.split("-", 1)[0] if name.endswith(".dist-info") else name
