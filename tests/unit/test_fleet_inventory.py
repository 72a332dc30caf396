"""The fleet inventory: rows merged field by field, written with conditional writes so that
concurrent writers never lose each other's changes, and printed by `wildcert-pull inventory`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tests.unit.test_bucket_objects import NAME, s3
from wildcert.adapters.bucket.fleet import FleetInventory
from wildcert.adapters.bucket.objects import Bucket
from wildcert.logic import fleet
from wildcert_pull import inventory

__all__ = ["s3"]  # the fixture: moto's S3 in this process

NOW = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
KEY = "arn:aws:kms:us-east-1:123456789012:key/test"


def row(name: str, not_after: str = "2027-01-06T03:00:00Z") -> fleet.Row:
    return {"name": name, "team": "alpha", "domains": [f"{name}.example.com"],
            "ca": "production", "serial": "0a", "not_after": not_after}


def test_a_change_keeps_the_fields_it_does_not_name() -> None:
    first = fleet.merged(None, "alpha", {"alpha.web": {
        **row("alpha.web"), "renewal": fleet.state("queued", NOW)}}, NOW)
    later = NOW + dt.timedelta(hours=1)
    second = fleet.merged(first, "alpha", {"alpha.web": fleet.outcome("renewed", later)}, later)
    web = second["certificates"]["alpha.web"]
    assert web["renewal"]["state"] == "queued" and web["serial"] == "0a"
    assert web["last_outcome"] == {"status": "renewed", "at": "2026-12-07T04:00:00Z",
                                   "stage": None, "reason": None}


def test_only_known_rows_take_an_outcome_and_keep_drops_the_gone() -> None:
    doc = fleet.merged(None, "alpha", {"alpha.web": row("alpha.web"),
                                       "alpha.old": row("alpha.old")}, NOW)
    refused = fleet.merged(doc, "alpha", {"alpha.new": fleet.outcome("rejected", NOW)}, NOW,
                           only_known=True)
    assert set(refused["certificates"]) == {"alpha.web", "alpha.old"}
    swept = fleet.merged(refused, "alpha", {"alpha.web": row("alpha.web")}, NOW,
                         keep=["alpha.web"])
    assert set(swept["certificates"]) == {"alpha.web"}
    listed = fleet.merged(None, fleet.OPERATORS, {}, NOW, owners=["beta", "alpha"])
    assert listed["owners"] == ["alpha", "beta"]
    assert fleet.merged(listed, fleet.OPERATORS, {}, NOW)["owners"] == ["alpha", "beta"]


def test_the_soonest_expiry_in_days() -> None:
    rows = [row("a", "2026-12-17T03:00:00Z"), row("b", "2026-12-09T15:00:00Z"), {"name": "c"}]
    assert fleet.soonest_days_left(rows, NOW) == pytest.approx(2.5)
    assert fleet.soonest_days_left([], NOW) is None


@pytest.fixture
def bucket(s3: Any) -> Bucket:
    return Bucket(s3, NAME, KEY)


class Racing(Bucket):
    """A bucket where another writer's update lands between this writer's read and write."""

    def __init__(self, real: Bucket, other: FleetInventory, times: int) -> None:
        super().__init__(real.s3, real.name, real.kms_key_id)
        self.other = other
        self.times = times
        self.writes = 0

    def put(self, key: str, body: bytes, **kwargs: Any) -> str:
        self.writes += 1
        if self.times:
            self.times -= 1
            assert self.other.update("alpha", {f"alpha.other{self.times}": row("x")}, NOW)
        return super().put(key, body, **kwargs)


@pytest.mark.parametrize("races", [1, 3])
def test_concurrent_writers_never_lose_each_others_rows(bucket: Bucket, races: int) -> None:
    assert FleetInventory(bucket).update("alpha", {"alpha.first": row("alpha.first")}, NOW)
    racing = Racing(bucket, FleetInventory(bucket), times=races)
    mine = FleetInventory(racing, sleep=lambda seconds: None)
    assert mine.update("alpha", {"alpha.mine": row("alpha.mine")}, NOW)
    listed = FleetInventory(bucket).read("alpha")
    assert listed is not None
    assert set(listed["certificates"]) == {
        "alpha.first", "alpha.mine", *(f"alpha.other{i}" for i in range(races))}
    assert racing.writes == races + 1  # each lost race read again and wrote again
    # The first write of an owner races too: only one of two creators wins, the other merges.
    racing = Racing(bucket, FleetInventory(bucket), times=1)
    assert FleetInventory(racing, sleep=lambda s: None).update("beta", {"beta.a": row("b")}, NOW)
    beta = FleetInventory(bucket).read("beta")
    alpha = FleetInventory(bucket).read("alpha")
    assert beta is not None and alpha is not None and set(beta["certificates"]) == {"beta.a"}


def test_the_object_is_where_the_teams_readers_may_read() -> None:
    # DenyTeamPrincipalsOtherPrefixes lets a team's role read <team>.* only.
    assert fleet.key_of("alpha") == "alpha._inventory.json"
    assert fleet.key_of("alpha").startswith("alpha.") and "/" not in fleet.key_of("alpha")


def test_the_command_prints_a_table_soonest_first() -> None:
    rows = [{**row("alpha.late", "2027-03-01T00:00:00Z"), "days_left": 83.9,
             "renewal": {"state": "not due"}, "last_outcome": {"status": "issued"},
             "endpoints": {"state": "ok"}},
            {**row("alpha.soon"), "days_left": 3.0, "last_outcome": {
                "status": "failed", "stage": "dns"}, "team": None}]
    text = inventory.table(rows)
    lines = text.splitlines()
    assert lines[0].split() == list(inventory.COLUMNS)
    assert lines[1].split()[:2] == ["alpha.late", "alpha"]
    assert "not due" in lines[1] and "issued" in lines[1] and "ok" in lines[1]
    assert "failed (dns)" in lines[2] and "operators" in lines[2]


def test_the_command_reads_one_team_or_every_owner(
        bucket: Bucket, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = FleetInventory(bucket)
    future = "2099-01-01T00:00:00Z"
    store.update("alpha", {"alpha.web": row("alpha.web", future)}, NOW)
    store.update("beta", {"beta.api": {**row("beta.api", future), "team": "beta"}}, NOW)
    store.update(fleet.OPERATORS, {"legacy": {**row("legacy", future), "team": None}}, NOW,
                 owners=["alpha", "beta"])
    monkeypatch.setattr(inventory.bucket, "s3_client", lambda region, url: bucket.s3)
    assert inventory.main(["--bucket", NAME, "--team", "alpha"]) == 0
    out = capsys.readouterr().out
    assert "alpha.web" in out and "beta.api" not in out
    assert inventory.main(["--bucket", NAME, "--all", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["certificates"]
    assert sorted(r["name"] for r in listed) == ["alpha.web", "beta.api", "legacy"]
    assert all(r["days_left"] > 26000 for r in listed)
    assert inventory.main(["--bucket", NAME, "--team", "gamma"]) == 3
    assert "does not exist yet" in capsys.readouterr().err
