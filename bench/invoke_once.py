"""One issuer invocation in a fresh process: `invoke_once.py LABEL OUT.json [--count]`.

Times the import of functions/issuer/app.py and the first handler call (a new Lambda
container's first request) and writes them to OUT.json; with --count, also the work counters
(installing them makes the boto3 clients before the call, so counted runs are not timed ones).
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()
STARTED_EPOCH = time.time()

import json  # noqa: E402 - the clock starts before anything is imported
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def main(label: str, out: Path, count: bool) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench import wildcert_runner

    app = wildcert_runner.import_handler()
    imported = time.perf_counter()
    counters = wildcert_runner.WorkCounters()
    if count:
        counters.install()
        counters.reset()
    handler_seconds, _ = wildcert_runner.invoke(app, label)
    returned_epoch = time.time()  # what follows (interpreter teardown) a Lambda never pays
    out.write_text(json.dumps({
        "started_epoch": STARTED_EPOCH,
        "returned_epoch": returned_epoch,
        "import_seconds": imported - STARTED,
        "handler_seconds": handler_seconds,
        "work": counters.snapshot() if count else {},
    }))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), "--count" in sys.argv[3:])
