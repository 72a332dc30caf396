"""A function runs on the layer it was built as: the runtime's Python, the layer's AWS SDK.

`sam build` (layers/wildcert/Makefile) ships boto3, botocore and s3transfer in the layer, pinned
to the versions `make test` ran with, compiles the layer's bytecode with the runtime's Python,
and records both in `wildcert_layer.json` next to the wildcert package. INIT compares once:

- a function on another Python than the layer was built for (a Runtime changed in
  template.yaml without a rebuild) would ignore the bytecode, and its native code (cryptography)
  may not load: INIT fails naming both versions;
- a boto3, botocore or s3transfer that is not the layer's (a copy earlier on sys.path: in the
  function's package, in another layer) is not what the tests ran: INIT fails naming both.

Outside a built layer (the tests, a checkout) there is no record and nothing to compare. Only
file metadata is read: nothing is imported.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

RECORD_NAME = "wildcert_layer.json"
# The layer's python/ directory (/opt/python in Lambda), where the Makefile writes the record.
LAYER_DIR = Path(os.path.abspath(__file__)).parent.parent
SDK = ("boto3", "botocore", "s3transfer")
MAKEFILE = "layers/wildcert/Makefile"


class LayerMismatch(RuntimeError):
    """The function does not run the layer as it was built: another Python, or another SDK."""


@dataclass(frozen=True)
class LayerBuild:
    """What the layer was built for and with."""

    python: tuple[int, int]
    sdk: dict[str, str]  # distribution -> version

    def to_json(self) -> str:
        return json.dumps({"python": ".".join(map(str, self.python)), "sdk": self.sdk},
                          indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: Path) -> LayerBuild:
        try:
            data = json.loads(text)
            major, minor = (int(part) for part in str(data["python"]).split("."))
            sdk = {name: str(data["sdk"][name]) for name in SDK}
        except (ValueError, KeyError, TypeError) as error:
            raise LayerMismatch(f"{where} is not a layer build record ({error!r}): build the "
                                "layer again with sam build") from None
        return cls((major, minor), sdk)


def record(layer_dir: Path, python: str) -> LayerBuild:
    """Write the record of a layer built in `layer_dir` for Python `python` ("3.13")."""
    found = {d.metadata["Name"].lower(): d.version
             for d in importlib.metadata.distributions(path=[str(layer_dir)])}
    missing = [name for name in SDK if name not in found]
    if missing:
        raise LayerMismatch(f"{layer_dir} lacks {', '.join(missing)}: the layer ships the SDK "
                            f"(layers/wildcert/requirements.txt)")
    major, minor = (int(part) for part in python.split("."))
    build = LayerBuild((major, minor), {name: found[name] for name in SDK})
    (layer_dir / RECORD_NAME).write_text(build.to_json())
    return build


def check(layer_dir: Path = LAYER_DIR,
          python: tuple[int, int] = (sys.version_info.major, sys.version_info.minor)) -> None:
    """Raise LayerMismatch unless this process runs the layer in `layer_dir` as built."""
    where = layer_dir / RECORD_NAME
    if not where.is_file():
        return  # not a built layer: the tests' and a checkout's own environment
    built = LayerBuild.from_json(where.read_text(), where)
    if python != built.python:
        runs, wanted = ".".join(map(str, python)), ".".join(map(str, built.python))
        raise LayerMismatch(
            f"the wildcert layer was built for Python {wanted} (its bytecode and native code) "
            f"but this function runs Python {runs} ({sys.executable}): set the functions' "
            f"Runtime to python{wanted} in template.yaml, or build the layer for "
            f"{runs} (RUNTIME_PYTHON_VERSION in {MAKEFILE}), then sam build and sam deploy.")
    for name in SDK:
        _check_sdk(name, built.sdk[name], layer_dir)


def _check_sdk(name: str, version: str, layer_dir: Path) -> None:
    spec = importlib.util.find_spec(name)
    origin = Path(os.path.abspath(spec.origin)) if spec and spec.origin else None
    try:
        found = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        found = "none"
    if origin is not None and origin.is_relative_to(layer_dir) and found == version:
        return
    raise LayerMismatch(
        f"the wildcert layer ships {name} {version} (the version its tests ran with) but this "
        f"function imports {name} {found} from {origin or 'nowhere'}: remove the copy that "
        f"comes before the layer's on sys.path ({layer_dir}), such as one in the function's "
        "package or in another layer, then deploy again.")


if __name__ == "__main__":  # the layer's Makefile: python -m wildcert.layer_build DIR VERSION
    print(record(Path(sys.argv[1]), sys.argv[2]).to_json(), end="")
