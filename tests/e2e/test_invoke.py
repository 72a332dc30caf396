"""`python -m local_stack invoke` (`make invoke`): any function's real handler on a running
local stack, as a team through the request bus and its rule, as the operators, with a sample
event, or fed from the renewal queue, with what came of it printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tests.e2e.support import REPO, client, stored_set, unique

if TYPE_CHECKING:
    from local_stack import Stack


def run_invoke(stack: Stack, *args: str, directory: Path | None = None
               ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WILDCERT_"))}
    return subprocess.run(
        [sys.executable, "-m", "local_stack", "invoke", *args,
         "--dir", str(directory or stack.directory)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def answers(output: str) -> list[dict]:
    """The handler's answers in the tool's printout: the indented JSON document after each
    `== ` line (the metrics' one-line JSON may come before it)."""
    found = []
    decoder = json.JSONDecoder()
    for part in output.split("\n== ")[1:]:
        start = part.index("\n{\n")
        found.append(decoder.raw_decode(part[start + 1:])[0])
    return found


def test_a_team_request_goes_through_the_bus_and_its_rule(stack: Stack) -> None:
    label = unique("inv")
    request = {"domains": [f"*.{label}.alpha.example.com"], "name": f"alpha.{label}"}
    done = run_invoke(stack, "issuer", "--team", "alpha", "--request", json.dumps(request))
    assert done.returncode == 0, done.stderr
    (answer,) = answers(done.stdout)
    assert answer["status"] == "issued" and answer["team"] == "alpha", answer
    assert answer["requester"]["source"] == "wildcert.team.alpha"
    assert answer["requester"]["account"] == "123456789012"
    assert "the request bus's rules: wildcert.team.alpha" in done.stdout
    assert f"outcome event: wildcert.certificate.issued  team alpha  alpha.{label}" in done.stdout
    assert stored_set(f"alpha.{label}")[0]["team"] == "alpha"
    # The same team outside its policy is refused by the issuer, and says so.
    other = run_invoke(stack, "issuer", "--team", "alpha", "--request",
                       json.dumps({"domains": [f"{label}.beta.example.net"]}))
    assert other.returncode == 0, other.stderr
    assert answers(other.stdout)[0]["rules"] == ["suffix-not-allowed"]


def test_what_put_events_sent_is_delivered_and_a_mistyped_source_is_answered(
        stack: Stack) -> None:
    label = unique("bus")
    events = client("events")
    for source in ("wildcert.team.beta", "wildcert.teams.beta"):
        detail = {"domains": [f"{label}.beta.example.net"], "name": f"beta.{label}-{source[-6]}"}
        events.put_events(Entries=[{
            "EventBusName": "wildcert-requests", "Source": source,
            "DetailType": "wildcert.certificate.requested", "Detail": json.dumps(detail)}])
    done = run_invoke(stack, "issuer", "--requests")
    assert done.returncode == 0, done.stderr
    mine = {a["requester"]["source"]: a for a in answers(done.stdout) if label in json.dumps(a)}
    # template.yaml's IssueRequestRule routed the team's request; its UnmatchedRequestRule the
    # mistyped source, which the issuer answers instead of it vanishing.
    assert mine["wildcert.team.beta"]["status"] == "issued", done.stdout
    mistyped = mine["wildcert.teams.beta"]
    assert (mistyped["status"], mistyped["rules"]) == ("rejected", ["unknown-source"])
    assert "the request bus's rules: wildcert.teams.beta" in done.stdout
    again = run_invoke(stack, "issuer", "--requests")
    assert label not in again.stdout  # delivered once, then deleted as Lambda does


def test_a_sweep_queues_and_the_issuer_drains_the_renewal_queue(stack: Stack) -> None:
    label = unique("ren")
    issued = run_invoke(stack, "issuer", "--operators", "--request",
                        json.dumps({"domains": [f"{label}.example.com"], "name": label}))
    assert answers(issued.stdout)[0]["status"] == "issued", issued.stdout + issued.stderr
    serial = stored_set(label)[0]["serial"]
    sweep = run_invoke(stack, "renewal_sweep", "--request",
                       json.dumps({"force": {"names": [label]}}))
    assert sweep.returncode == 0, sweep.stderr
    assert label in answers(sweep.stdout)[0]["queued"]
    assert "make invoke FN=issuer RENEWALS=1" in sweep.stdout
    drained = run_invoke(stack, "issuer", "--renewals")
    assert drained.returncode == 0, drained.stderr
    (renewal,) = [a for a in answers(drained.stdout) if label in json.dumps(a)]
    assert renewal["batchItemFailures"] == [], renewal
    assert f"outcome event: wildcert.certificate.renewed  team None  {label}" in drained.stdout
    assert stored_set(label)[0]["serial"] != serial
    queue = stack.env["RENEWAL_QUEUE_URL"]
    left = client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                         VisibilityTimeout=0).get("Messages", [])
    assert not [m for m in left if label in m["Body"]]


def test_a_sample_event_as_is_and_the_watch(stack: Stack) -> None:
    done = run_invoke(stack, "watch", "events/watch-scheduled.json")
    assert done.returncode == 0, done.stderr
    assert answers(done.stdout)[0]["status"] == "ok"


def test_mistakes_are_told(stack: Stack, tmp_path: Path) -> None:
    no_stack = run_invoke(stack, "issuer", "events/issue-wildcard.json", directory=tmp_path)
    assert no_stack.returncode == 1
    assert f"no local stack runs in {tmp_path}" in no_stack.stderr
    assert "make stack-start" in no_stack.stderr
    wrong = run_invoke(stack, "watch", "--team", "alpha", "--request", "{}")
    assert (wrong.returncode, wrong.stderr.strip()) == (
        1, "local-stack invoke: --team is for the issuer, not watch")
    unknown = run_invoke(stack, "isuer", "events/issue-wildcard.json")
    assert "no function 'isuer': one of issuer, renewal_sweep, watch" in unknown.stderr
    nothing = run_invoke(stack, "issuer")
    assert "give an EVENT file" in nothing.stderr and nothing.returncode == 1
