"""Every sample in events/ through its function's real handler (functions/<fn>/app.handler),
in seconds: the container is given in-process fakes (tests/unit/fake_services.py) for the
bucket, Route 53, the CA, DNS, the event bus, the renewal queue and Slack. The samples chain as
events/README.md tells: the issuer's create what the sweep's and the watch's then find.
tests/e2e/test_entry_points.py sends the same samples to the same handlers on the local stack.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from local_stack.lambda_runtime import ISSUER, SWEEP, WATCH, Function
from tests.unit.fake_services import (
    KMS_KEY,
    FakeCa,
    FakeServices,
    MemoryBucket,
    MemoryRecords,
    RecordedEvents,
    RecordedSlack,
)
from wildcert import container
from wildcert.adapters.acme import RenewalInfoReader
from wildcert.adapters.bucket.certificates import CertificateStore
from wildcert.adapters.bucket.fleet import FleetInventory
from wildcert.adapters.bucket.inventory import ManagedCertificates
from wildcert.adapters.sqs import Renewal, RenewalQueue, SendResult
from wildcert.deadline import Deadline
from wildcert.logic.teams import Teams
from wildcert.logic.zones import HostedZone
from wildcert.settings import Settings

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
ZONES = (HostedZone("ZEXAMPLECOM", "example.com"), HostedZone("ZEXAMPLENET", "example.net"))
OPERATORS_SECRET = "wildcert/slack/operators"
ALPHA_SECRET = "wildcert/slack/alpha"  # local_stack/teams.toml's team alpha
QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/wildcert-RenewalQueue"
WILDCARD = ("example-com", ["*.example.com", "example.com"])
TEAM = ("alpha.web", ["*.alpha.team.example.com", "alpha.team.example.com",
                      "*.alpha.example.net"])
OURS = (WILDCARD[0], TEAM[0])


class FakeQueue(RenewalQueue):
    """The renewal queue: what was sent is kept."""

    def __init__(self, deadline: Deadline) -> None:
        super().__init__(None, QUEUE_URL, deadline)
        self.sent: list[Renewal] = []

    def send(self, renewals: Sequence[Renewal]) -> SendResult:
        self.sent.extend(renewals)
        return SendResult(tuple(r.name for r in renewals), ())


class FakeWindows(RenewalInfoReader):
    """The CA's ARI: every certificate's window a month away, each question kept."""

    def __init__(self, directory_url: str, deadline: Deadline) -> None:
        super().__init__(directory_url, deadline=deadline)
        self.asked: list[str] = []

    @property
    def url(self) -> str | None:
        return f"{self.directory_url}/ari"

    def fetch(self, cert_id: str) -> tuple[dict[str, Any], float | None]:
        self.asked.append(cert_id)
        start = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        window = {"start": start.isoformat(), "end": (start + dt.timedelta(days=1)).isoformat()}
        return {"suggestedWindow": window}, 21600.0


@dataclass
class World:
    """The outside systems, one set shared by every invocation (as the stack's are)."""

    bucket: MemoryBucket = field(default_factory=MemoryBucket)
    records: MemoryRecords = field(default_factory=lambda: MemoryRecords(ZONES))
    events: RecordedEvents = field(default_factory=RecordedEvents)
    slack: dict[str, RecordedSlack] = field(default_factory=dict)  # by webhook secret
    queued: list[Renewal] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)  # ARI CertIDs the CA was asked about
    ca: FakeCa = field(init=False)

    def __post_init__(self) -> None:
        self.ca = FakeCa(self.records)

    def services(self, settings: Settings, deadline: Deadline, teams: Teams) -> FakeServices:
        made = FakeServices(teams=teams, zones=ZONES)
        made.settings, made.deadline = settings, deadline
        made.memory, made.records, made.recorded_events, made.ca = (
            self.bucket, self.records, self.events, self.ca)
        return made

    def renewal_parts(self, settings: Settings, context: Any) -> dict[str, Any]:
        deadline = Deadline.from_context(context)
        queue = FakeQueue(deadline)
        queue.sent = self.queued
        windows = FakeWindows(settings.cas[0].directory_url, deadline)
        windows.asked = self.asked
        return {"settings": settings, "certificates": ManagedCertificates(self.bucket),
                "fleet": FleetInventory(self.bucket), "reader": windows, "queue": queue,
                "deadline": deadline}

    def notifier(self, secret_id: str) -> RecordedSlack:
        return self.slack.setdefault(secret_id, RecordedSlack())

    def posts(self) -> int:
        return sum(len(s.posted) for s in self.slack.values())

    def stored(self, name: str) -> Any:
        return CertificateStore(self.bucket).current(name)


