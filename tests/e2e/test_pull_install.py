"""The documented install, for real: a clean venv, `pip install ./puller` from a copy of the
clone, and a pull with that venv's `wildcert-pull` against the local stack. Nothing of the
issuer is importable there, so this proves the puller stands alone.

pip reaches PyPI for boto3, cryptography and setuptools (its HTTP cache makes reruns quick).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.support import ISSUER, invoke, stored_set, unique
from tests.unit.test_puller_package import INSTALL

ROOT = Path(__file__).parents[2]
INSTALL_TIMEOUT = 600


def clean_env() -> dict[str, str]:
    """This process's environment (the stack's AWS settings) without our import paths."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def test_documented_install_then_pull(tmp_path: Path) -> None:
    clone, venv = tmp_path / "clone", tmp_path / "venv"
    shutil.copytree(ROOT / "puller", clone / "puller",
                    ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    # The base interpreter of this venv, as `python3` would be on a server.
    python3 = Path(getattr(sys, "_base_executable", sys.executable))
    command = INSTALL.replace("/opt/wildcert-pull", str(venv)).replace("python3", str(python3), 1)
    started = time.monotonic()
    installed = subprocess.run(["bash", "-c", command], cwd=clone, env=clean_env(),
                               capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                               check=False)
    took = time.monotonic() - started
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    print(f"venv + pip install ./puller took {took:.1f}s")

    cli, python = venv / "bin" / "wildcert-pull", venv / "bin" / "python"
    helped = subprocess.run([str(cli), "--help"], env=clean_env(), capture_output=True,
                            text=True, timeout=60, check=False)
    assert helped.returncode == 0, helped.stderr
    assert "--reload" in helped.stdout and "--dest" in helped.stdout
    alone = subprocess.run([str(python), "-c", "import wildcert"], env=clean_env(),
                           capture_output=True, text=True, timeout=60, check=False)
    assert alone.returncode != 0 and "ModuleNotFoundError" in alone.stderr

    label, dest = unique("v"), tmp_path / "dest"
    result = invoke(ISSUER, {"domains": [f"*.{label}.example.com", f"{label}.example.com"],
                             "name": label})
    assert result["status"] == "issued", result
    pulled = subprocess.run(
        [str(cli), "--bucket", os.environ["CERT_BUCKET"], "--name", label, "--dest", str(dest)],
        env=clean_env(), capture_output=True, text=True, timeout=120, check=False,
    )
    assert pulled.returncode == 0, pulled.stderr
    assert f"updated {label}" in pulled.stdout and str(result["serial"]) in pulled.stdout
    _, files = stored_set(label)
    assert {name: (dest / name).read_bytes() for name in files} == files
