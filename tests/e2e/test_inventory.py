"""The fleet at a glance, end to end on the local stack: a team's certificate and one of the
operators' are issued, the sweep and the watch run, and `wildcert-pull inventory` prints them
(a team's own with `--team`, the whole fleet with `--all`), as a table and as JSON."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.support import ISSUER, SWEEP, WATCH, as_renewal_queue, client, invoke, unique
from tests.e2e.test_bad_policy import metric_lines
from tests.e2e.test_pull import CLI, TIMEOUT
from tests.e2e.test_teams import team_event


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=unique("inventory-"))["QueueUrl"]
    as_renewal_queue(url, monkeypatch.setenv)
    yield url
    sqs.delete_queue(QueueUrl=url)


def inventory(*arguments: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(CLI), "inventory", "--bucket", os.environ["CERT_BUCKET"],
                           *arguments], capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done


def test_issue_sweep_watch_then_the_inventory_prints_the_certificates(
        queue: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_NAMESPACE", "wildcert/local")  # as the template sets it
    label = unique("inv")
    team_name = f"alpha.{label}"
    issued = invoke(ISSUER, team_event("alpha", {"name": team_name,
                                                 "domains": [f"{label}.alpha.example.com"]}))
    assert issued["status"] == "issued", issued
    operators_name = unique("invop")
    ours = invoke(ISSUER, {"name": operators_name, "domains": [f"{operators_name}.example.com"]})
    assert ours["status"] == "issued", ours

    # The issuer wrote the rows already; the sweep and the watch add what they know.
    assert invoke(SWEEP, {})["status"] == "ok"
    assert invoke(WATCH, {})["status"] == "ok"
    # The dashboard's metrics, per team, in the log (embedded metric format).
    printed = capsys.readouterr().out
    issued_lines = metric_lines(printed, "Issued")
    assert {line["team"] for line in issued_lines} >= {"alpha", "operators"}
    days = [line for line in metric_lines(printed, "DaysToSoonestExpiry")
            if line["team"] == "alpha"]
    assert len(days) == 2 and all(line["DaysToSoonestExpiry"][0] > 0 for line in days)

    table = inventory("--team", "alpha").stdout
    (line,) = [x for x in table.splitlines() if x.startswith(team_name + " ")]
    for shown in ("alpha", f"{label}.alpha.example.com", issued["serial"], issued["not_after"],
                  "not due", "issued", "none"):
        assert shown in line, (shown, line)
    assert operators_name not in table  # a team sees its own only

    listed = json.loads(inventory("--all", "--json").stdout)["certificates"]
    by_name = {row["name"]: row for row in listed}
    mine, theirs = by_name[team_name], by_name[operators_name]
    assert mine["team"] == "alpha" and theirs["team"] is None
    assert mine["serial"] == issued["serial"] and theirs["serial"] == ours["serial"]
    assert mine["renewal"]["state"] == "not due" and "watch" in mine["renewal"]["detail"]
    assert mine["last_outcome"]["status"] == "issued"
    assert mine["endpoints"]["state"] == "none"
    assert mine["days_left"] > 30