def _issue_wildcard(result: dict[str, Any], world: World) -> None:
    assert result["status"] == "issued", result
    assert (result["name"], sorted(result["domains"])) == (WILDCARD[0], sorted(WILDCARD[1]))
    stored = world.stored(WILDCARD[0])
    assert stored is not None and sorted(stored.domains) == sorted(WILDCARD[1])
    assert stored.serial == result["serial"]
    assert all(not values for values in world.records.held.values())  # challenges removed


def _issue_eventbridge(result: dict[str, Any], world: World) -> None:
    assert result["status"] == "issued" and result["name"] == TEAM[0], result
    stored = world.stored(TEAM[0])
    assert stored is not None and sorted(stored.domains) == sorted(TEAM[1])
    assert stored.key_type == "ec384" and stored.extra["team"] == "alpha"
    assert len(world.slack[ALPHA_SECRET].posted) == 1  # the team's own channel heard


def _issue_team_refused(result: dict[str, Any], world: World) -> None:
    assert result["status"] == "rejected" and result["stage"] == "policy", result
    assert result["rules"] == ["name-outside-namespace"] and result["team"] == "beta"
    assert world.stored(TEAM[0]).extra["team"] == "alpha"


def _issue_rejected(result: dict[str, Any], world: World) -> None:
    assert result["status"] == "rejected", result
    assert len(result["problems"]) >= 7 and "../etc" in result["message"], result


def _issue_renewal_sqs(result: dict[str, Any], world: World) -> None:
    assert result["batchItemFailures"] == [], result
    (outcome,) = result["results"]
    assert outcome["status"] == "skipped" and "stale renewal request" in outcome["reason"]
    assert outcome["serial"] == world.stored(WILDCARD[0]).serial


def _sweep_scheduled(result: dict[str, Any], world: World) -> None:
    assert result["status"] == "ok" and result["dry_run"] is False, result
    assert result["checked"] == len(OURS)
    assert result["due"] == result["forced"] == result["queued"] == [] and world.queued == []


def _sweep_dry_run(result: dict[str, Any], world: World) -> None:
    assert result["status"] == "ok" and result["dry_run"] is True, result
    assert result["forced"] == [WILDCARD[0]]
    assert result["queued"] == [] and world.queued == []


def _sweep_force_incident(result: dict[str, Any], world: World) -> None:
    assert result["status"] == "ok", result
    assert sorted(result["forced"]) == sorted(result["queued"]) == sorted(OURS)
    unmatched = result["unmatched"]
    assert unmatched["names"] == unmatched["domains"] == [] and len(unmatched["serials"]) == 2
    assert sorted(r.name for r in world.queued) == sorted(OURS)
    for renewal in world.queued:
        assert renewal.reason == "forced" and renewal.force
        assert renewal.serial == world.stored(renewal.name).serial
    world.queued.clear()


def _watch_scheduled(result: dict[str, Any], world: World) -> None:
    assert result["status"] == "ok" and result["dry_run"] is False, result
    assert result["checked"] == len(OURS)
    assert result["findings"] == [] and result["queued"] == [] and world.queued == []
    # The sweep read both windows (with a Retry-After of hours): none is due for a check yet.
    assert result["ari"]["refreshed"] == 0 and len(world.asked) == len(OURS)


def _watch_refresh_ari(result: dict[str, Any], world: World) -> None:
    assert result["status"] == "ok", result
    assert result["ari"] == {"refreshed": len(OURS), "problems": []}
    assert sorted(world.asked[-2:]) == sorted(world.stored(n).extra["ari_id"] for n in OURS)
    assert all("ari" in world.stored(n).extra for n in OURS)  # stored in cert.json
    assert result["queued"] == []


def _issue_revoke_key_compromise(result: dict[str, Any], world: World) -> None:
    assert result["status"] == "revoked" and result["reason"] == "keyCompromise", result
    (done,) = result["certificates"]
    meta = world.stored(WILDCARD[0])
    assert done["name"] == WILDCARD[0] and done["replaced_by"] == meta.serial != done["serial"]
    assert meta.extra["revoked"][0]["serial"] == done["serial"]
    assert list(world.ca.revoked.values()) == [1]  # RFC 5280 keyCompromise, at the CA


Check = Callable[[dict[str, Any], World], None]

