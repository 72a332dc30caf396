"""Cold start: a fresh Python process that imports a tool's entry point, timed from outside.

Wall time is from spawn to exit as the launcher sees it; peak RSS is the child's own maximum
resident set (`wait4`'s rusage, so other processes never mix in; see bench/process.py). The
child also reports the time of the import alone. A bare `python -c pass` of the same
interpreter is the baseline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench import process
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
    """One fresh process importing `imports` (started by bench/process.py's launcher)."""
    code = _TIMED_IMPORT.format(imports=imports)
    done = process.run([str(python), "-c", code],
                       env=env if env is not None else dict(os.environ))
    if done.returncode != 0:
        raise RuntimeError(f"{python} could not import:\n{done.stderr[-2000:]}")
    return ColdStart(done.wall, float(done.stdout.strip()), done.peak_rss_mib)


def quiet_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(extra)
    return env
