"""The Lambda entry points as deployed: the handler modules template.yaml names, and every
sample event in events/ through its function's handler on the local stack, with the outcome
events/README.md documents.

The samples name fixed certificates (example-com, and alpha.web of team alpha in
local_stack/teams.toml) and chain: the issuer samples create what the sweep and watch samples
then find.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e import test_renewal_sweep as sweep_e2e
from tests.e2e.support import (
    EVENTS,
    FUNCTIONS,
    ISSUER,
    REPO,
    SWEEP,
    WATCH,
    Function,
    assert_valid_stored,
    challenge_values,
    client,
    invoke,
    s3_keys,
    sample_event,
    slack_payloads,
    stored_set,
)
from tests.e2e.test_renewal_sweep import Queued, receive_all
from tests.infra.infra_template import load_sam
from wildcert.jobs.issue import entry as issue_entry
from wildcert.jobs.sweep import entry as sweep_entry
from wildcert.jobs.watch import entry as watch_entry

queue = sweep_e2e.queue  # a queue of the test's own as RENEWAL_QUEUE_URL; prefixes to remove
cleanup = sweep_e2e.cleanup

# Every sample and the function it is for; test_every_sample_... runs them in this order.
SAMPLES: dict[str, Function] = {
    "issue-wildcard.json": ISSUER,
    "issue-eventbridge.json": ISSUER,
    "issue-team-refused.json": ISSUER,
    "issue-rejected.json": ISSUER,
    "issue-renewal-sqs.json": ISSUER,
    "sweep-scheduled.json": SWEEP,
    "sweep-dry-run.json": SWEEP,
    "sweep-force-incident.json": SWEEP,
    "watch-scheduled.json": WATCH,
    "watch-refresh-ari.json": WATCH,
    "issue-revoke-key-compromise.json": ISSUER,
}
WILDCARD = ("example-com", ["*.example.com", "example.com"])  # issue-wildcard.json
TEAM = ("alpha.web", ["*.alpha.team.example.com", "alpha.team.example.com", "*.alpha.example.net"])
OURS = (WILDCARD[0], TEAM[0])
ENTRIES = {ISSUER: issue_entry.handler, SWEEP: sweep_entry.handler, WATCH: watch_entry.handler}


# -- the handlers are what the template deploys --------------------------------------------------


def _parameter_default(sam: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return sam["Parameters"][value["Ref"]]["Default"]
    return value


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.logical_id)
def test_handler_is_the_one_the_template_deploys(function: Function) -> None:
    sam = load_sam()
    props = sam["Resources"][function.logical_id]["Properties"]
    assert props["CodeUri"] == f"functions/{function.directory}/"
    assert props["Handler"] == "app.handler"
    assert props["Timeout"] == function.timeout
    assert int(_parameter_default(sam, props["MemorySize"])) == function.memory_mb
    # functions/<dir>/ has no __init__.py: on pytest's pythonpath it is a namespace package,
    # and <dir>.app is the file Lambda loads as app.py.
    module = importlib.import_module(f"{function.directory}.app")
    package = sys.modules[function.directory]
    assert getattr(package, "__file__", None) is None
    # (every entry of its path is that directory: pytest-xdist can put functions/ twice on
    # sys.path)
    assert set(package.__path__) == {str(REPO / "functions" / function.directory)}
    assert module.__file__ == str(REPO / "functions" / function.directory / "app.py")
    assert function.handler is module.handler is ENTRIES[function]


def test_the_context_is_what_lambda_hands_a_handler() -> None:
    context = ISSUER.context(12)
    assert context.function_name.startswith("wildcert-IssuerFunction")
    assert context.invoked_function_arn.endswith(f":function:{context.function_name}")
    assert context.memory_limit_in_mb == "512"
    assert 11_000 < context.get_remaining_time_in_millis() <= 12_000
    assert ISSUER.context(-1).get_remaining_time_in_millis() == 0
    assert context.aws_request_id != ISSUER.context(12).aws_request_id


# -- every sample through its handler ------------------------------------------------------------


def test_every_function_has_samples_and_every_sample_a_function() -> None:
    on_disk = {path.name for path in EVENTS.glob("*.json")}
    assert on_disk == set(SAMPLES), "a sample without a function here, or a missing file"
    assert set(SAMPLES.values()) == set(FUNCTIONS)
    for filename, function in SAMPLES.items():
        prefix = {ISSUER: "issue-", SWEEP: "sweep-", WATCH: "watch-"}[function]
        assert filename.startswith(prefix), filename


def _cert_json_versions(name: str) -> int:
    versions = client("s3").list_object_versions(
        Bucket=os.environ["CERT_BUCKET"], Prefix=f"{name}/cert.json"
    ).get("Versions", [])
    return len([v for v in versions if v["Key"] == f"{name}/cert.json"])


def _ours(queued: list[Queued]) -> dict[str, Queued]:
    return {q.name: q for q in queued if q.name in OURS}


def _issue_wildcard(result: dict[str, Any], queue: str) -> None:
    assert result["status"] == "issued", result
    assert (result["name"], sorted(result["domains"])) == (WILDCARD[0], sorted(WILDCARD[1]))
    assert_valid_stored(*WILDCARD)
    assert challenge_values() == {}


def _issue_eventbridge(result: dict[str, Any], queue: str) -> None:
    assert result["status"] == "issued", result
    assert_valid_stored(*TEAM, key_type="ec384")
    assert challenge_values() == {}


def _issue_team_refused(result: dict[str, Any], queue: str) -> None:
    # Team beta asks for alpha.web, which issue-eventbridge.json just gave team alpha.
    assert result["status"] == "rejected" and result["stage"] == "policy", result
    assert result["rules"] == ["name-outside-namespace"] and result["team"] == "beta"
    assert stored_set(TEAM[0])[0]["team"] == "alpha"


def _issue_rejected(result: dict[str, Any], queue: str) -> None:
    assert result["status"] == "rejected", result
    assert len(result["problems"]) >= 7 and "../etc" in result["message"], result


def _issue_renewal_sqs(result: dict[str, Any], queue: str) -> None:
    # The message renews a serial example-com no longer has: a stale renewal, skipped.
    assert result["batchItemFailures"] == [], result
    (outcome,) = result["results"]
    assert outcome["status"] == "skipped" and "stale renewal request" in outcome["reason"]
    assert outcome["serial"] == stored_set(WILDCARD[0])[0]["serial"]


def _sweep_scheduled(result: dict[str, Any], queue: str) -> None:
    assert result["status"] == "ok" and result["dry_run"] is False, result
    assert result["checked"] >= len(OURS)
    assert not set(OURS) & set(result["due"] + result["forced"] + result["queued"])
    assert _ours(receive_all(queue)) == {}


def _sweep_dry_run(result: dict[str, Any], queue: str) -> None:
    assert result["status"] == "ok" and result["dry_run"] is True, result
    assert WILDCARD[0] in result["forced"] and TEAM[0] not in result["forced"]
    assert result["queued"] == [] and receive_all(queue) == []


def _sweep_force_incident(result: dict[str, Any], queue: str) -> None:
    assert result["status"] == "ok", result
    # shop.example.com is covered by example-com's *.example.com; alpha.web by name.
    assert set(OURS) <= set(result["forced"]) and set(OURS) <= set(result["queued"])
    unmatched = result["unmatched"]
    assert unmatched["names"] == [] and unmatched["domains"] == [], unmatched
    assert len(unmatched["serials"]) == 2, unmatched
    queued = _ours(receive_all(queue))
    assert set(queued) == set(OURS)
    for name, message in queued.items():
        assert message.reason == "forced" and message.body["force"] is True
        assert message.body["renews"] == stored_set(name)[0]["serial"]


def _watch_scheduled(result: dict[str, Any], queue: str) -> None:
    assert result["status"] == "ok" and result["dry_run"] is False, result
    assert result["checked"] >= len(OURS)
    assert not [f for f in result["findings"] if f["name"] in OURS], result["findings"]
    assert not set(OURS) & set(result["queued"])


def _watch_refresh_ari(result: dict[str, Any], queue: str) -> None:
    assert result["status"] == "ok", result
    assert result["ari"]["refreshed"] >= len(OURS)
    assert not [p for p in result["ari"]["problems"] if p["name"] in OURS]
    assert not set(OURS) & set(result["queued"])


def _issue_revoke_key_compromise(result: dict[str, Any], queue: str) -> None:
    # The incident runbook's one command (docs/CAS.md): revoked, and replaced with a new key.
    assert result["status"] == "revoked" and result["reason"] == "keyCompromise", result
    (done,) = result["certificates"]
    meta = stored_set(WILDCARD[0])[0]
    assert done["name"] == WILDCARD[0] and done["replaced_by"] == meta["serial"] != done["serial"]
    assert meta["revoked"][0]["serial"] == done["serial"]


Check = Callable[[dict[str, Any], str], None]
OUTCOMES: dict[str, Check] = {
    "issue-wildcard.json": _issue_wildcard,
    "issue-eventbridge.json": _issue_eventbridge,
    "issue-team-refused.json": _issue_team_refused,
    "issue-rejected.json": _issue_rejected,
    "issue-renewal-sqs.json": _issue_renewal_sqs,
    "sweep-scheduled.json": _sweep_scheduled,
    "sweep-dry-run.json": _sweep_dry_run,
    "sweep-force-incident.json": _sweep_force_incident,
    "watch-scheduled.json": _watch_scheduled,
    "watch-refresh-ari.json": _watch_refresh_ari,
    "issue-revoke-key-compromise.json": _issue_revoke_key_compromise,
}
# Slack messages each sample must cause: the issuer tells of an issuance or a rejection (team
# alpha's in its channel and the operators'; beta has no channel of its own), the sweep always
# posts its summary; the watch posts only findings (other tests' are possible).
SLACK = {"issue-wildcard.json": 1, "issue-eventbridge.json": 2, "issue-team-refused.json": 1,
         "issue-rejected.json": 1,
         "issue-renewal-sqs.json": 0, "sweep-scheduled.json": 1, "sweep-dry-run.json": 1,
         "sweep-force-incident.json": 1, "issue-revoke-key-compromise.json": 1}


def test_every_sample_event_through_its_handler(queue: str, cleanup: list[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert list(OUTCOMES) == list(SAMPLES)
    cleanup.extend(f"{name}/" for name in OURS)
    for name in OURS:  # the samples' fixed names must start from nothing
        assert not s3_keys(f"{name}/"), f"{name} already exists on this stack"
    for filename, function in SAMPLES.items():
        ari_versions = {name: _cert_json_versions(name) for name in OURS}
        posted = len(slack_payloads())
        event = sample_event(filename)
        if filename == "issue-renewal-sqs.json":  # a message of the deployed renewal queue
            monkeypatch.setenv("RENEWAL_QUEUE_ARN", event["Records"][0]["eventSourceARN"])
        result = invoke(function, event)
        OUTCOMES[filename](result, queue)
        if filename in SLACK:
            assert len(slack_payloads()) - posted == SLACK[filename], filename
        if filename == "watch-scheduled.json":  # the CA is asked again in hours, not now
            assert {n: _cert_json_versions(n) for n in OURS} == ari_versions
        if filename == "watch-refresh-ari.json":  # asked now: each window stored again
            assert {n: _cert_json_versions(n) for n in OURS} == {
                n: v + 1 for n, v in ari_versions.items()}
