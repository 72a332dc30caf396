"""Queueing renewals (SendMessageBatch semantics) and refreshing renewal windows, with fakes."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

from tests.unit.test_sweep import NOW, entry, window
from wildcert.adapters.acme import AcmeError
from wildcert.adapters.bucket.inventory import Entry, needs_refresh, refresh_all, refresh_one
from wildcert.adapters.sqs import Renewal, RenewalQueue
from wildcert.deadline import Deadline
from wildcert.logic import ari
from wildcert.logic.times import iso


def renewal(i: int, reason: str = "due") -> Renewal:
    return Renewal(name=f"c{i}", domains=(f"c{i}.example.com",), key_type="ec256",
                   reason=reason, serial=f"{i:x}")


class FakeSqs:
    """SendMessageBatch: fails the entries `plan` says, once each, then accepts them."""

    def __init__(self, transient: set[str] = frozenset(), sender: set[str] = frozenset()):
        self.calls: list[list[dict[str, Any]]] = []
        self.transient = set(transient)
        self.sender = set(sender)
        self.accepted: list[dict[str, Any]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict:
        assert 1 <= len(Entries) <= 10
        assert len({e["Id"] for e in Entries}) == len(Entries)
        self.calls.append(Entries)
        ok, failed = [], []
        for e in Entries:
            name = json.loads(e["MessageBody"])["name"]
            if name in self.sender:
                failed.append({"Id": e["Id"], "SenderFault": True, "Code": "InvalidParameter",
                               "Message": "bad"})
            elif name in self.transient:
                self.transient.discard(name)
                failed.append({"Id": e["Id"], "SenderFault": False, "Code": "InternalError",
                               "Message": "try again"})
            else:
                ok.append({"Id": e["Id"], "MessageId": f"m-{name}"})
                self.accepted.append(e)
        return {"Successful": ok, "Failed": failed}


def no_sleep_deadline() -> Deadline:
    return Deadline.after(60, sleeper=lambda _s: None)


def test_batches_of_ten_with_reason_attribute() -> None:
    sqs = FakeSqs()
    result = RenewalQueue(sqs, "https://sqs/q", no_sleep_deadline()).send(
        [renewal(i, "ari" if i % 2 else "due") for i in range(23)])
    assert [len(c) for c in sqs.calls] == [10, 10, 3]
    assert result.queued == tuple(f"c{i}" for i in range(23)) and not result.failed
    first = sqs.accepted[1]
    assert first["MessageAttributes"]["reason"] == {"DataType": "String", "StringValue": "ari"}
    assert json.loads(first["MessageBody"]) == {"domains": ["c1.example.com"], "name": "c1",
                                                "key_type": "ec256", "force": True,
                                                "renews": "1"}
    assert "MessageGroupId" not in first


def test_failed_entries_are_retried_alone_and_sender_faults_are_not() -> None:
    sqs = FakeSqs(transient={"c3", "c4"}, sender={"c5"})
    result = RenewalQueue(sqs, "https://sqs/q", no_sleep_deadline()).send(
        [renewal(i) for i in range(7)])
    assert sorted(result.queued) == [f"c{i}" for i in range(7) if i != 5]
    assert result.failed == (("c5", "InvalidParameter: bad"),)
    assert len(sqs.calls) == 2 and sorted(
        json.loads(e["MessageBody"])["name"] for e in sqs.calls[1]) == ["c3", "c4"]


def test_persistent_failure_is_reported_after_bounded_attempts() -> None:
    class Down(FakeSqs):
        def send_message_batch(self, QueueUrl: str, Entries: list) -> dict:
            self.calls.append(Entries)
            return {"Successful": [], "Failed": [
                {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in Entries]}

    sqs = Down()
    result = RenewalQueue(sqs, "https://sqs/q", no_sleep_deadline()).send([renewal(1)])
    assert result.queued == () and result.failed == (("c1", "InternalError"),)
    assert len(sqs.calls) == 4


def test_fifo_queue_deduplicates_by_name_and_serial() -> None:
    sqs = FakeSqs()
    RenewalQueue(sqs, "https://sqs/q.fifo", no_sleep_deadline()).send([renewal(1), renewal(1)])
    a, b = sqs.accepted
    assert a["MessageGroupId"] == "c1"
    assert a["MessageDeduplicationId"] == b["MessageDeduplicationId"]


# -- renewal windows ---------------------------------------------------------------------------


class FakeCertificates:
    def __init__(self, conflict: bool = False, reread: Entry | None = None):
        self.conflict = conflict
        self.reread = reread
        self.written: list[tuple[str, dict]] = []

    def write_renewal_info(self, item: Entry, info: ari.RenewalInfo) -> Entry | None:
        if self.conflict:
            return None
        self.written.append((item.etag, info.as_json()))
        return entry(item.name, ari_block=info.as_json(), ari_id=item.ari_id)

    def read(self, name: str) -> Entry | None:
        return self.reread


def ca_window(start: dt.datetime, end: dt.datetime) -> dict:
    return {"suggestedWindow": {"start": iso(start), "end": iso(end)}}


def test_only_certificates_with_an_ari_id_and_a_passed_check_are_refreshed() -> None:
    stale = window(NOW + dt.timedelta(days=5))
    stale["next_check"] = iso(NOW - dt.timedelta(minutes=1))
    assert needs_refresh(entry("a", ari_id="AA.01", ari_block=stale), NOW)
    assert needs_refresh(entry("b", ari_id="AA.02"), NOW)  # never asked
    assert not needs_refresh(entry("c", ari_id="AA.03", ari_block=window(NOW)), NOW)
    assert not needs_refresh(entry("d"), NOW)  # a CA without ARI ids


def test_refresh_keeps_the_chosen_moment_of_an_unchanged_window() -> None:
    start, end = NOW + dt.timedelta(days=50), NOW + dt.timedelta(days=52)
    previous = ari.parse(ca_window(start, end), retry_after_seconds=60, now=NOW,
                         rng=random.Random(1)).as_json()
    previous["next_check"] = iso(NOW - dt.timedelta(hours=1))
    item = entry("a", ari_id="AA.01", ari_block=previous)
    certificates = FakeCertificates()
    result = refresh_one(item, lambda _id: (ca_window(start, end), 3600.0), certificates, NOW)
    assert result.refreshed and result.problem is None
    assert result.entry.renewal_info.selected == item.renewal_info.selected
    assert result.entry.renewal_info.next_check == NOW + dt.timedelta(hours=1)
    assert certificates.written[0][0] == '"etag"'  # written on the condition of the ETag read


def test_refresh_conflict_keeps_the_newer_cert_json() -> None:
    newer = entry("a", serial="beef", ari_id="AA.02")
    result = refresh_one(entry("a", ari_id="AA.01"),
                         lambda _id: (ca_window(NOW, NOW + dt.timedelta(days=1)), None),
                         FakeCertificates(conflict=True, reread=newer), NOW)
    assert result.entry is newer and not result.refreshed


def test_ca_problems_keep_the_old_window_and_are_reported() -> None:
    def down(_id: str) -> tuple[dict, float | None]:
        raise AcmeError("fetching renewal information failed: HTTP 404", code="notFound")

    bad_window = lambda _id: ({"suggestedWindow": {"start": "2027-01-02T00:00:00Z",  # noqa: E731
                                                   "end": "2027-01-01T00:00:00Z"}}, None)
    old = window(NOW + dt.timedelta(days=3))
    items = [entry("a", ari_id="AA.01"), entry("b", ari_id="AA.02", ari_block=old)]
    results = refresh_all(items, down, FakeCertificates(), NOW, everything=True)
    assert [r.problem is not None for r in results] == [True, True]
    assert results[1].entry.renewal_info == items[1].renewal_info
    (result,) = refresh_all(items[:1], bad_window, FakeCertificates(), NOW)
    assert "before it starts" in (result.problem or "")
