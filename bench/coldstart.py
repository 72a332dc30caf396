"""Cold start: a fresh Python process that imports a tool's entry point, timed from outside.

Wall time is from spawn to exit as the parent sees it; peak RSS is the child's own maximum
resident set (`wait4`'s rusage, so other processes never mix in). The child also reports the
time of the import alone. A bare `python -c pass` of the same interpreter is the baseline.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.wildcert_runner import FUNCTION, LAYER

_TIMED_IMPORT = """
import time
t0 = time.perf_counter()
{imports}
print(time.perf_counter() - t0)
"""

WILDCERT_IMPORTS = (
    f"import sys; sys.path[:0] = [{str(FUNCTION)!r}, {str(LAYER)!r}]\nimport app"
)
CERTBOT_IMPORTS = "import certbot.main\nimport certbot_dns_route53._internal.dns_route53"
BASELINE_IMPORTS = "pass"


@dataclass(frozen=True)
class ColdStart:
    wall: float
    import_seconds: float
    peak_rss_mib: float


def measure(python: Path, imports: str, env: dict[str, str] | None = None) -> ColdStart:
    """One fresh process importing `imports`."""
    code = _TIMED_IMPORT.format(imports=imports)
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(python), "-c", code], stdout=subprocess.PIPE, stderr=errors,
            env=env if env is not None else dict(os.environ),
        )
        assert process.stdout is not None
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # the child's own rusage
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
        if process.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{python} could not import:\n{errors.read().decode()[-2000:]}")
    return ColdStart(wall, float(output.decode().strip()), usage.ru_maxrss / 1024)


def quiet_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(extra)
    return env
