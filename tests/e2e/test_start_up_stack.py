"""A new container's first requests on the local stack load only what they use.

A request that is rejected or skipped never reaches the CA: the issuer's real handler, in a
fresh interpreter as a new Lambda container runs it, answers both without loading `acme`,
`josepy`, `requests` or dnspython. The issuance that follows in the same process loads them
(the watch is not blind), and makes its ACME session in the head start's threads, while the
bucket's requests are on their way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.e2e.support import ISSUER, invoke, unique
from wildcert.adapters import acme as acme_client

REPO = Path(__file__).resolve().parents[2]
WATCHED = ("acme", "josepy", "requests", "dns")

PROBE = """
import json, sys, time, uuid
from types import SimpleNamespace

import app

WATCHED = {watched!r}


def context():
    end = time.monotonic() + 300
    return SimpleNamespace(
        function_name="wildcert-issuer-local", function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:wildcert-issuer",
        memory_limit_in_mb=512, aws_request_id=str(uuid.uuid4()),
        log_group_name="/aws/lambda/wildcert-issuer", log_stream_name="local",
        get_remaining_time_in_millis=lambda: int((end - time.monotonic()) * 1000))


answers = []
for event in json.loads(sys.argv[1]):
    status = app.handler(event, context())["status"]
    loaded = sorted(w for w in WATCHED if any(m == w or m.startswith(w + ".") for m in sys.modules))
    answers.append({{"status": status, "loaded": loaded}})
print(json.dumps(answers))
"""


def _request(label: str) -> dict[str, object]:
    return {"domains": [f"*.{label}.example.com", f"{label}.example.com"], "name": label}


def test_rejected_and_skipped_requests_never_load_the_acme_stack() -> None:
    issued = unique("su")
    assert invoke(ISSUER, _request(issued))["status"] == "issued"
    events = [
        {"domains": ["*.example.org"], "name": "outside the zones"},
        _request(issued),  # issued above and far from renewal: skipped
        _request(unique("sn")),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "functions" / "issuer"), str(REPO / "layers" / "wildcert")])
    env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(watched=WATCHED), json.dumps(events)],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    rejected, skipped, ordered = json.loads(done.stdout.strip().splitlines()[-1])
    assert rejected == {"status": "rejected", "loaded": []}
    assert skipped == {"status": "skipped", "loaded": []}
    assert ordered == {"status": "issued", "loaded": sorted(WATCHED)}


def test_the_acme_session_is_made_ahead_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    made_in: list[str] = []
    real = acme_client.AcmeSession.__init__

    def noted(self: acme_client.AcmeSession, *args: object, **kwargs: object) -> None:
        made_in.append(threading.current_thread().name)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(acme_client.AcmeSession, "__init__", noted)
    assert invoke(ISSUER, _request(unique("sh")))["status"] == "issued"
    assert len(made_in) == 1 and made_in[0].startswith("wildcert-head-start"), made_in