# Every sample, in the order events/README.md's table chains them: its function, the outcome
# the table documents, and how many Slack posts it makes (the issuer tells of an issuance or a
# rejection, team alpha's in its own channel too; the sweep always posts its summary; the watch
# only findings, and here there are none).
SAMPLES: dict[str, tuple[Function, Check, int]] = {
    "issue-wildcard.json": (ISSUER, _issue_wildcard, 1),
    "issue-eventbridge.json": (ISSUER, _issue_eventbridge, 2),
    "issue-team-refused.json": (ISSUER, _issue_team_refused, 1),
    "issue-rejected.json": (ISSUER, _issue_rejected, 1),
    "issue-renewal-sqs.json": (ISSUER, _issue_renewal_sqs, 0),
    "sweep-scheduled.json": (SWEEP, _sweep_scheduled, 1),
    "sweep-dry-run.json": (SWEEP, _sweep_dry_run, 1),
    "sweep-force-incident.json": (SWEEP, _sweep_force_incident, 1),
    "watch-scheduled.json": (WATCH, _watch_scheduled, 0),
    "watch-refresh-ari.json": (WATCH, _watch_refresh_ari, 0),
    "issue-revoke-key-compromise.json": (ISSUER, _issue_revoke_key_compromise, 1),
}
PREFIXES = {ISSUER: "issue-", SWEEP: "sweep-", WATCH: "watch-"}
DOC_NAMES = {ISSUER: "issuer", SWEEP: "renewal sweep", WATCH: "watch"}  # events/README.md's


def documented() -> dict[str, tuple[str, str]]:
    """events/README.md's table: each sample's function and the status its outcome starts
    with (| `file` | function | what it is | `status` ... |)."""
    rows: dict[str, tuple[str, str]] = {}
    for line in (EVENTS / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and cells[0].endswith(".json`"):
            rows[cells[0].strip("`")] = (cells[1], cells[3].split("`")[1])
    return rows


def status_of(result: dict[str, Any]) -> str:
    """The outcome's status; an SQS batch's is its one record's."""
    if "batchItemFailures" in result:
        (outcome,) = result["results"]
        return str(outcome["status"])
    return str(result["status"])


def sample(filename: str) -> Any:
    return json.loads((EVENTS / filename).read_text(encoding="utf-8"))


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The functions' settings as the stack has them, and a container given the fakes."""
    made = World()
    env = {"CERT_BUCKET": made.bucket.name, "KMS_KEY_ID": KMS_KEY, "EVENT_BUS_NAME": "bus",
           "ALLOWED_ZONES": ",".join(z.id for z in ZONES),
           "TEAMS_FILE": str(REPO / "local_stack" / "teams.toml"),
           "SLACK_WEBHOOK_SECRET": OPERATORS_SECRET, "RENEWAL_QUEUE_URL": QUEUE_URL,
           "RENEWAL_QUEUE_ARN": sample("issue-renewal-sqs.json")["Records"][0][
               "eventSourceARN"]}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    container.start_afresh(container.Outside(made.services, made.renewal_parts, made.notifier))
    yield made
    container.start_afresh()


def test_every_sample_is_mapped_to_its_function() -> None:
    on_disk = {path.name for path in EVENTS.glob("*.json")}
    assert on_disk == set(SAMPLES), "a sample in events/ without a function and outcome here"
    # events/outcomes/ holds what the issuer puts on the bus, not inputs: a new folder of
    # inputs would need its samples listed here.
    assert {p.name for p in EVENTS.iterdir() if p.is_dir()} == {"outcomes"}
    assert {function for function, _, _ in SAMPLES.values()} == {ISSUER, SWEEP, WATCH}
    assert {name: DOC_NAMES[function] for name, (function, _, _) in SAMPLES.items()} == {
        name: function for name, (function, _) in documented().items()}
    for filename, (function, _, _) in SAMPLES.items():
        assert filename.startswith(PREFIXES[function]), filename


def test_every_sample_through_its_handler_has_its_documented_outcome(world: World) -> None:
    statuses = {name: status for name, (_, status) in documented().items()}
    for filename, (function, check, posts) in SAMPLES.items():
        posted = world.posts()
        result = function.handler(sample(filename), function.context(60))
        result = json.loads(json.dumps(result))  # what Lambda hands back: JSON
        assert status_of(result) == statuses[filename], (filename, result)
        check(result, world)
        assert world.posts() - posted == posts, filename
    # On the bus: each request's outcome (the re-key after a revocation is a renewal).
    assert [kind for kind, _ in world.events.sent] == [
        "issued", "issued", "rejected", "rejected", "skipped", "renewed"]
