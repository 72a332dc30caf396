"""One issuer invocation in a fresh process: `invoke_once.py LABEL OUT.json TREE [WARM]`.

Times the import of TREE's functions/issuer/app.py and the first handler call (a new Lambda
container's first request), reads the process's CPU and peak RSS at that call's return, then
times WARM more invocations (a warm container's), and writes it all to OUT.json.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()
STARTED_EPOCH = time.time()

import json  # noqa: E402 - the clock starts before anything is imported
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def main(label: str, out: Path, tree: Path, warm: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench import wildcert_runner

    app = wildcert_runner.import_handler(tree)
    imported = time.perf_counter()
    handler_seconds, _ = wildcert_runner.invoke(app, label)
    returned_epoch = time.time()  # what follows (interpreter teardown) a Lambda never pays
    times = os.times()
    at_return = {"cpu_seconds": times.user + times.system,
                 "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    warm_seconds = [wildcert_runner.invoke(app, f"{label}w{n}")[0] for n in range(warm)]
    out.write_text(json.dumps({
        "started_epoch": STARTED_EPOCH,
        "returned_epoch": returned_epoch,
        "import_seconds": imported - STARTED,
        "handler_seconds": handler_seconds,
        "at_return": at_return,
        "warm_seconds": warm_seconds,
    }))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]),
         int(sys.argv[4]) if len(sys.argv) > 4 else 0)
