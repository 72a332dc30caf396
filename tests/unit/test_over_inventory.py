"""The round the sweep and the watch share: read, refresh, plan, queue; and their reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from tests.unit.test_sweep import NOW, entry
from tests.unit.test_sweep_fanout import FakeSqs, no_sleep_deadline
from wildcert.adapters.bucket.archive import Cleanup
from wildcert.adapters.bucket.inventory import Broken, Entry, Inventory
from wildcert.adapters.sqs import RenewalQueue
from wildcert.jobs.sweep.job import Sweep, SweepEvent
from wildcert.jobs.watch.job import Watch, WatchEvent
from wildcert.settings import Settings, SettingsError

SETTINGS = Settings(bucket="certs", kms_key_id="key", allowed_zone_ids=("Z1",),
                    renewal_queue_url="https://sqs/q.fifo")


class FakeCertificates:
    """The inventory as ManagedCertificates loads it."""

    def __init__(self, entries: list[Entry], broken: tuple[Broken, ...] = ()):
        self.inventory = Inventory(tuple(entries), broken, ("orphan",))

    def load(self) -> Inventory:
        return self.inventory


class NoRenewalInfo:
    """A CA without ARI: the directory names no renewalInfo URL."""

    url = None


def parts(queue: RenewalQueue | None) -> dict[str, Any]:
    entries = [entry("fresh"), entry("old", age_days=85)]  # "old" expires in five days
    return {"settings": SETTINGS, "reader": NoRenewalInfo(), "queue": queue,
            "certificates": FakeCertificates(entries, (Broken("bad", "not JSON"),)),
            "now": lambda: NOW}


@pytest.mark.parametrize(("job", "event"), [(Sweep, SweepEvent()), (Watch, WatchEvent())])
def test_a_run_that_would_queue_needs_a_queue(job: Any, event: Any) -> None:
    with pytest.raises(SettingsError, match="RENEWAL_QUEUE_URL is not set"):
        job(**parts(None)).run(event)


@pytest.mark.parametrize(("job", "event"), [(Sweep, SweepEvent(dry_run=True)),
                                            (Watch, WatchEvent(dry_run=True))])
def test_a_dry_run_plans_without_a_queue(job: Any, event: Any) -> None:
    report = job(**parts(None)).run(event).as_dict()
    assert report["dry_run"] is True and report["queued"] == []
    assert [r["name"] for r in report["renewals"]] == ["old"]


def test_the_sweep_queues_what_is_due_and_reports_it_all() -> None:
    sqs = FakeSqs()
    report = Sweep(**parts(RenewalQueue(sqs, "https://sqs/q.fifo", no_sleep_deadline()))).run(
        SweepEvent())
    body = report.as_dict()
    assert set(body) == {"status", "dry_run", "checked", "due", "forced", "queued", "failed",
                         "renewals", "broken", "unmanaged", "unmatched", "ari"}
    assert body["status"] == "ok" and body["checked"] == 2
    assert body["due"] == ["old"] and body["forced"] == [] and body["queued"] == ["old"]
    assert body["broken"] == [{"name": "bad", "problem": "not JSON"}]
    assert body["unmanaged"] == ["orphan"]
    assert [e["MessageGroupId"] for e in sqs.accepted] == ["old"]
    assert any("bad" in line for line in report.message().lines)


def test_the_watch_queues_what_is_due_and_finds_what_is_wrong() -> None:
    sqs = FakeSqs(sender={"old"})
    report = Watch(**parts(RenewalQueue(sqs, "https://sqs/q.fifo", no_sleep_deadline()))).run(
        WatchEvent())
    body = report.as_dict()
    assert set(body) == {"status", "dry_run", "checked", "findings", "renewals", "queued",
                         "failed", "ari", "archived_keys", "endpoints"}
    assert body["endpoints"] == {"checked": {}, "unchecked": {}}  # no endpoint stored
    assert body["archived_keys"] == {"deleted": [], "problems": []}  # none given: none cleaned
    assert body["status"] == "incomplete" and [f["name"] for f in body["failed"]] == ["old"]
    assert [(f["name"], f["kind"]) for f in body["findings"]] == [("bad", "broken"),
                                                                ("old", "expiring")]
    assert report.worth_posting


class RecordingArchive:
    """ArchivedKeys as the watch calls it: what it was asked to clean, and a problem."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str | None], dt.datetime, bool]] = []

    def clean(self, live: Mapping[str, str | None], now: dt.datetime, *,
              dry_run: bool = False) -> Cleanup:
        self.calls.append((dict(live), now, dry_run))
        return Cleanup(deleted=("old/archive/0a/privkey.pem",),
                       problems=(("fresh", "archived key fresh/archive/0b/privkey.pem kept"),))


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_watch_cleans_archives_of_every_name_but_the_broken(dry_run: bool) -> None:
    archive = RecordingArchive()
    queue = RenewalQueue(FakeSqs(), "https://sqs/q.fifo", no_sleep_deadline())
    report = Watch(**parts(queue), archived_keys=archive).run(WatchEvent(dry_run=dry_run))
    [(live, now, dry)] = archive.calls
    # cert.json names each live set; "orphan" has none, so none of its sets is live; "bad"
    # might name any set, so it is left alone.
    assert live == {"fresh": "fresh/archive/", "old": "old/archive/",
                    "orphan": None}
    assert now == NOW and dry is dry_run
    body = report.as_dict()
    assert body["archived_keys"]["deleted"] == ["old/archive/0a/privkey.pem"]
    assert ("fresh", "archive") in [(f["name"], f["kind"]) for f in body["findings"]]


class FakeFleet:
    """The owners' inventories, as FleetInventory.update would leave them (last write wins)."""

    def __init__(self, owners: list[str]):
        self.listed = owners
        self.written: dict[str, dict[str, Any]] = {}

    def owners(self) -> list[str]:
        return self.listed

    def update(self, owner: str, rows: Mapping[str, Any], now: dt.datetime, **how: Any) -> bool:
        self.written[owner] = {"rows": dict(rows), **how}
        return True


def test_each_run_rewrites_every_owners_inventory() -> None:
    fleet = FakeFleet(owners=["gone-team"])
    sqs = FakeSqs()
    Sweep(**parts(RenewalQueue(sqs, "https://sqs/q.fifo", no_sleep_deadline())),
          fleet=fleet).run(SweepEvent())  # type: ignore[arg-type]
    assert set(fleet.written) == {"operators", "gone-team"}
    ours = fleet.written["operators"]
    assert set(ours["rows"]) == {"fresh", "old"} and set(ours["keep"]) == {"fresh", "old"}
    assert ours["owners"] == []  # no team owns any of these
    assert ours["rows"]["old"]["renewal"]["state"] == "queued"
    assert ours["rows"]["fresh"]["renewal"]["state"] == "not due"
    assert "endpoints" not in ours["rows"]["fresh"]  # the watch's to say
    assert fleet.written["gone-team"] == {"rows": {}, "keep": ()}  # emptied, not left stale
    # A dry run writes nothing.
    dry = FakeFleet(owners=[])
    Watch(**parts(None), fleet=dry).run(WatchEvent(dry_run=True))  # type: ignore[arg-type]
    assert dry.written == {}
