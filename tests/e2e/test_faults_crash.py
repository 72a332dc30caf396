"""The Lambda dying mid-order: the handler runs in a process that `os._exit(137)`s at a chosen
point, as a Lambda killed at its timeout or by the runtime would. The next attempt must remove
the challenge values the dead one left, and never get a second certificate for one request:
after the download it must finish the dead attempt's order (same serial, same key).

The dead attempt's lease lasts its deadline + 60 s; rather than sleep that long, the test ends
it in the journal (faults_support.expire_lease) before the next attempt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack import Stack
from tests.e2e.faults_support import (
    archive_serials,
    expire_lease,
    journal,
    leftover_challenges,
    orders_for,
    stored,
)
from tests.e2e.support import ISSUER, invoke, wildcard_request

pytestmark = pytest.mark.usefixtures("fresh_faults")

REPO = Path(__file__).resolve().parents[2]
KILLED = 137
# Invokes the real handler; `point` names the method that kills the process when it is reached.
CHILD = """
import json, os, sys
sys.path.insert(0, "functions")  # as pytest's pythonpath has it
from tests.e2e.support import ISSUER, invoke
from wildcert.adapters.acme import AcmeSession
from wildcert.adapters.bucket.certificates import CertificateStore

point, request = sys.argv[1], json.loads(sys.argv[2])

def after_txt(self, pending):
    os._exit(137)

def after_download(self, meta, issued):
    print(json.dumps({"serial": meta.serial}), flush=True)
    os._exit(137)

if point == "answer":
    AcmeSession.answer = after_txt
else:
    CertificateStore.save = after_download
invoke(ISSUER, request)
"""


def _die_at(point: str, request: dict[str, object]) -> subprocess.CompletedProcess[str]:
    died = subprocess.run(
        [sys.executable, "-c", CHILD, point, json.dumps(request)],
        env=dict(os.environ), cwd=REPO, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert died.returncode == KILLED, died.stderr[-3000:]
    return died


def _next_attempt(label: str, request: dict[str, object]) -> dict[str, object]:
    """The delivery after the dead attempt's lease ran out."""
    expire_lease(label)
    return invoke(ISSUER, request)


def _while_the_lease_holds(stack: Stack, request: dict[str, object]) -> None:
    """A duplicate delivery now stands down and touches nothing."""
    left, orders = leftover_challenges(), len(orders_for(stack, request["domains"]))
    busy = invoke(ISSUER, request)
    assert busy["status"] == "busy", busy
    assert leftover_challenges() == left
    assert len(orders_for(stack, request["domains"])) == orders


def test_killed_after_adding_the_txt_values(stack: Stack) -> None:
    label, request = wildcard_request("ka")
    _die_at("answer", request)
    dead = journal(label)
    assert dead is not None and dead["records"] and dead["order_url"], dead
    left = leftover_challenges()
    assert f"_acme-challenge.{label}.example.com." in left, left
    _while_the_lease_holds(stack, request)

    result = _next_attempt(label, request)
    assert result["status"] == "issued", result
    # The dead order was never validated: a new order, still one certificate.
    assert result["recovered"] is False
    assert len(orders_for(stack, request["domains"])) == 2
    meta = stored(label, request["domains"])
    assert archive_serials(label) == {meta["serial"]} == {result["serial"]}
    assert leftover_challenges() == {}
    assert journal(label) is None


def test_killed_after_the_download_before_storing(stack: Stack) -> None:
    label, request = wildcard_request("kd")
    died = _die_at("save", request)
    (line,) = [x for x in died.stdout.splitlines() if x.startswith('{"serial"')]
    serial = json.loads(line)["serial"]
    dead = journal(label)
    assert dead is not None and dead["order_url"] and dead["key_pem"], dead
    assert archive_serials(label) == set()
    _while_the_lease_holds(stack, request)

    result = _next_attempt(label, request)
    assert result["status"] == "issued" and result["recovered"] is True, result
    assert result["serial"] == serial
    assert len(orders_for(stack, request["domains"])) == 1
    stored(label, request["domains"])
    assert archive_serials(label) == {serial}
    assert leftover_challenges() == {}
    assert journal(label) is None
